"""Writes history as fast as it can and reports each flushed count; killed -9 by the test."""

from __future__ import annotations

import sys
import time

from netwatch.history import HistoryStore
from netwatch.models import Status, Transition


def main(path: str) -> None:
    store = HistoryStore.open(path, heartbeat_seconds=0.2, batch_seconds=0.05)
    store.agent_started(time.time())
    n = 0
    while True:
        now = time.time()
        store.record(
            Transition(f"d{n + i}", "device", Status.UNKNOWN, Status.UP, now) for i in range(500)
        )
        n += 500
        if store.flush():
            sys.stdout.write(f"{n} {time.time()}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
