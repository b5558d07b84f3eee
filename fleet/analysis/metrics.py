"""Per-run metrics of a results folder, from its samples (see RUN_METRICS).

Phases, per (run, host, guest), from its ``balloon_pages`` series with peak
``P = max(balloon_pages)``:
    ``inflated`` = samples with ``balloon_pages >= 0.5 * P`` (empty if P = 0);
    ``returned`` = samples after the guest's last ``inflated`` sample with
    ``balloon_pages <= 0.1 * P``.

Per-run metrics (``RUN_METRICS``):
    ``free_2mib_per_gib_*``: free 2 MiB blocks (``free_2mib_blocks``) per GiB
    of the guest's memory (``memory_bytes``). Per guest: ``mean`` over all its
    samples, ``end`` at its last sample, ``inflated`` / ``returned`` the mean
    over the samples of that phase (NaN if the phase is empty). Per run: the
    mean over guests (over guests with a non-empty phase for the phases; NaN
    if none has one).

    ``thp_fault_success_pct``: ``100 * thp_fault_alloc / (thp_fault_alloc +
    thp_fault_fallback)``, the cumulative counters at each guest's last sample
    summed over guests (NaN if there was no THP fault).

    ``highalloc_pass<i>_success_pct``: stress-highalloc success of pass i.
    Per guest, the last value of every workload metric key ending in
    ``pass<i>_success_pct`` (plain, or prefixed as in composites:
    ``highalloc.pass1_success_pct``; several such keys in one guest are
    averaged); NaN values (a pass that made no attempt yet) are skipped. Per
    run: the mean over the guests that have it. Columns exist for the passes
    found in any run.

    ``balloon_migrate``, ``pgmigrate_success`` (total pages migrated, balloon
    pages included), ``host_thp_split_pmd`` (host huge pages split): the
    cumulative counters at each guest's last sample, summed over guests.

    ``host_reclaimed_mib``: host memory reclaimed by the balloons, the mean
    over sample times of the sum over all guests of ``balloon_pages * 4096``
    bytes, in MiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..memory.constants import PAGE_SIZE
from ..units import GIB, MIB

if TYPE_CHECKING:
    from .load import Results

NAN = float("nan")

# (name, label) of the fixed per-run metrics; highalloc passes are inserted
# after thp_fault_success_pct.
RUN_METRICS: tuple[tuple[str, str], ...] = (
    ("free_2mib_per_gib_mean", "free 2MiB blocks/GiB, mean"),
    ("free_2mib_per_gib_end", "free 2MiB blocks/GiB, end"),
    ("free_2mib_per_gib_inflated", "free 2MiB blocks/GiB, inflated"),
    ("free_2mib_per_gib_returned", "free 2MiB blocks/GiB, returned"),
    ("thp_fault_success_pct", "THP fault success %"),
    ("balloon_migrate", "balloon_migrate (pages)"),
    ("pgmigrate_success", "pages migrated (pgmigrate_success)"),
    ("host_thp_split_pmd", "host huge pages split"),
    ("host_reclaimed_mib", "host memory reclaimed, MiB (mean)"),
)
_HIGHALLOC_AFTER = "thp_fault_success_pct"
_PASS_RE = r"(^|\.)pass[0-9]+_success_pct$"


def isnan(v: Any) -> bool:
    """None or a float NaN: an undefined value."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def nan_mean(values: Iterable[Any]) -> float:
    """The mean of the defined values (NaN if none)."""
    vals = [float(v) for v in values if not isnan(v)]
    return sum(vals) / len(vals) if vals else NAN


_GUEST_SQL = """
with s as (
    select experiment, run, host, guest, time_s, balloon_pages,
           free_2mib_blocks / (memory_bytes / {gib}.0) as per_gib,
           thp_fault_alloc, thp_fault_fallback, balloon_migrate, pgmigrate_success,
           host_thp_split_pmd,
           max(balloon_pages) over g as peak
    from samples
    window g as (partition by experiment, run, host, guest)
), p as (
    select *, peak > 0 and balloon_pages >= 0.5 * peak as inflated from s
), q as (
    select *, max(case when inflated then time_s end)
                  over (partition by experiment, run, host, guest) as last_inflated
    from p
)
select experiment, run, host, guest,
       avg(per_gib),
       arg_max(per_gib, time_s),
       avg(per_gib) filter (where inflated),
       avg(per_gib) filter (where time_s > last_inflated and balloon_pages <= 0.1 * peak),
       arg_max(thp_fault_alloc, time_s),
       arg_max(thp_fault_fallback, time_s),
       arg_max(balloon_migrate, time_s),
       arg_max(pgmigrate_success, time_s),
       arg_max(host_thp_split_pmd, time_s)
from q
group by experiment, run, host, guest
"""

