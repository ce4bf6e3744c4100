"""Merged sites in reports: a site that took over from former units counts their history.

When units merge (communes after the 2025 reform), the new site lists them in ``formerly``
with ``merged_at``: over a period that spans the merge, the site's figures are its former
units' history up to the merge and its own after it. See :func:`former_units`.

Blocking (SQLite): call from a thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netwatch.history import reader
from netwatch.history.availability import Segment, Stats
from netwatch.history.source import Source, stats_for
from netwatch.models import Site


@dataclass(slots=True)
class Merge:
    """A merged site over a period: its former units up to the merge, then itself."""

    until: float  # the merge instant (Site.merged_at)
    units: tuple[str, ...] = ()  # the former units with history before the merge in the period
    stats: Stats = field(default_factory=Stats)
    segments: list[Segment] = field(default_factory=list)


def former_units(
    source: Source, sites: Mapping[str, Site], want: set[reader.Key], t0: float, t1: float
) -> dict[str, Merge]:
    """Each site with ``formerly`` and ``merged_at``, as the sum of its former units' history
    over ``[t0, merged_at)`` and its own over ``[merged_at, t1)``, clipped to the period.

    The cut matters both ways: a unit removed by a reload is never closed in the history, so
    its last status would run on; and a new site's first record takes its devices' state, from
    before the site existed. A site that kept the id of one of its units lists that id too.
    """
    merged = {sid: site for sid, site in sites.items() if site.formerly and site.merged_at}
    out: dict[str, Merge] = {}
    before: dict[float, list[str]] = {}
    after: dict[float, list[str]] = {}
    for sid, site in merged.items():
        assert site.merged_at is not None
        out[sid] = Merge(site.merged_at)
        cut = min(max(site.merged_at, t0), t1)
        if cut > t0:
            before.setdefault(cut, []).append(sid)
        if cut < t1:
            after.setdefault(cut, []).append(sid)
    for cut, sids in before.items():
        keep = {("site", u) for sid in sids if ("site", sid) in want for u in sites[sid].formerly}
        results = stats_for(source, t0, cut, keep.__contains__)
        for sid in sids:
            merge = out[sid]
            merge.units = tuple(u for u in sites[sid].formerly if ("site", u) in results)
            for unit in merge.units:
                merge.stats += results[("site", unit)].stats
                merge.segments.extend(results[("site", unit)].segments)
    for cut, sids in after.items():
        keep = {("site", sid) for sid in sids} & want
        results = stats_for(source, cut, t1, keep.__contains__)
        for sid in sids:
            res = results.get(("site", sid))
            merge = out[sid]
            merge.stats += res.stats if res is not None else Stats(unknown=t1 - cut)
            merge.segments.extend(res.segments if res is not None else [])
    return out
