"""The map of an ab-map-like sweep (experiments/ab-map.toml): balloon
compaction on - off per grid cell and moment, the data of ``fleet plot``'s
map figures.

A folder is ab-map-like when balloon compaction varies and its runs' guests
run the ``holes`` workload (fleet/workload/holes.py) alone. A guest's grid
cell is its workload's ``in_use``, ``holes`` and ``pattern`` (from the run's
spec in the manifest, per_guest lists expanded as the guest got them:
spec.guests.guest_params) and its balloon size, the share of its RAM its
balloon target asks for (the static policy's schedule, capped by the
guest's ``balloon_min``).

Moments, per guest and run, from the holes workload's flags, the balloon
target and the balloon phases of metrics.py (conditions on the rows of its
_PHASED_SQL):
    ``inflated``  the host asks for a balloon, holes punched, the workload
                  still there;
    ``left``      the host asks for a balloon, the workload gone, no
                  compact_memory yet;
    ``compacted`` the host asks for a balloon, the workload gone,
                  compact_memory done;
    ``deflated``  the balloon returned (metrics.PHASES["returned"]).
The first three follow the host's request rather than the balloon's size,
so that a balloon too large for the memory left (it keeps inflating once
the workload has gone) still has its moments.
An on-run and its off-run (load.on_off_pairs) are paired guest by guest
over their joint moments (metrics.paired_guests: the sample times at which
the guest is in the moment in both runs).

Per group of the other varying parameters (an era), cell, moment and value:
per seed pair the mean over the cell's guests of the value on and off (the
guest's mean over its joint samples); over the seed pairs ``paired_stats``
(stats.py: mean on - off, 95% t interval). A cell is `short` when in some
pair a world's balloon reached less than SHORT of its target while
inflated (memory too full for it: the worlds then differ in balloon size
too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..memory.constants import PAGE_SIZE
from ..results.manifest import read_manifest
from ..spec.guests import guest_params
from ..spec.workloads import WORKLOADS, HolesParams
from .load import COMPACTION_KEY, Results, on_off_pairs
from .metrics import FREE_2MIB_PER_GIB, PHASES, Sampled, nan_mean, paired_guests, sampled_column
from .stats import paired_stats

WORKLOAD = "holes"
SHORT = 0.95  # a balloon below this share of its target is short
MOMENTS = {
    "inflated": "balloon_target_pages > 0 and holes_punched = 1 and holes_left = 0 and holes_compacted = 0",
    "left": "balloon_target_pages > 0 and holes_left = 1 and holes_compacted = 0",
    "compacted": "balloon_target_pages > 0 and holes_left = 1 and holes_compacted = 1",
    "deflated": PHASES["returned"],
}
MOMENT_LABELS = {
    "inflated": "balloon inflated",
    "left": "after the workload left",
    "compacted": "after compact_memory",
    "deflated": "after the deflate",
}


def _holes_metric(key: str) -> Sampled:
    """A holes workload metric from the samples' workload_metrics map (also
    under a composite's "holes." prefix), named holes_<key>."""
    sql = f"coalesce(workload_metrics['{key}'], workload_metrics['{WORKLOAD}.{key}'])"
    return Sampled(f"{WORKLOAD}_{key}", sql, lambda row: dict(row["workload_metrics"]).get(key))


PROBE_FALLBACK = _holes_metric("probe_thp_fallback_pct")
TARGET_SHARE = Sampled(
    "target_share",
    "balloon_target_pages / (memory_bytes / 4096.0)",
    lambda row: row["balloon_target_pages"] * PAGE_SIZE / row["memory_bytes"],
)
REACHED = Sampled(
    "reached",
    "balloon_pages / nullif(balloon_target_pages, 0)",
    lambda row: row["balloon_pages"] / row["balloon_target_pages"] if row["balloon_target_pages"] else None,
)
FLAGS = tuple(_holes_metric(key) for key in ("punched", "left", "compacted"))
TARGET = sampled_column("balloon_target_pages")
VALUES = (FREE_2MIB_PER_GIB, PROBE_FALLBACK, TARGET_SHARE, REACHED, TARGET, *FLAGS)
ASKED = ("inflated", "left", "compacted")  # the moments with a balloon asked for
# the values a map shows: name -> what it is
MAP_VALUES = {
    FREE_2MIB_PER_GIB.name: "free 2 MiB blocks per GiB",
    PROBE_FALLBACK.name: "THP fault fallback % of the probe",
}