_RECLAIMED_SQL = """
select experiment, run, avg(total) from (
    select experiment, run, time_s, sum(balloon_pages) * {page}.0 as total
    from samples group by experiment, run, time_s
) group by experiment, run
"""

_HIGHALLOC_SQL = """
with kv as (
    select experiment, run, host, guest, time_s,
           unnest(list_filter(map_entries(workload_metrics),
                              lambda e: regexp_matches(e.key, '{pattern}'))) as e
    from samples
    where workload_metrics is not null
), last as (
    select experiment, run, host, guest, e.key as key, arg_max(e.value, time_s) as value
    from kv group by experiment, run, host, guest, e.key
)
select experiment, run, host, guest,
       cast(regexp_extract(key, 'pass([0-9]+)_success_pct$', 1) as integer) as pass,
       avg(value)
from last
where value is not null and not isnan(value)
group by experiment, run, host, guest, pass
"""


def run_metrics(res: Results) -> list[str]:
    """Fill run.metrics for every run; returns the metric names in order."""
    by_key = {run.key: run for run in res.runs}
    guests: dict[tuple[str, str], list[tuple]] = {k: [] for k in by_key}
    for row in res.query(_GUEST_SQL.format(gib=GIB)):
        if (row[0], row[1]) in guests:
            guests[(row[0], row[1])].append(row[4:])
    reclaimed = {(e, r): v for e, r, v in res.query(_RECLAIMED_SQL.format(page=PAGE_SIZE))}
    has_map = "workload_metrics" in res.samples_columns()
    passes: dict[tuple[str, str], dict[int, list[float]]] = {}
    if has_map:
        for e, r, _h, _g, i, v in res.query(_HIGHALLOC_SQL.format(pattern=_PASS_RE)):
            passes.setdefault((e, r), {}).setdefault(int(i), []).append(v)
    all_passes = sorted({i for d in passes.values() for i in d})

    for key, run in by_key.items():
        rows = guests[key]
        m: dict[str, float] = {}
        m["free_2mib_per_gib_mean"] = nan_mean(g[0] for g in rows)
        m["free_2mib_per_gib_end"] = nan_mean(g[1] for g in rows)
        m["free_2mib_per_gib_inflated"] = nan_mean(g[2] for g in rows)
        m["free_2mib_per_gib_returned"] = nan_mean(g[3] for g in rows)
        alloc = sum(int(g[4] or 0) for g in rows)
        fallback = sum(int(g[5] or 0) for g in rows)
        m["thp_fault_success_pct"] = 100.0 * alloc / (alloc + fallback) if alloc + fallback else NAN
        for i in all_passes:
            m[f"highalloc_pass{i}_success_pct"] = nan_mean(passes.get(key, {}).get(i, []))
        m["balloon_migrate"] = float(sum(int(g[6] or 0) for g in rows)) if rows else NAN
        m["pgmigrate_success"] = float(sum(int(g[7] or 0) for g in rows)) if rows else NAN
        m["host_thp_split_pmd"] = float(sum(int(g[8] or 0) for g in rows)) if rows else NAN
        v = reclaimed.get(key)
        m["host_reclaimed_mib"] = NAN if v is None else v / MIB
        run.metrics = m
    return metric_names(all_passes)


def metric_names(passes: Iterable[int] = ()) -> list[str]:
    names = []
    for name, _ in RUN_METRICS:
        names.append(name)
        if name == _HIGHALLOC_AFTER:
            names.extend(f"highalloc_pass{i}_success_pct" for i in passes)
    return names


def metric_label(name: str) -> str:
    m = re.fullmatch(r"highalloc_pass(\d+)_success_pct", name)
    if m:
        return f"stress-highalloc pass {m.group(1)} success %"
    return dict(RUN_METRICS).get(name, name)
