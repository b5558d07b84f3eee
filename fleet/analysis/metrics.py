"""The per-run metrics: one registry, RUN_METRICS, for the runs table and
``fleet analyze``. A metric says how a guest's samples reduce to values (in
SQL and in Python) and how the guests' values combine into the run's (one
function): ``fleet analyze`` reduces in DuckDB (:func:`run_metrics`), the
engine as a run's rows stream by (:class:`RunSummary`), and both combine alike.

Phases, per (run, host, guest), from its ``balloon_pages`` series with peak
``P = max(balloon_pages)``:
    ``inflated`` = samples with ``balloon_pages >= 0.5 * P`` (empty if P = 0);
    ``returned`` = samples after the guest's last ``inflated`` sample with
    ``balloon_pages <= 0.1 * P``.

Paired phases (:func:`paired_guests`, :func:`pair_phases`): when two runs
are compared (balloon compaction on and off, same seed and other
parameters), a guest (same host and guest index) is in a phase at a sample
time when it is in that phase in both runs, and the pair's phase metrics
average those sample times only, in each run. So a phase average compares
the same guests at the same times, each of them in the stated state in both
worlds. Applying one world's windows to both would instead average, in the
other world, guests outside that state (in the headline's `cache` regime,
MOM balloons only the batch guest with the seed while both servers are
ballooned without it: the servers' "inflated" samples would be unballooned
ones), mixing the policy's choice of whom to balloon, which the ballooned
memory metric reports, into the phase's effect. A guest with no joint
sample has no value for the phase; a phase that one world never reaches
has none in either.

The metrics (runs-table column in brackets; * = runs table only):
    ``free_2mib_per_gib_*``: free 2 MiB blocks (``free_2mib_blocks``) per GiB
    of the guest's memory (``memory_bytes``). Per guest: ``mean`` over all its
    samples [``free_2mib_blocks_per_gib_mean``], ``end`` at its last sample
    [``free_2mib_blocks_per_gib_end``], ``inflated`` / ``returned`` the mean
    over the samples of that phase (NaN if the phase is empty; in a pair, of
    the joint phase). Per run: the mean over guests (over guests with a
    non-empty phase for the phases; NaN if none has one).

    ``thp_fault_success_pct`` [same]: ``100 * thp_fault_alloc /
    (thp_fault_alloc + thp_fault_fallback)``, the cumulative counters at each
    guest's last sample summed over guests (NaN if there was no THP fault).

    ``highalloc_pass<i>_success_pct``: stress-highalloc success of pass i.
    Per guest, the last value of every workload metric key ending in
    ``pass<i>_success_pct`` (plain, or prefixed as in composites:
    ``highalloc.pass1_success_pct``; several such keys in one guest are
    averaged); NaN values (a pass that made no attempt yet) are skipped. Per
    run: the mean over the guests that have it. Columns exist for the passes
    found in any run.

    ``balloon_migrate``, ``pgmigrate_success`` (total pages migrated, balloon
    pages included), ``host_thp_split_pmd`` (host huge pages split) [same];
    ``balloon_pages_end``*, ``host_populated_pages_end``*: the cumulative
    counters (the sizes) at each guest's last sample, summed over guests.
    ``guests``*: the number of guests.

    ``host_reclaimed_mib``: host memory reclaimed by the balloons, the mean
    over sample times of the sum over all guests of ``balloon_pages * 4096``
    bytes, in MiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..memory.constants import PAGE_SIZE
from ..units import GIB, MIB

if TYPE_CHECKING:
    from .load import Results, Run

NAN = float("nan")

Row = Mapping[str, Any]  # one samples row, as the engine streams it
RunKey = tuple[str, str]  # (experiment, run)

# The samples columns fleet analyze reads.
REQUIRED_COLUMNS = (
    "time_s",
    "host",
    "guest",
    "memory_bytes",
    "free_2mib_blocks",
    "balloon_pages",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "balloon_migrate",
    "pgmigrate_success",
    "host_thp_split_pmd",
)


def isnan(v: Any) -> bool:
    """None or a float NaN: an undefined value."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def nan_mean(values: Iterable[Any]) -> float:
    """The mean of the defined values (NaN if none)."""
    vals = [float(v) for v in values if not isnan(v)]
    return sum(vals) / len(vals) if vals else NAN


