"""The history database's schema and its migrations, and how a connection is opened.

The schema version is SQLite's ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes version ``i`` to
``i + 1``. A migration is only ever appended, never edited once released. All times are UTC epoch
seconds (REAL); local days appear only as the ``day`` text of the daily summaries.

Subjects are stored by their config id (``kind``, ``subject``), never by name or position in the
site tree, so renaming a site or moving it under another parent keeps its whole history; names and
the tree come from the current inventory when a report is built.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from netwatch.errors import HistoryError

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    -- One row per agent run: [started, last_seen] is the time the agent was watching. last_seen
    -- is a heartbeat, so after kill -9 the time since the last heartbeat is unknown.
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        last_seen REAL NOT NULL,
        stopped REAL,
        crashed INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE TABLE subjects (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (kind, id)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        at REAL NOT NULL,
        status TEXT NOT NULL,
        cause TEXT
    ) STRICT;
    CREATE INDEX transitions_by_subject ON transitions (kind, subject, at);
    CREATE INDEX transitions_by_time ON transitions (at);
    CREATE TABLE reboots (device TEXT NOT NULL, at REAL NOT NULL) STRICT;
    CREATE INDEX reboots_by_time ON reboots (at);
    CREATE TABLE daily (
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        day TEXT NOT NULL,
        start REAL NOT NULL,
        length REAL NOT NULL,
        up REAL NOT NULL,
        down REAL NOT NULL,
        unreachable REAL NOT NULL,
        maintenance REAL NOT NULL,
        unknown REAL NOT NULL,
        outages INTEGER NOT NULL,
        outage_seconds REAL NOT NULL,
        longest_outage REAL NOT NULL,
        open_start REAL NOT NULL,
        open_end REAL NOT NULL,
        reboots INTEGER NOT NULL,
        PRIMARY KEY (kind, subject, start)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX daily_by_start ON daily (start);
    """,
)
LATEST = len(MIGRATIONS)

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF).
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


def is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL settings applied."""
    if readonly:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.isolation_level = None
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def verify(path: Path) -> None:
    """Refuse a file that is not a healthy SQLite database; never change it.

    Raises :class:`HistoryError` naming the path for corruption or a schema newer than this
    netwatch. Other errors (permissions, disk) are left to the caller, which keeps polling.
    """
    if path.is_dir():
        raise HistoryError(f"history database {path} is a directory; expected a SQLite file")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error:
        return  # cannot open at all (permissions): the writer reports it and retries
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            raise HistoryError(
                f"history database {path} is corrupt ({exc}); netwatch will not overwrite it. "
                "Move it aside (or restore a backup) and start again."
            ) from exc
        return
    finally:
        conn.close()
    if [r[0] for r in rows] != ["ok"]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise HistoryError(
            f"history database {path} is corrupt ({detail}); netwatch will not overwrite it. "
            "Move it aside (or restore a backup) and start again."
        )
    if version > LATEST:
        raise HistoryError(
            f"history database {path} has schema version {version}, newer than this netwatch "
            f"understands ({LATEST}); upgrade netwatch or use another data_dir"
        )


def prepare(conn: sqlite3.Connection) -> None:
    """Switch to WAL and apply every pending migration, each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        # Must be set before the first table exists; lets retention give pages back in small
        # steps (incremental_vacuum) instead of a VACUUM that rewrites the whole file.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit survives a power cut, not only kill -9; commits are batched, so it is cheap.
    conn.execute("PRAGMA synchronous = FULL")
    for target in range(version + 1, LATEST + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
