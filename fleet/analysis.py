"""`fleet analyze`: what a results folder says, per variant and on vs off.

DuckDB reads the committed runs' samples Parquet files (never the staging of a
run being written, nor a samples partition left without its runs partition by
an interrupted run); the runs table gives each run's parameters.

Definitions
-----------

Variant
    The values of the run parameters (the runs table's flattened spec keys:
    ``experiment.*``, ``kernel.*``, ``hosts.*``, ``policy.*``, ``guests[i].*``)
    that vary across the runs in the folder, except ``experiment.seed``, e.g.
    ``kernel.balloon_compaction=True, guests[0].workload=server``. Runs of one
    variant differ only by seed. When nothing but the seed varies there is one
    variant, labelled ``all runs``. A sweep's regimes (``experiment.regime``)
    set several parameters together; in labels, the varying parameters that
    the regime determines (one value per regime) are left out, since the
    regime's name stands for them (``experiment.regime=cache,
    kernel.balloon_compaction=True``); JSON output lists them all.

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

Per variant: the mean over its runs (seeds) of each per-run metric, NaN runs
skipped.

On vs off (``balloon_compaction_effect``): when ``kernel.balloon_compaction``
is one of the varying parameters, each on-run is paired with the off-run that
has the same other parameters and the same seed. Pairs are grouped by the
other varying parameters (e.g. per regime). For each group and metric over
its pairs with both values defined: ``mean_diff`` = mean of (on - off);
``rel_pct`` = ``100 * mean_diff / mean(off)`` (NaN if mean(off) = 0);
``ci_low``/``ci_high`` = the 95% Student t interval ``mean_diff -/+
t(0.975, n-1) * sd / sqrt(n)`` over the n seed pairs (NaN with one pair).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .results import (
    ResultsError,
    committed_files,
    one_line,
    raise_for_unreadable,
    read_table,
    uncommitted_runs,
)

__all__ = [
    "COMPACTION_KEY",
    "FORMATS",
    "RUN_METRICS",
    "SEED_KEY",
    "Analysis",
    "Results",
    "analyze",
    "balloon_compaction_effect",
    "load",
    "render",
    "t_quantile_975",
]

PAGE_SIZE = 4096
GIB = 1 << 30
MIB = 1 << 20
SEED_KEY = "experiment.seed"
REGIME_KEY = "experiment.regime"
COMPACTION_KEY = "kernel.balloon_compaction"
PARAM_PREFIXES = ("experiment.", "kernel.", "hosts.", "policy.", "guests[")
FORMATS = ("rich", "csv", "json", "markdown")

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

REQUIRED_COLUMNS = (
    "time_s", "host", "guest", "memory_bytes", "free_2mib_blocks", "balloon_pages",
    "thp_fault_alloc", "thp_fault_fallback", "balloon_migrate", "pgmigrate_success",
    "host_thp_split_pmd",
)

NAN = float("nan")

# Two-sided 95% quantiles t(0.975, df) of Student's t for df = 1..30.
_T975 = (
    12.706204736174698, 4.302652729749464, 3.182446305284263, 2.7764451051977934,
    2.5705818356363146, 2.4469118511449692, 2.3646242515927844, 2.306004135204166,
    2.2621571628540993, 2.2281388519862744, 2.200985160082949, 2.1788128296672284,
    2.1603686564627926, 2.1447866879169273, 2.131449545559323, 2.1199052992210112,
    2.1098155778331806, 2.10092204024096, 2.093024054408263, 2.0859634472658364,
    2.079613844727662, 2.0738730679040147, 2.0686576104190406, 2.0638985616280205,
    2.059538552753294, 2.055529438642871, 2.0518305164802833, 2.048407141795244,
    2.045229642132703, 2.0422724563012373,
)


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the table for df <= 30, else the Cornish-Fisher expansion
    around the normal quantile (error < 1e-5 for df > 30)."""
    if df < 1:
        return NAN
    if df <= len(_T975):
        return _T975[df - 1]
    z = statistics.NormalDist().inv_cdf(0.975)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


# --------------------------------------------------------------------------
# small helpers


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _mean(values: Iterable[Any]) -> float:
    vals = [float(v) for v in values if not _isnan(v)]
    return sum(vals) / len(vals) if vals else NAN


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (2, "")
    if isinstance(v, (bool, int, float)):
        return (0, float(v))
    return (1, str(v))


