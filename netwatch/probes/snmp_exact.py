"""Exact interface values from what real agents send: slow links' speed, missing names, text.

Kept apart from the SNMP poller so the rules are unit-tested on their own:

- ``ifHighSpeed`` is in whole Mb/s, rounded (RFC 2863): an E1 (1.984 Mb/s) says 2, a
  512 kb/s line says 0 or 1. Below :data:`SLOW_MBPS` the exact ``ifSpeed`` (bit/s) is used,
  unless it is saturated (4,294,967,295: 4.29 Gb/s and faster).
- An empty ``ifName`` falls back to ``ifDescr`` (some agents fill only one of them).

>>> exact_speed(2, 1_984_000)
1984000
>>> exact_speed(1000, 1_000_000_000), exact_speed(0, None), exact_speed(None, 64000)
(1000000000, 0, 64000)
"""

from __future__ import annotations

from typing import Final

SLOW_MBPS: Final = 10  # below this, ifHighSpeed's rounding is off by 5 % or more
IF_SPEED_SATURATED: Final = 4_294_967_295


def needs_if_speed(high_speed: int | None) -> bool:
    """Whether an interface's ``ifSpeed`` is worth reading for its exact speed."""
    return high_speed is None or high_speed < SLOW_MBPS


def exact_speed(high_speed: int | None, if_speed: int | None) -> int | None:
    """The interface speed in bit/s from ``ifHighSpeed`` (Mb/s) and ``ifSpeed`` (bit/s)."""
    if if_speed is not None and if_speed < IF_SPEED_SATURATED and needs_if_speed(high_speed):
        return if_speed
    if high_speed:
        return high_speed * 1_000_000
    if if_speed is not None:
        return if_speed
    return 0 if high_speed == 0 else None
