"""A small in-memory record of recent ICMP results per device, for the device page's sparkline,
and the previous SNMP sample per device, so interface traffic can be shown as a rate.

The status page must work without Prometheus or Grafana, so it keeps its own short memory:
one point per minute (samples in the same minute are merged), ``MINUTES`` minutes per device, in
a fixed ``array`` per device (about 8 KB each, so 5,000 devices cost about 40 MB at most).

It is fed by :meth:`Recent.sync`, which reads the latest samples from the state tracker and is
cheap to call often (the web app calls it every few seconds), or directly by :meth:`Recent.record`
after each ICMP sample.

>>> from netwatch.models import IcmpStats, Sample
>>> r = Recent()
>>> r.record(Sample("r1", "icmp", 120.0, 0.1, data=IcmpStats(4, (0.010, 0.012, 0.014))))
>>> [(p.at, round(p.rtt * 1000), p.loss) for p in r.icmp("r1")]
[(120.0, 12, 0.25)]
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from netwatch.models import IcmpStats, Sample
from netwatch.probes.snmp_data import Interface, SnmpData
from netwatch.state import StateTracker

MINUTES = 240  # four hours of one point per minute
_FIELDS = 4  # minute start, RTT sum, loss sum, samples merged


@dataclass(frozen=True, slots=True)
class Point:
    """One minute of ICMP results: mean RTT of the replies (NaN when none) and mean loss."""

    at: float
    rtt: float
    loss: float


class _Ring:
    """A fixed-size ring of minutes; the newest minute can still be merged into."""

    __slots__ = ("count", "data", "pos")

    def __init__(self, size: int) -> None:
        self.data = array("d", [0.0]) * (size * _FIELDS)
        self.pos = 0  # index of the next slot to write
        self.count = 0

    @property
    def size(self) -> int:
        return len(self.data) // _FIELDS

    def add(self, minute: float, rtt: float, loss: float) -> None:
        if self.count:
            last = (self.pos - 1) % self.size * _FIELDS
            if self.data[last] == minute:
                if not math.isnan(rtt):
                    merged = self.data[last + 1]
                    # The RTT sum counts only samples with replies; keep NaN out of it.
                    self.data[last + 1] = rtt if math.isnan(merged) else merged + rtt
                self.data[last + 2] += loss
                self.data[last + 3] += 1
                return
            if self.data[last] > minute:
                return  # late sample for a minute already closed: drop it
        i = self.pos * _FIELDS
        self.data[i : i + _FIELDS] = array("d", (minute, rtt, loss, 1.0))
        self.pos = (self.pos + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def points(self) -> list[Point]:
        out: list[Point] = []
        start = (self.pos - self.count) % self.size
        for k in range(self.count):
            i = (start + k) % self.size * _FIELDS
            minute, rtt_sum, loss_sum, n = self.data[i : i + _FIELDS]
            out.append(Point(minute, rtt_sum / n, loss_sum / n))
        return out


class Recent:
    """Recent ICMP points and the last two SNMP samples of every device.

    Averaging RTTs across samples in a minute is approximate (each sample's mean counts once),
    which is what a sparkline needs.
    """

    def __init__(self, minutes: int = MINUTES) -> None:
        self._minutes = minutes
        self._icmp: dict[str, _Ring] = {}
        self._icmp_at: dict[str, float] = {}
        self._snmp: dict[str, tuple[Sample[SnmpData], Sample[SnmpData] | None]] = {}

    def record(self, sample: Sample[object]) -> None:
        """Add one ICMP sample (other checks are ignored); the same sample twice counts once."""
        data = sample.data
        if sample.check != "icmp" or not isinstance(data, IcmpStats):
            return
        if self._icmp_at.get(sample.device, -math.inf) >= sample.at:
            return
        self._icmp_at[sample.device] = sample.at
        ring = self._icmp.get(sample.device)
        if ring is None:
            ring = self._icmp[sample.device] = _Ring(self._minutes)
        rtt = data.rtt_avg if data.rtts else math.nan
        ring.add(sample.at // 60 * 60, rtt, data.loss)

    def record_snmp(self, sample: Sample[SnmpData]) -> None:
        """Keep the latest good SNMP sample and the one before it (for traffic rates)."""
        current = self._snmp.get(sample.device)
        if current is None:
            self._snmp[sample.device] = (sample, None)
        elif sample.at > current[0].at:
            self._snmp[sample.device] = (sample, current[0])

    def sync(self, state: StateTracker) -> None:
        """Pick up the latest samples from the state tracker (idempotent)."""
        for device_id, dev in state.devices.items():
            icmp = dev.checks.get("icmp")
            if icmp is not None and icmp.last is not None:
                self.record(icmp.last)
            snmp = dev.checks.get("snmp")
            if snmp is not None and snmp.last_ok is not None:
                last = snmp.last_ok
                if isinstance(last.data, SnmpData):
                    self.record_snmp(
                        Sample(device_id, last.check, last.at, last.duration, None, last.data)
                    )

    def forget(self, keep: Iterable[str]) -> None:
        """Drop devices no longer in the inventory (after a reload)."""
        wanted = set(keep)
        for store in (self._icmp, self._icmp_at, self._snmp):
            for device_id in [d for d in store if d not in wanted]:
                del store[device_id]

    def icmp(self, device_id: str) -> list[Point]:
        ring = self._icmp.get(device_id)
        return ring.points() if ring is not None else []

    def rates(self, device_id: str) -> dict[int, tuple[float | None, float | None]]:
        """Interface index -> (receive, transmit) bits per second over the last two samples.

        ``None`` when there is one sample only, a counter is missing, or it went backwards
        (a reboot or a 32-bit wrap: better no number than a wrong one).
        """
        pair = self._snmp.get(device_id)
        if pair is None:
            return {}
        now, before = pair
        if before is None or now.data is None or before.data is None:
            return {}
        dt = now.at - before.at
        old = {i.index: i for i in before.data.interfaces or ()}
        out: dict[int, tuple[float | None, float | None]] = {}
        for iface in now.data.interfaces or ():
            prev = old.get(iface.index)
            out[iface.index] = (
                _rate(iface, prev, "in_octets", dt),
                _rate(iface, prev, "out_octets", dt),
            )
        return out


def _rate(now: Interface, before: Interface | None, attr: str, dt: float) -> float | None:
    if before is None or dt <= 0:
        return None
    a, b = getattr(before, attr), getattr(now, attr)
    if a is None or b is None or b < a:
        return None
    return float(b - a) * 8.0 / dt