def _is_on(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "on", "1", "yes"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "off", "0", "no"):
        return False
    return None


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "all runs"


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


# --------------------------------------------------------------------------
# loading


@dataclass
class Run:
    experiment: str
    run_id: str
    params: dict[str, Any]  # every parameter of the run
    seed: Any
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.experiment, self.run_id)


@dataclass
class Results:
    """The committed runs of a folder, checked, with a DuckDB view ``samples``
    over their samples files (see :func:`load`)."""

    out: Path
    runs: list[Run]
    varying: list[str]  # varying parameters except the seed, in runs-table order
    label_keys: list[str]  # those named in labels (not determined by the regime)
    samples_files: list[Path]
    uncommitted: list[str]  # "<experiment>/<run>" left out: interrupted or being written
    con: Any  # duckdb connection

    def variant_params(self, run: Run) -> dict[str, Any]:
        return {k: run.params.get(k) for k in self.varying}

    def label_of(self, run: Run, exclude: Sequence[str] = ()) -> str:
        return _label({k: run.params.get(k) for k in self.label_keys if k not in exclude})

    def query(self, sql: str) -> list[tuple]:
        """Run a query over the ``samples`` view; a file that does not read is
        reported as a ResultsError naming it."""
        import duckdb

        try:
            return self.con.sql(sql).fetchall()
        except duckdb.Error as exc:
            raise_for_unreadable(self.samples_files)
            raise ResultsError(f"cannot read the samples of {self.out}: {one_line(exc)}") from None


def load(out_dir: str | Path) -> Results:
    """Open a results folder for analysis: the runs table (validated by
    :func:`fleet.results.read_table`), the samples file of every committed run
    (present, readable footer, the needed columns) and a DuckDB view over them.

    Raises ResultsError with one line naming the folder or the bad file.
    """
    import duckdb

    out = Path(out_dir)
    if not out.is_dir():
        raise ResultsError(f"{out} is not a results folder (no such directory)")
    table = read_table(out, "runs")
    uncommitted = uncommitted_runs(out)
    if table.num_rows == 0:
        extra = f" ({len(uncommitted)} interrupted or unfinished)" if uncommitted else ""
        raise ResultsError(f"{out}: no committed runs{extra}; nothing to analyze")

    rows = table.to_pylist()
    columns = table.column_names
    param_cols = [c for c in columns if c.startswith(PARAM_PREFIXES)]
    if "experiment.name" not in param_cols:
        param_cols.insert(0, "experiment")
    runs = []
    for r in rows:
        params = {c: r.get(c) for c in param_cols}
        seed = r.get(SEED_KEY)
        runs.append(Run(r["experiment"], r["run"], params, r["run"] if seed is None else seed))
    varying = [
        c for c in param_cols
        if c != SEED_KEY and len({repr(run.params[c]) for run in runs}) > 1
    ]
    label_keys = list(varying)
    if REGIME_KEY in varying:
        def by_regime(c):
            seen: dict[str, set] = {}
            for run in runs:
                seen.setdefault(repr(run.params[REGIME_KEY]), set()).add(repr(run.params[c]))
            return all(len(v) == 1 for v in seen.values())

        label_keys = [c for c in varying if c in (REGIME_KEY, COMPACTION_KEY) or not by_regime(c)]

    files = committed_files(out, "samples")
    for path in files:
        try:
            names = set(pq.read_schema(path).names)
        except Exception:
            raise_for_unreadable(files)
            raise
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise ResultsError(f"results file {path} lacks the samples columns {', '.join(missing)}")

    con = duckdb.connect()
    try:
        con.sql(
            f"create view samples as select * from read_parquet({_sql_list(files)}, "
            "hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
        )
    except duckdb.Error as exc:
        con.close()
        raise_for_unreadable(files)
        raise ResultsError(f"cannot read the samples of {out}: {one_line(exc)}") from None
    return Results(out, runs, varying, label_keys, files, uncommitted, con)


# --------------------------------------------------------------------------
# per-run metrics

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


