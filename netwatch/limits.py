"""The open-file limit, raised and reported at startup.

Every probe socket, HTTP connection, SQLite file and state save takes a file descriptor. At
systemd's default soft limit (1,024) a burst of HTTP connections left none for the probes, and
healthy services were alerted down with "Too many open files". The unit sets ``LimitNOFILE``;
this raises the soft limit to the hard one when started some other way, and says when it is low.

>>> soft, hard = raise_open_file_limit()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

LOW_OPEN_FILES = 4096  # below this, warn: a province's probes and clients need more


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; log and return both (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        # Linux refuses an infinite soft limit for files; the kernel's maximum then stands in.
        target = hard if hard != resource.RLIM_INFINITY else _nr_open(soft)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError) as exc:
                log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            else:
                log.info("raised the open-file limit from %d to %d", soft, target)
                soft = target
    shown_hard = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    log.info("open-file limit: soft %d, hard %s", soft, shown_hard)
    if soft < LOW_OPEN_FILES:
        log.warning(
            "the open-file limit is low (%d): probes, HTTP clients and state saves share it;"
            " raise it (LimitNOFILE=65536 in the systemd unit, or ulimit -n)",
            soft,
        )
    return soft, hard


def _nr_open(fallback: int) -> int:
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return fallback
