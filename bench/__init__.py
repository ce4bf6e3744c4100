"""Benchmarks: plain scripts, also importable (``python -m bench.icmp``)."""