# --------------------------------------------------------------------------
# the parts of a metric


@dataclass(frozen=True)
class Sampled:
    """A value of each samples row: `sql` over the samples columns (named
    `name` in the per-guest query) and `of_row`, the same over a row."""

    name: str
    sql: str
    of_row: Callable[[Row], Any]


def sampled_column(name: str) -> Sampled:
    return Sampled(name, name, lambda row: row[name])


FREE_2MIB_PER_GIB = Sampled(
    "per_gib",
    f"free_2mib_blocks / (memory_bytes / {GIB}.0)",
    lambda row: row["free_2mib_blocks"] / (row["memory_bytes"] / GIB),
)


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A run metric: `name` in ``fleet analyze``, `label` for its tables, `column` in the runs
    table (None: not there), `analyzed` whether ``fleet analyze`` reports it, `rate` whether it
    is a success rate (``fleet compare`` takes its harmonic mean over runs). A guest metric
    (GuestMean, GuestLast) has per-guest aggregates and a `combine` over guests; a run-level
    one (MeanOfTotal, PassSuccess) its own query, `values`."""

    name: str
    label: str
    column: str | None = None
    analyzed: bool = True
    rate: bool = False

    def label_of(self, name: str) -> str | None:
        return self.label if name == self.name else None


@dataclass(frozen=True, kw_only=True)
class GuestMean(Metric):
    """Per guest the mean of `value` over its samples (or over those of a
    phase); per run the mean over the guests that have one. A phase needs a
    guest's whole series: such a metric has no runs-table column."""

    value: Sampled
    phase: str | None = None

    def sampled(self) -> tuple[Sampled, ...]:
        return (self.value,)

    def guest_sql(self) -> list[str]:
        where = f" filter (where {PHASES[self.phase]})" if self.phase else ""
        return [f"avg({self.value.name}){where}"]

    def combine(self, guests: Sequence[tuple]) -> float:
        return _mean_over_guests(guests)


@dataclass(frozen=True, kw_only=True)
class GuestLast(Metric):
    """Per guest its `values` at its last sample; per run `combine` of the
    guests' tuples of them."""

    values: tuple[Sampled, ...]
    combine: Callable[[Sequence[tuple]], Any]

    def sampled(self) -> tuple[Sampled, ...]:
        return self.values

    def guest_sql(self) -> list[str]:
        return [f"arg_max({v.name}, time_s)" for v in self.values]

    def of_last_rows(self, rows: Iterable[Row]) -> Any:
        return self.combine([tuple(v.of_row(r) for v in self.values) for r in rows])


GuestMetric = GuestMean | GuestLast


def _mean_over_guests(guests: Sequence[tuple]) -> float:
    return nan_mean(g[0] for g in guests)


def _total(guests: Sequence[tuple]) -> int | float:
    return sum(int(g[0] or 0) for g in guests) if guests else NAN


def _success_pct(guests: Sequence[tuple]) -> float:
    success = sum(int(g[0] or 0) for g in guests)
    failure = sum(int(g[1] or 0) for g in guests)
    return 100.0 * success / (success + failure) if success + failure else NAN


def counter(name: str, label: str, of: str | None = None, analyzed: bool = True) -> GuestLast:
    """The samples column `of` (default: `name`) at each guest's last sample,
    summed over guests; a runs-table column `name`."""
    return GuestLast(
        name=name, label=label, column=name, analyzed=analyzed, values=(sampled_column(of or name),), combine=_total
    )


# Every query orders its groups: DuckDB's threads return them in any order, and
# the float sums over guests and runs must not depend on it (same output every run).
_TOTAL_SQL = """
select experiment, run, avg(total) from (
    select experiment, run, time_s, {total} as total
    from samples group by experiment, run, time_s
) group by experiment, run
order by experiment, run
"""


@dataclass(frozen=True, kw_only=True)
class MeanOfTotal(Metric):
    """Per run the mean over sample times of `total` (an SQL aggregate over
    all guests' samples at one time), in `unit`s."""

    total: str
    unit: int

    def values(self, res: Results) -> dict[str, dict[RunKey, float]]:
        rows = res.query(_TOTAL_SQL.format(total=self.total))
        return {self.name: {(e, r): NAN if v is None else v / self.unit for e, r, v in rows}}


_PASS_SQL = """
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
order by experiment, run, host, guest, pass
"""