@dataclass(frozen=True)
class Cell:
    """A grid cell: the state of memory when the balloon inflates."""

    pattern: str
    in_use: float
    holes: float
    balloon: float  # share of RAM


@dataclass(frozen=True)
class MapEntry:
    group: str  # the other varying parameters, e.g. "kernel.era=6.x"
    cell: Cell
    moment: str
    value: str  # a key of MAP_VALUES
    stats: dict[str, Any]  # paired_stats over the seed pairs
    short: bool


def _cells_of_guests(spec: dict) -> dict[tuple[int, int], tuple[str, float, float]] | None:
    """(host, guest) -> (pattern, in_use, holes) of a run's spec, None if a
    guest runs another workload."""
    groups = spec.get("guests") or []
    per_host = sum(int(g["count"]) for g in groups)
    out = {}
    for host in range(int(spec["hosts"]["count"])):
        guest = 0
        for g in groups:
            for _ in range(int(g["count"])):
                if g["workload"] != WORKLOAD:
                    return None
                params = guest_params(g.get("workload_params") or {}, host * per_host + guest)
                p = WORKLOADS.make_params(WORKLOAD, params)
                assert isinstance(p, HolesParams)
                out[(host, guest)] = (p.pattern, p.in_use, p.holes)
                guest += 1
    return out


def map_entries(res: Results) -> list[MapEntry]:
    """The map of `res` (see the module docstring); empty if the folder is
    not ab-map-like."""
    pairs = on_off_pairs(res)
    if not pairs:
        return []
    runs = read_manifest(res.out)["runs"]
    cells_of = {}
    for run in {r.key: r for pair in pairs for r in pair}.values():
        spec = (runs.get(f"{run.experiment}/{run.run_id}") or {}).get("spec")
        cells = _cells_of_guests(spec) if spec else None
        if cells is None:
            return []
        cells_of[run.key] = cells
    others = [k for k in res.varying if k != COMPACTION_KEY]
    # (group, cell, moment) -> per seed pair: (on values, off values) per value, and short
    acc: dict[tuple[str, Cell, str], dict[int, tuple[dict[str, list], dict[str, list], bool]]] = {}
    order: dict[str, None] = {}
    for i, guests in enumerate(paired_guests(res, [(a.key, b.key) for a, b in pairs], VALUES, MOMENTS)):
        on, off = pairs[i]
        group = res.label_of(on, exclude=[COMPACTION_KEY]) if others else "all runs"
        order.setdefault(group)
        for g in guests:
            base = cells_of[on.key].get((g.host, g.guest))
            asked = [g.a[m][TARGET_SHARE.name] for m in ASKED if g.samples[m]]
            if base is None or not asked:
                continue
            cell = Cell(*base, balloon=round(max(asked), 3))
            reached = [g.a["inflated"][REACHED.name], g.b["inflated"][REACHED.name]]
            short = not g.samples["inflated"] or min(reached) < SHORT
            for moment in MOMENTS:
                if not g.samples[moment]:
                    continue
                a_vals, b_vals, was_short = acc.setdefault((group, cell, moment), {}).setdefault(i, ({}, {}, False))
                for v in MAP_VALUES:
                    a_vals.setdefault(v, []).append(g.a[moment][v])
                    b_vals.setdefault(v, []).append(g.b[moment][v])
                acc[(group, cell, moment)][i] = (a_vals, b_vals, was_short or short)
    out = []
    for (group, cell, moment), by_pair in acc.items():
        short = any(s for _, _, s in by_pair.values())
        for v in MAP_VALUES:
            stats = paired_stats([(nan_mean(a[v]), nan_mean(b[v])) for a, b, _ in by_pair.values()])
            out.append(MapEntry(group, cell, moment, v, stats, short))
    rank = {g: n for n, g in enumerate(order)}
    out.sort(key=lambda e: (rank[e.group], e.cell.pattern, e.cell.in_use, e.cell.holes, e.cell.balloon, e.moment))
    return out
