"""Uptime history: the SQLite store, availability maths and planners' reports.

- ``store``: :class:`HistoryStore`, the file and its writer thread (the only writer);
  ``writer``: what that thread does (batches, runs, heartbeats, retries, maintenance).
- ``schema``: tables and migrations; ``retention``: daily summaries, purge, vacuum.
- ``availability``: pure maths over status timelines; ``reader``: period queries.
- ``report``: rows by device, site or level, read through ``source`` (a store, a file or a
  connection, with one clear line when it cannot be read), merged sites counting their former
  units (``merged``); ``formats``: table, csv, json, html.
"""

from netwatch.history.availability import Stats
from netwatch.history.formats import FORMATS, render
from netwatch.history.report import (
    Report,
    Row,
    build_report,
    month_period,
    parse_date,
    report_period,
    site_availability,
)
from netwatch.history.store import HistoryStore

__all__ = [
    "FORMATS",
    "HistoryStore",
    "Report",
    "Row",
    "Stats",
    "build_report",
    "month_period",
    "parse_date",
    "render",
    "report_period",
    "site_availability",
]