def _run_metrics(res: Results) -> list[str]:
    """Fill run.metrics for every run; returns the metric names in order."""
    by_key = {run.key: run for run in res.runs}
    guests: dict[tuple[str, str], list[tuple]] = {k: [] for k in by_key}
    for row in res.query(_GUEST_SQL.format(gib=GIB)):
        if (row[0], row[1]) in guests:
            guests[(row[0], row[1])].append(row[4:])
    reclaimed = {(e, r): v for e, r, v in res.query(_RECLAIMED_SQL.format(page=PAGE_SIZE))}
    has_map = "workload_metrics" in {
        n for (n,) in res.con.sql("select column_name from (describe samples)").fetchall()
    }
    passes: dict[tuple[str, str], dict[int, list[float]]] = {}
    if has_map:
        for e, r, _h, _g, i, v in res.query(_HIGHALLOC_SQL.format(pattern=_PASS_RE)):
            passes.setdefault((e, r), {}).setdefault(int(i), []).append(v)
    all_passes = sorted({i for d in passes.values() for i in d})

    for key, run in by_key.items():
        rows = guests[key]
        m: dict[str, float] = {}
        m["free_2mib_per_gib_mean"] = _mean(g[0] for g in rows)
        m["free_2mib_per_gib_end"] = _mean(g[1] for g in rows)
        m["free_2mib_per_gib_inflated"] = _mean(g[2] for g in rows)
        m["free_2mib_per_gib_returned"] = _mean(g[3] for g in rows)
        alloc = sum(int(g[4] or 0) for g in rows)
        fallback = sum(int(g[5] or 0) for g in rows)
        m["thp_fault_success_pct"] = 100.0 * alloc / (alloc + fallback) if alloc + fallback else NAN
        for i in all_passes:
            m[f"highalloc_pass{i}_success_pct"] = _mean(passes.get(key, {}).get(i, []))
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


# --------------------------------------------------------------------------
# variants and the on-vs-off effect


@dataclass
class Variant:
    label: str
    params: dict[str, Any]
    runs: list[Run]
    metrics: dict[str, float]

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.runs]


@dataclass
class Analysis:
    out: Path
    varying: list[str]
    metrics: list[str]
    runs: list[Run]
    variants: list[Variant]
    effect: list[dict]
    compaction_varies: bool
    uncommitted: list[str]
    run_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # run key -> variant label


def _variants(res: Results, metrics: list[str]) -> list[Variant]:
    groups: dict[str, list[Run]] = {}
    params_of: dict[str, dict] = {}
    for run in sorted(res.runs, key=lambda r: ([_sort_key(r.params.get(k)) for k in res.varying], _sort_key(r.seed))):
        p = res.variant_params(run)
        label = res.label_of(run)
        groups.setdefault(label, []).append(run)
        params_of[label] = p
    return [
        Variant(label, params_of[label], runs, {m: _mean(r.metrics.get(m) for r in runs) for m in metrics})
        for label, runs in groups.items()
    ]


def _paired_stats(pairs: list[tuple[float, float]]) -> dict:
    """(on, off) pairs -> mean_diff, rel_pct, ci_low, ci_high, n_pairs."""
    pairs = [(a, b) for a, b in pairs if not _isnan(a) and not _isnan(b)]
    n = len(pairs)
    if n == 0:
        return dict(mean_diff=NAN, rel_pct=NAN, ci_low=NAN, ci_high=NAN, n_pairs=0, mean_on=NAN, mean_off=NAN)
    diffs = [a - b for a, b in pairs]
    mean_diff = sum(diffs) / n
    mean_off = sum(b for _, b in pairs) / n
    mean_on = sum(a for a, _ in pairs) / n
    rel = 100.0 * mean_diff / mean_off if mean_off != 0 else NAN
    if n >= 2:
        half = t_quantile_975(n - 1) * statistics.stdev(diffs) / math.sqrt(n)
        lo, hi = mean_diff - half, mean_diff + half
    else:
        lo = hi = NAN
    return dict(mean_diff=mean_diff, rel_pct=rel, ci_low=lo, ci_high=hi, n_pairs=n, mean_on=mean_on, mean_off=mean_off)


