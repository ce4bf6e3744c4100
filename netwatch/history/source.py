"""Where a report reads its history from: the store, a database file, or an open connection.

A planner runs ``netwatch report`` under their own account, often not the agent's: a database
that account cannot read (the file, its directory, its write-ahead log) or a wrong
``agent.data_dir`` is said in one line naming the file and what to check, where SQLite would
only say "unable to open database file". A path is opened read-only and closed after the
query; a connection given is used as it is.

Blocking (SQLite): call from a thread, never on the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from netwatch.errors import HistoryError
from netwatch.history import reader, schema
from netwatch.history.store import HistoryStore

Source = HistoryStore | str | Path | sqlite3.Connection


def _connection(source: Source) -> tuple[sqlite3.Connection, bool]:
    if isinstance(source, sqlite3.Connection):
        return source, False
    path = source.path if isinstance(source, HistoryStore) else Path(source)
    _check_readable(path)
    try:
        return schema.connect(path, readonly=True), True
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot read history database {path}: {exc}") from exc


def _check_readable(path: Path) -> None:
    """One clear line for a planner whose account cannot read the history (its file, or the
    directory it is in), or who points at a wrong data_dir; SQLite would only say "unable to
    open database file"."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise HistoryError(
            f"cannot read {path}: no such file (is agent.data_dir right? has netwatch run?)"
        ) from None
    except PermissionError:
        raise HistoryError(
            f"cannot read {path}: permission denied; run as the netwatch user or add "
            "yourself to its group"
        ) from None
    except IsADirectoryError:
        raise HistoryError(f"cannot read {path}: it is a directory, not a database") from None
    except OSError as exc:
        raise HistoryError(f"cannot read {path}: {exc.strerror}") from exc


def stats_for(
    source: Source, start: float, end: float, keep: Callable[[reader.Key], bool]
) -> dict[reader.Key, reader.SubjectResult]:
    """Every subject's stats over ``[start, end)``, with the timelines of those ``keep``
    accepts; an unreadable database raises ``HistoryError`` saying which file and why."""
    conn, owned = _connection(source)
    try:
        return reader.period_stats(conn, start, end, keep_segments=keep)
    except sqlite3.Error as exc:
        if owned:  # e.g. its write-ahead log is not readable by this account
            for part in ("", "-wal", "-shm"):
                wal = Path(f"{_path_of(source)}{part}")
                if part == "" or wal.exists():
                    _check_readable(wal)
        raise HistoryError(f"cannot read the history database: {exc}") from exc
    finally:
        if owned:
            conn.close()


def _path_of(source: Source) -> Path:
    return source.path if isinstance(source, HistoryStore) else Path(str(source))
