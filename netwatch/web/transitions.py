"""Transitions as the device page and the API show them (``netwatch.history.transitions``
reads them).

>>> await device_transitions(backend, "core-rtr", "Asia/Ho_Chi_Minh")  # doctest: +SKIP
[{'at': '2026-12-01T07:00:00+07:00', 'status': 'down', 'cause': 'icmp timeout'}]
"""

from __future__ import annotations

import asyncio
from typing import Any

from netwatch.history import transitions
from netwatch.web import views
from netwatch.web.backend import Backend

RECENT_LIMIT = 20  # transitions on the device page and in GET /api/v1/devices/{id}


def transition_json(row: tuple[Any, ...], tz: str) -> dict[str, Any]:
    """``(at, status, cause[, unit])`` as JSON; the unit (of a merged site) as ``subject``."""
    out = {"at": views.iso(row[0], tz), "status": row[1], "cause": row[2]}
    if len(row) > 3:
        out["subject"] = row[3]
    return out


async def device_transitions(backend: Backend, device_id: str, tz: str) -> list[dict[str, Any]]:
    """The device's last transitions, newest first; ``[]`` without (readable) history."""
    store = backend.history
    if store is None:
        return []
    rows = await asyncio.to_thread(transitions.latest_of, store, "device", device_id, RECENT_LIMIT)
    return [transition_json(row, tz) for row in rows]
