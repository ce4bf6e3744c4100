"""The exact-value rules: slow links' speed from ifSpeed, and Vietnamese Windows text."""

from __future__ import annotations

import pytest

from netwatch.probes.health import decode_text
from netwatch.probes.snmp_exact import exact_speed


@pytest.mark.parametrize(
    ("high", "low", "expected"),
    [
        (2, 1_984_000, 1_984_000),  # E1: ifHighSpeed rounds to 2
        (0, 512_000, 512_000),  # under 1 Mb/s: ifHighSpeed is 0
        (1000, 1_000_000_000, 1_000_000_000),
        (10_000, 4_294_967_295, 10_000_000_000),  # ifSpeed saturated: ifHighSpeed
        (100, None, 100_000_000),
        (0, None, 0),
        (None, 64_000, 64_000),  # no ifXTable
        (None, None, None),
    ],
)
def test_exact_speed(high: int | None, low: int | None, expected: int | None) -> None:
    """The speed in bit/s from ifHighSpeed and ifSpeed."""
    assert exact_speed(high, low) == expected


def test_text_utf8_cp1258_and_nul_padding() -> None:
    """UTF-8 as is; not UTF-8: Windows-1258 composed to NFC; NUL padding dropped."""
    assert decode_text("Cần Thơ".encode()) == "Cần Thơ"
    assert decode_text(bytes.fromhex("f0fdf5cc6e67")) == "đường"
    assert decode_text(b"lo\x00\x00\x00") == "lo"
    assert decode_text(bytes([0x80, 0xFF])) == "€ÿ"  # every byte kept
