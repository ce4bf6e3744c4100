"""Placeholder replaced by the real command line below."""


def main() -> int:
    return 0