@dataclass(frozen=True, kw_only=True)
class PassSuccess(Metric):
    """stress-highalloc success per pass i, ``highalloc_pass<i>_success_pct``
    for each pass found in any run (from the ``workload_metrics`` map)."""

    _NAME = re.compile(r"highalloc_pass(\d+)_success_pct")

    def label_of(self, name: str) -> str | None:
        m = self._NAME.fullmatch(name)
        return f"stress-highalloc pass {m.group(1)} success %" if m else None

    def values(self, res: Results) -> dict[str, dict[RunKey, float]]:
        if "workload_metrics" not in res.samples_columns():
            return {}
        passes: dict[int, dict[RunKey, list[float]]] = {}
        for e, r, _h, _g, i, v in res.query(_PASS_SQL.format(pattern=r"(^|\.)pass[0-9]+_success_pct$")):
            passes.setdefault(int(i), {}).setdefault((e, r), []).append(v)
        return {
            f"highalloc_pass{i}_success_pct": {k: nan_mean(v) for k, v in passes[i].items()} for i in sorted(passes)
        }


RunLevelMetric = MeanOfTotal | PassSuccess


# --------------------------------------------------------------------------
# the registry: runs-table columns and fleet analyze's rows in this order

RUN_METRICS: tuple[GuestMetric | RunLevelMetric, ...] = (
    GuestLast(name="guests", label="guests", column="guests", analyzed=False, values=(), combine=len),
    GuestMean(
        name="free_2mib_per_gib_mean",
        label="free 2MiB blocks/GiB, mean",
        column="free_2mib_blocks_per_gib_mean",
        value=FREE_2MIB_PER_GIB,
    ),
    GuestLast(
        name="free_2mib_per_gib_end",
        label="free 2MiB blocks/GiB, end",
        column="free_2mib_blocks_per_gib_end",
        values=(FREE_2MIB_PER_GIB,),
        combine=_mean_over_guests,
    ),
    GuestMean(
        name="free_2mib_per_gib_inflated",
        label="free 2MiB blocks/GiB, inflated",
        value=FREE_2MIB_PER_GIB,
        phase="inflated",
    ),
    GuestMean(
        name="free_2mib_per_gib_returned",
        label="free 2MiB blocks/GiB, returned",
        value=FREE_2MIB_PER_GIB,
        phase="returned",
    ),
    GuestLast(
        name="thp_fault_success_pct",
        label="THP fault success %",
        column="thp_fault_success_pct",
        values=(sampled_column("thp_fault_alloc"), sampled_column("thp_fault_fallback")),
        combine=_success_pct,
        rate=True,
    ),
    PassSuccess(name="highalloc_pass<i>_success_pct", label="stress-highalloc pass <i> success %", rate=True),
    counter("balloon_migrate", "balloon_migrate (pages)"),
    counter("pgmigrate_success", "pages migrated (pgmigrate_success)"),
    counter("host_thp_split_pmd", "host huge pages split"),
    MeanOfTotal(
        name="host_reclaimed_mib",
        label="host memory reclaimed, MiB (mean)",
        total=f"sum(balloon_pages) * {PAGE_SIZE}.0",
        unit=MIB,
    ),
    counter("balloon_pages_end", "balloon pages, end", of="balloon_pages", analyzed=False),
    counter("host_populated_pages_end", "host-populated pages, end", of="host_populated_pages", analyzed=False),
)
# the run-level metrics query a whole results folder: none has a runs-table column
RUNS_TABLE_METRICS = tuple(m for m in RUN_METRICS if m.column and isinstance(m, GuestMetric))
ANALYZED_METRICS = tuple(m for m in RUN_METRICS if m.analyzed)


def metric_label(name: str) -> str:
    """The label of a metric name of :func:`run_metrics` (the name if unknown)."""
    for metric in RUN_METRICS:
        label = metric.label_of(name)
        if label is not None:
            return label
    return name


# --------------------------------------------------------------------------
# fleet analyze: the metrics of every run of a results folder, in DuckDB

