"""Runs netwatch's ICMP prober and prints what it reported, as JSON; started by test_icmp.py
inside a network namespace (``Netns.argv``), where the test process itself cannot go.

    python icmp_child.py '{"mode": "dgram", "count": 3, "timeout": 0.5, "spacing": 0.05,
                           "pings": [["127.0.0.5", 20]]}'     # address, rounds

prints one object per round: {"address", "mode", "sent", "received", "failure" (a kind or null),
"detail", "duration" (seconds), "rejected" (replies the prober ignored, in all, because they came
from another address than the one pinged)}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from netwatch.models import IcmpSettings
from netwatch.probes.icmp import IcmpProber, detect_icmp_mode


async def main(spec: dict[str, object]) -> list[dict[str, object]]:
    mode = spec.get("mode") or detect_icmp_mode()
    assert mode in ("raw", "dgram")
    settings = IcmpSettings(
        count=int(spec["count"]),  # type: ignore[call-overload]
        timeout=float(spec["timeout"]),  # type: ignore[arg-type]
        spacing=float(spec["spacing"]),  # type: ignore[arg-type]
    )
    prober = IcmpProber(mode)
    pings = [(str(a), int(n)) for a, n in spec["pings"]]  # type: ignore[attr-defined]
    try:
        samples = await asyncio.gather(
            *[prober.ping(a, a, settings) for a, rounds in pings for _ in range(rounds)]
        )
    finally:
        await prober.close()
    return [
        {
            "address": s.device,
            "mode": mode,
            "sent": s.data.sent if s.data else 0,
            "received": s.data.received if s.data else 0,
            "failure": s.failure.kind.value if s.failure else None,
            "detail": s.failure.detail if s.failure else None,
            "duration": s.duration,
            "rejected": prober.rejected,
        }
        for s in samples
    ]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