def _effect(res: Results, metrics: list[str]) -> list[dict]:
    if COMPACTION_KEY not in res.varying:
        return []
    others = [k for k in res.varying if k != COMPACTION_KEY]
    on: dict[tuple, Run] = {}
    off: dict[tuple, Run] = {}
    for run in res.runs:
        state = _is_on(run.params.get(COMPACTION_KEY))
        if state is None:
            continue
        key = (tuple(repr(run.params.get(k)) for k in others), repr(run.seed))
        (on if state else off).setdefault(key, run)
    groups: dict[str, tuple[dict, list[tuple[Run, Run]]]] = {}
    for key in sorted(set(on) & set(off), key=lambda k: ([_sort_key(on[k].params.get(o)) for o in others], _sort_key(on[k].seed))):
        a, b = on[key], off[key]
        gp = {k: a.params.get(k) for k in others}
        groups.setdefault(res.label_of(a, exclude=[COMPACTION_KEY]), (gp, []))[1].append((a, b))
    out = []
    for label, (gp, pairs) in groups.items():
        for m in metrics:
            stats = _paired_stats([(a.metrics.get(m, NAN), b.metrics.get(m, NAN)) for a, b in pairs])
            out.append({"group": label, "group_params": gp, "metric": m, **stats})
    return out


@contextmanager
def loaded(out_dir: str | Path):
    """A results folder with its per-run metrics and variants, for the span
    of a with-block (the DuckDB connection is closed after it)."""
    res = load(out_dir)
    try:
        metrics = _run_metrics(res)
        yield res, metrics, _variants(res, metrics)
    finally:
        res.con.close()


def analyze(out_dir: str | Path) -> Analysis:
    """Per-run metrics, per-variant means and the on-vs-off effect of a
    results folder (see the module docstring). Raises ResultsError."""
    with loaded(out_dir) as (res, metrics, variants):
        effect = _effect(res, metrics)
    labels = {run.key: res.label_of(run) for run in res.runs}
    return Analysis(res.out, res.varying, metrics, res.runs, variants, effect,
                    COMPACTION_KEY in res.varying, res.uncommitted, labels)


def balloon_compaction_effect(out_dir: str | Path) -> list[dict]:
    """The on-vs-off effect of ``kernel.balloon_compaction``: per group of the
    other varying parameters (``group``, a label such as
    ``guests[0].workload=server``, or ``all runs``; ``group_params``, a dict)
    and per metric, a dict with ``metric``, ``mean_diff`` (on - off),
    ``rel_pct`` (vs off), ``ci_low``, ``ci_high`` (95% t-interval over the
    seed pairs, NaN with one pair), ``n_pairs``, and ``mean_on``/``mean_off``.
    Empty if balloon compaction does not vary in the folder."""
    return analyze(out_dir).effect


# --------------------------------------------------------------------------
# output


def _num(v: Any) -> str:
    if _isnan(v):
        return "n/a"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1000:
        return f"{int(v):,}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.2f}"


def _ci(e: dict) -> str:
    if _isnan(e["ci_low"]):
        return "n/a"
    return f"[{_num(e['ci_low'])}, {_num(e['ci_high'])}]"


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