# Every samples row of the runs of `source` (the runs named `runs`, if given)
# with its guest's phase columns: `peak`, `inflated`, `last_inflated`.
_PHASED_SQL = """
select *, max(case when inflated then time_s end)
              over (partition by experiment, run, host, guest) as last_inflated
from (
    select *, peak > 0 and balloon_pages >= 0.5 * peak as inflated
    from (
        select experiment, run, host, guest, time_s, balloon_pages,
               {sampled},
               max(balloon_pages) over (partition by experiment, run, host, guest) as peak
        from {source}
        {where}
    )
)
"""

_GUEST_SQL = """
with q as ({phased})
select experiment, run, host, guest,
       {aggregates}
from q
group by experiment, run, host, guest
order by experiment, run, host, guest
"""

# The phases as conditions on the rows of _PHASED_SQL
PHASES = {
    "inflated": "inflated",
    "returned": "time_s > last_inflated and balloon_pages <= 0.1 * peak",
}


def _sampled_sql(values: Iterable[Sampled]) -> str:
    return ", ".join(v.sql if v.sql == v.name else f"{v.sql} as {v.name}" for v in values)


def _per_guest(res: Results, metrics: Sequence[GuestMetric]) -> dict[RunKey, dict[str, list[tuple]]]:
    """Per run and metric, the per-guest tuples of the metric's aggregates (one query for all)."""
    sampled: dict[str, Sampled] = {}
    slices: dict[str, slice] = {}
    aggregates: list[str] = []
    for m in metrics:
        sampled.update((v.name, v) for v in m.sampled())
        slices[m.name] = slice(len(aggregates), len(aggregates) + len(m.guest_sql()))
        aggregates += m.guest_sql()
    phased = _PHASED_SQL.format(sampled=_sampled_sql(sampled.values()), source="samples", where="")
    out: dict[RunKey, dict[str, list[tuple]]] = {run.key: {m.name: [] for m in metrics} for run in res.runs}
    for row in res.query(_GUEST_SQL.format(phased=phased, aggregates=",\n       ".join(aggregates))):
        per_metric = out.get((row[0], row[1]))
        if per_metric is not None:
            for name, cols in slices.items():
                per_metric[name].append(row[4:][cols])
    return out


def run_metrics(res: Results) -> list[str]:
    """Fill run.metrics of every run of `res` with the analyzed metrics;
    returns their names in order (a PassSuccess gives one per pass found)."""
    guest_metrics = [m for m in ANALYZED_METRICS if isinstance(m, GuestMetric)]
    guests = _per_guest(res, guest_metrics)
    names: list[str] = []
    for run in res.runs:
        run.metrics = {}
    for metric in ANALYZED_METRICS:
        if isinstance(metric, GuestMetric):
            for run in res.runs:
                run.metrics[metric.name] = float(metric.combine(guests[run.key][metric.name]))
            names.append(metric.name)
        else:
            for name, by_run in metric.values(res).items():
                for run in res.runs:
                    run.metrics[name] = by_run.get(run.key, NAN)
                names.append(name)
    return names


# --------------------------------------------------------------------------
# paired phases: one guest in two runs (balloon compaction off and on)

# The metrics whose values depend on a phase: paired across runs.
PHASE_METRICS = tuple(m for m in ANALYZED_METRICS if isinstance(m, GuestMean) and m.phase)

_PAIRED_SQL = """
with pairs(i, a_exp, a_run, b_exp, b_run) as (values {pairs}),
qa as (select *, {conditions} from ({phased_a})),
qb as (select *, {conditions} from ({phased_b})),
j as (
    select pairs.i, qa.host, qa.guest, {joint}
    from pairs
    join qa on qa.experiment = pairs.a_exp and qa.run = pairs.a_run
    join qb on qb.experiment = pairs.b_exp and qb.run = pairs.b_run
           and qb.host = qa.host and qb.guest = qa.guest and qb.time_s = qa.time_s
)
select i, host, guest,
       {aggregates}
from j
group by i, host, guest
order by i, host, guest
"""


@dataclass(frozen=True)
class GuestPair:
    """One guest (host, guest) of a pair of runs A and B: per phase, the
    number of its sample times in the joint phase and, per value, the mean
    over them in A and in B (NaN if there is none)."""

    host: int
    guest: int
    samples: dict[str, int]
    a: dict[str, dict[str, float]]
    b: dict[str, dict[str, float]]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def paired_guests(
    res: Results,
    pairs: Sequence[tuple[RunKey, RunKey]],
    values: Iterable[Sampled],
    phases: Mapping[str, str],
    other: Results | None = None,
) -> list[list[GuestPair]]:
    """Per pair (run A of `res`, run B of `other`, default `res`), its guests
    matched by (host, guest) and their samples by time: a sample time is in a
    pair's phase when the guest's sample is in it in both runs, each run's
    phase computed from its own series (`phases`: conditions on the rows of
    _PHASED_SQL, e.g. PHASES). Guests in order of (host, guest)."""
    values = list(values)
    out: list[list[GuestPair]] = [[] for _ in pairs]
    if not pairs:
        return out
    sampled = _sampled_sql(values)
    runs_a = ", ".join(_quoted(a[1]) for a, _ in pairs)
    runs_b = ", ".join(_quoted(b[1]) for _, b in pairs)
    source_b = "samples" if other is None or other is res else other.source_sql
    joint = [f"qa.ph_{k} and qb.ph_{k} as ph_{k}" for k in phases]
    joint += [f"qa.{v.name} as a_{v.name}, qb.{v.name} as b_{v.name}" for v in values]
    aggregates = []
    for k in phases:
        aggregates.append(f"count(*) filter (where ph_{k})")
        aggregates += [f"avg({w}_{v.name}) filter (where ph_{k})" for v in values for w in ("a", "b")]
    sql = _PAIRED_SQL.format(
        pairs=", ".join(
            f"({i}, {_quoted(a[0])}, {_quoted(a[1])}, {_quoted(b[0])}, {_quoted(b[1])})"
            for i, (a, b) in enumerate(pairs)
        ),
        phased_a=_PHASED_SQL.format(sampled=sampled, source="samples", where=f"where run in ({runs_a})"),
        phased_b=_PHASED_SQL.format(sampled=sampled, source=source_b, where=f"where run in ({runs_b})"),
        conditions=", ".join(f"coalesce({c}, false) as ph_{k}" for k, c in phases.items()),
        joint=", ".join(joint),
        aggregates=",\n       ".join(aggregates),
    )
    width = 1 + 2 * len(values)
    for row in res.query(sql):
        i, host, guest, cells = row[0], row[1], row[2], row[3:]
        samples, a, b = {}, {}, {}
        for n, k in enumerate(phases):
            part = cells[n * width : (n + 1) * width]
            samples[k] = int(part[0])
            a[k] = {v.name: NAN if part[1 + 2 * j] is None else float(part[1 + 2 * j]) for j, v in enumerate(values)}
            b[k] = {v.name: NAN if part[2 + 2 * j] is None else float(part[2 + 2 * j]) for j, v in enumerate(values)}
        out[i].append(GuestPair(int(host), int(guest), samples, a, b))
    return out


def paired_phase_metrics(
    res: Results, pairs: Sequence[tuple[RunKey, RunKey]], other: Results | None = None
) -> list[dict[str, tuple[float, float]]]:
    """Per pair (A, B) of `paired_guests`, each of PHASE_METRICS of A and of B
    over the pair's joint phase: per guest the mean over its sample times in
    the phase in both runs, per run the mean over the guests that have one
    (the metric's `combine`; NaN if none has)."""
    values = {m.value.name: m.value for m in PHASE_METRICS}
    phases = {m.phase: PHASES[m.phase] for m in PHASE_METRICS if m.phase}
    out = []
    for guests in paired_guests(res, pairs, values.values(), phases, other):
        row = {}
        for m in PHASE_METRICS:
            assert m.phase is not None  # PHASE_METRICS have one
            a = float(m.combine([(g.a[m.phase][m.value.name],) for g in guests]))
            b = float(m.combine([(g.b[m.phase][m.value.name],) for g in guests]))
            row[m.name] = (a, b)
        out.append(row)
    return out


def pair_phases(res: Results, pairs: Sequence[tuple[Run, Run]]) -> None:
    """Give the runs of `pairs` (each run in one pair at most) their paired
    phase metrics (paired_phase_metrics) in run.metrics; every run keeps the
    values of its own phases in run.unpaired."""
    for run in res.runs:
        run.unpaired = {m.name: run.metrics.get(m.name, NAN) for m in PHASE_METRICS}
    for (a, b), values in zip(pairs, paired_phase_metrics(res, [(a.key, b.key) for a, b in pairs])):
        for name, (va, vb) in values.items():
            a.metrics[name], b.metrics[name] = va, vb