def _tables(a: Analysis, multiline: bool = False) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of the human-readable tables."""
    tables = []
    heads = ["metric"] + [v.label for v in a.variants]
    if multiline:
        heads = ["metric"] + [v.label.replace(", ", "\n") for v in a.variants]
    rows = [["seeds"] + [", ".join(str(s) for s in v.seeds) for v in a.variants]]
    rows += [[metric_label(m)] + [_num(v.metrics[m]) for v in a.variants] for m in a.metrics]
    tables.append((f"Per variant (mean over seeds), {a.out}", heads, rows))
    if a.effect:
        heads = ["group", "metric", "on - off", "change % vs off", "95% interval", "pairs"]
        rows = [
            [e["group"], metric_label(e["metric"]), _num(e["mean_diff"]), _num(e["rel_pct"]), _ci(e), str(e["n_pairs"])]
            for e in a.effect
        ]
        tables.append(("Balloon compaction on vs off (paired by seed)", heads, rows))
    return tables


def _no_effect_note(a: Analysis) -> str | None:
    if a.compaction_varies and not a.effect:
        return "balloon compaction varies but no on-run has an off-run with the same parameters and seed"
    if not a.compaction_varies:
        return f"{COMPACTION_KEY} does not vary in this folder: no on-vs-off comparison"
    return None


def _render_plain(a: Analysis) -> str:
    lines = []
    for title, heads, rows in _tables(a):
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        lines.append(title)
        fmt = "  ".join(f"{{:{'<' if i == 0 or (len(heads) == 6 and i == 1) else '>'}{w}}}" for i, w in enumerate(widths))
        lines.append(fmt.format(*heads))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(fmt.format(*r) for r in rows)
        lines.append("")
    note = _no_effect_note(a)
    if note:
        lines.append(note)
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_rich(a: Analysis) -> str:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich comes with typer
        return _render_plain(a)
    import shutil

    buf = io.StringIO()
    # On a terminal, wrap to it; into a pipe or file, keep every row on one line.
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 1000
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    for title, heads, rows in _tables(a, multiline=True):
        t = Table(title=title, title_justify="left")
        for i, h in enumerate(heads):
            left = i == 0 or (len(heads) == 6 and i == 1)
            t.add_column(h, justify="left" if left else "right")
        for r in rows:
            t.add_row(*r)
        console.print(t)
    note = _no_effect_note(a)
    if note:
        console.print(note)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _render_markdown(a: Analysis) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = []
    for title, heads, rows in _tables(a):
        lines.append(f"### {title}")
        lines.append("")
        lines.append("| " + " | ".join(cell(h) for h in heads) + " |")
        lines.append("| " + " | ".join("---" if i == 0 or (len(heads) == 6 and i == 1) else "---:" for i in range(len(heads))) + " |")
        lines.extend("| " + " | ".join(cell(c) for c in r) + " |" for r in rows)
        lines.append("")
    note = _no_effect_note(a)
    if note:
        lines.append(note)
    return "\n".join(lines).rstrip("\n") + "\n"


CSV_COLUMNS = ("table", "label", "metric", "value", "rel_pct", "ci_low", "ci_high", "n")


def _render_csv(a: Analysis) -> str:
    """One long table: ``table`` is ``variants`` (label = variant, value =
    mean over seeds, n = runs) or ``effect`` (label = group, value = mean
    on - off, rel_pct, ci_low, ci_high, n = seed pairs). NaN is empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)

    def c(v):
        return "" if _isnan(v) else repr(float(v)) if isinstance(v, float) else v

    for v in a.variants:
        for m in a.metrics:
            w.writerow(["variants", v.label, m, c(v.metrics[m]), "", "", "", len(v.runs)])
    for e in a.effect:
        w.writerow(["effect", e["group"], e["metric"], c(e["mean_diff"]), c(e["rel_pct"]),
                    c(e["ci_low"]), c(e["ci_high"]), e["n_pairs"]])
    return buf.getvalue()


def _render_json(a: Analysis) -> str:
    doc = {
        "out": str(a.out),
        "varying": a.varying,
        "metrics": a.metrics,
        "variants": [
            {"variant": v.label, "params": v.params, "seeds": v.seeds, "n_runs": len(v.runs), "metrics": v.metrics}
            for v in a.variants
        ],
        "effect": a.effect,
        "runs": [
            {"experiment": r.experiment, "run": r.run_id, "seed": r.seed, "variant": a.run_labels.get(r.key), "metrics": r.metrics}
            for r in a.runs
        ],
    }
    return json.dumps(_json_value(doc), indent=1, default=str) + "\n"


def render(a: Analysis, fmt: str = "rich") -> str:
    """The per-variant and on-vs-off tables as text in one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return {
        "rich": _render_rich,
        "csv": _render_csv,
        "json": _render_json,
        "markdown": _render_markdown,
    }[fmt](a)


def headline_sentences(a: Analysis) -> list[str]:
    """One sentence per group of the other varying parameters (a regime):
    the change of free 2 MiB blocks per GiB with balloon compaction, while
    the balloons are inflated and after they are returned, against the
    pre-seed kernel, with the 95% intervals over seeds."""
    by_group: dict[str, dict[str, dict]] = {}
    for e in a.effect:
        by_group.setdefault(e["group"], {})[e["metric"]] = e
    out = []
    for group, metrics in by_group.items():
        inflated = metrics.get("free_2mib_per_gib_inflated")
        returned = metrics.get("free_2mib_per_gib_returned")
        if not inflated or not returned:
            continue
        out.append(
            f"{group}: with balloon compaction, free 2 MiB blocks per GiB change by "
            f"{_num(inflated['mean_diff'])} ({_num(inflated['rel_pct'])}%) while balloons are inflated and by "
            f"{_num(returned['mean_diff'])} ({_num(returned['rel_pct'])}%) after they are returned, vs the "
            f"pre-seed kernel (95% intervals {_ci(inflated)} and {_ci(returned)}, "
            f"{inflated['n_pairs']} seed pairs)"
        )
    return out
