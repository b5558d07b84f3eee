"""``fleet compare``: two sides of runs, metric by metric, in the style of
mmtests' compare-kernels (one baseline A, one side B compared with it).

The sides
    Two folders (:func:`compare_folders`): each folder's runs form one side.
    When either folder has several variants (see load.py), the folders are
    compared variant by variant: the runs of both are labelled by the
    parameters that either folder's variant labels name, and there is one
    comparison per label that both folders have; a label found in only one
    of them is left out, and the report says so (``notes``).
    One folder by a key (:func:`compare_by`, default
    ``kernel.balloon_compaction``): the variants that differ only in that
    key. The runs are grouped by the other varying parameters and, within a
    group, by the key's value; the first value (load.sort_key order: False
    before True, numbers ascending) is the baseline A, and every other value
    is a side B of a comparison of its own.

The phase metrics (``inflated``, ``returned``: metrics.PHASE_METRICS) are
paired: a run of A and the run of B with the same seed are a pair, and both
average the pair's joint phases (metrics.paired_guests: the sample times at
which a guest, same host and guest index, is in the phase in both runs), so
that A and B average the same guests at the same times; a run without a
partner on the other side has no phase value.

Per metric (the analyzed metrics of metrics.RUN_METRICS, a pass metric per
stress-highalloc pass found) and side, over the side's runs where the metric
is defined (NaN runs skipped; a metric defined on neither side is left out):
    ``mean``: the arithmetic mean, or for a rate (Metric.rate: the success
    percentages ``thp_fault_success_pct`` and
    ``highalloc_pass<i>_success_pct``) the harmonic mean, n / sum(1 / x), as
    mmtests reports its rates (Hmean); 0 if a run's rate is 0 (the limit;
    mmtests gives NaN there), NaN if one is negative;
    ``stddev``: the sample standard deviation (n - 1) of the runs' values
    (NaN with fewer than 2 runs), for rates too;
    ``diff``: B - A of the two means; ``pct``: 100 * diff / A (NaN if A = 0);
    ``p``: the two-sided p-value of Welch's t-test of the two sides' values
    (scipy.stats.ttest_ind with equal_var=False): NaN when a side has fewer
    than 2 runs or both sides are the same constant, 0 when both are
    constants that differ;
    ``significant``: p < ALPHA (5%). The text table marks it as mmtests
    prints a change its Welch's test finds significant (PrintGeneric.pm
    turns the parentheses into stars): ``(  1.55%)``, ``*  1.55%*``.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .load import COMPACTION_KEY, Results, Run, loaded, sort_key
from .metrics import NAN, PHASE_METRICS, RUN_METRICS, isnan, metric_label, paired_phase_metrics
from .render import number_text

ALPHA = 0.05  # significance level of the mark
FORMATS = ("text", "markdown")


class CompareError(Exception):
    """Nothing to compare: no common metrics or variants, or a bad key."""


class ByKeyError(CompareError):
    """The --by key is not a varying parameter of the folder."""


def is_rate(name: str) -> bool:
    """Whether a metric name of metrics.run_metrics is a success rate (Metric.rate)."""
    return any(m.rate and m.label_of(name) is not None for m in RUN_METRICS)


def harmonic_mean(values: Sequence[float]) -> float:
    """n / sum(1 / x); 0 if an x is 0, NaN if one is negative or there are none."""
    if not values or any(v < 0 for v in values):
        return NAN
    if any(v == 0 for v in values):
        return 0.0
    return len(values) / sum(1 / v for v in values)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (NaN when a side has < 2 values)."""
    if len(a) < 2 or len(b) < 2:
        return NAN
    from scipy.stats import ttest_ind

    with warnings.catch_warnings():  # constant sides: scipy warns and answers NaN or 0
        warnings.simplefilter("ignore")
        return float(ttest_ind(a, b, equal_var=False).pvalue)


@dataclass(frozen=True)
class SideStats:
    n: int  # runs with the metric defined
    mean: float
    stddev: float


def side_stats(values: Iterable[Any], rate: bool) -> tuple[SideStats, list[float]]:
    vals = [float(v) for v in values if not isnan(v)]
    if not vals:
        return SideStats(0, NAN, NAN), vals
    mean = harmonic_mean(vals) if rate else sum(vals) / len(vals)
    return SideStats(len(vals), mean, statistics.stdev(vals) if len(vals) > 1 else NAN), vals


@dataclass(frozen=True)
class MetricRow:
    metric: str
    label: str
    rate: bool
    a: SideStats
    b: SideStats
    diff: float
    pct: float
    p: float

    @property
    def significant(self) -> bool:
        return not isnan(self.p) and self.p < ALPHA


def compare_metric(metric: str, a_values: Iterable[Any], b_values: Iterable[Any]) -> MetricRow | None:
    """One metric's row (None if neither side has a defined value)."""
    rate = is_rate(metric)
    a, av = side_stats(a_values, rate)
    b, bv = side_stats(b_values, rate)
    if not av and not bv:
        return None
    diff = b.mean - a.mean
    pct = 100.0 * diff / a.mean if not isnan(diff) and a.mean != 0 else NAN
    return MetricRow(metric, metric_label(metric), rate, a, b, diff, pct, welch_p(av, bv))


@dataclass
class Comparison:
    """Side A against side B over the metrics."""

    title: str  # the variant or group compared ("all runs" when nothing else varies)
    a_label: str  # what A and B are here ("" when the report's heading says it: two folders)
    b_label: str
    a_runs: list[Run]
    b_runs: list[Run]
    rows: list[MetricRow]


@dataclass
class Report:
    heading: str
    a_name: str
    b_name: str
    comparisons: list[Comparison]
    notes: list[str] = field(default_factory=list)


def _compare(
    title: str,
    a_label: str,
    b_label: str,
    a: list[Run],
    b: list[Run],
    metrics: list[str],
    res: Results,
    other: Results | None = None,
) -> Comparison:
    """A's runs (of `res`) against B's (of `other`, default `res`); the
    phase metrics over the runs paired by seed (see the module docstring)."""
    paired = _paired(a, b, res, other)
    rows = [
        compare_metric(m, *paired[m])
        if m in paired
        else compare_metric(m, (r.metrics.get(m, NAN) for r in a), (r.metrics.get(m, NAN) for r in b))
        for m in metrics
    ]
    return Comparison(title, a_label, b_label, a, b, [r for r in rows if r is not None])


def _paired(
    a: list[Run], b: list[Run], res: Results, other: Results | None
) -> dict[str, tuple[list[float], list[float]]]:
    """Per phase metric, the values of A's and of B's runs paired by seed
    (the first run of a seed on each side) over their joint phases
    (metrics.paired_phase_metrics); a run without a partner has none."""
    b_of: dict[str, Run] = {}
    for run in b:
        b_of.setdefault(repr(run.seed), run)
    pairs, seen = [], set()
    for run in a:
        seed = repr(run.seed)
        if seed in b_of and seed not in seen:
            seen.add(seed)
            pairs.append((run.key, b_of[seed].key))
    values = paired_phase_metrics(res, pairs, other)
    return {m.name: ([v[m.name][0] for v in values], [v[m.name][1] for v in values]) for m in PHASE_METRICS}


def _by_label(res: Results, keys: list[str]) -> dict[str, list[Run]]:
    """The runs grouped by their values of `keys` (labelled as load labels variants)."""
    groups: dict[str, list[Run]] = {}
    for run in sorted(res.runs, key=lambda r: ([sort_key(r.params.get(k)) for k in keys], sort_key(r.seed))):
        groups.setdefault(", ".join(f"{k}={run.params.get(k)}" for k in keys) or "all runs", []).append(run)
    return groups


def _checked(report: Report) -> Report:
    if not any(c.rows for c in report.comparisons):
        raise CompareError(f"no common metrics: no metric has a value in both {report.a_name} and {report.b_name}")
    return report


def compare_folders(a: Results, a_metrics: list[str], b: Results, b_metrics: list[str]) -> Report:
    """Folder A's runs against folder B's, variant by variant when either has
    several (see the module docstring). Raises CompareError."""
    metrics = [m for m in a_metrics if m in b_metrics]
    a_name, b_name = str(a.out), str(b.out)
    if not metrics:
        raise CompareError(f"no common metrics between {a_name} and {b_name}")
    keys = [*a.label_keys, *(k for k in b.label_keys if k not in a.label_keys)]
    report = Report(f"A = {a_name}, B = {b_name}", a_name, b_name, [])
    if not keys:
        report.comparisons.append(_compare("all runs", "", "", a.runs, b.runs, metrics, a, b))
        return _checked(report)
    va, vb = _by_label(a, keys), _by_label(b, keys)
    common = [label for label in va if label in vb]
    if not common:
        raise CompareError(
            f"no common variants: {a_name} has {'; '.join(va)}, {b_name} has {'; '.join(vb)} "
            "(compare the variants of one folder with --by KEY)"
        )
    only = [(name, [x for x in v if x not in common]) for name, v in ((a_name, va), (b_name, vb))]
    left_out = [f"{name} only: {'; '.join(xs)}" for name, xs in only if xs]
    report.notes.append(
        f"variants by {', '.join(keys)}: compared variant by variant, the {len(common)} that both folders have"
        + (f"; left out ({', '.join(left_out)})" if left_out else "")
    )
    report.comparisons += [_compare(label, "", "", va[label], vb[label], metrics, a, b) for label in common]
    return _checked(report)


def compare_by(res: Results, metrics: list[str], key: str = COMPACTION_KEY) -> Report:
    """The variants of one folder that differ only in `key`, the first value
    the baseline (see the module docstring). Raises ByKeyError for a key
    that does not vary, CompareError when no two variants differ only in it."""
    if key not in res.varying:
        if any(key in run.params for run in res.runs):
            seen = ", ".join(sorted({str(run.params.get(key)) for run in res.runs}))
            why = f"does not vary in {res.out} (every run has {key}={seen})"
        else:
            why = f"is not a run parameter of {res.out}"
        raise ByKeyError(f"{key} {why}; the parameters that vary there: {', '.join(res.varying) or 'none'}")
    others = [k for k in res.varying if k != key]
    values: dict[str, Any] = {}
    groups: dict[tuple, tuple[str, dict[str, list[Run]]]] = {}
    for run in sorted(res.runs, key=lambda r: ([sort_key(r.params.get(k)) for k in others], sort_key(r.seed))):
        value = run.params.get(key)
        values.setdefault(repr(value), value)
        label = res.label_of(run, exclude=[key])
        group = groups.setdefault(tuple(repr(run.params.get(k)) for k in others), (label, {}))
        group[1].setdefault(repr(value), []).append(run)
    order = sorted(values, key=lambda v: sort_key(values[v]))
    base = order[0]
    a_name = f"{key}={values[base]}"
    b_name = ", ".join(f"{key}={values[v]}" for v in order[1:])
    report = Report(f"{res.out} by {key}: A = {a_name} (the baseline), B = {b_name}", a_name, b_name, [])
    for label, by_value in groups.values():
        if base not in by_value:
            report.notes.append(f"{label}: no run with {key}={values[base]}, left out")
            continue
        if len(by_value) == 1:
            report.notes.append(f"{label}: only runs with {key}={values[base]}, left out")
        for v in order[1:]:
            if v in by_value:
                b_label = f"{key}={values[v]}"
                title = label if len(order) == 2 else f"{label}, {b_label}"
                report.comparisons.append(_compare(title, a_name, b_label, by_value[base], by_value[v], metrics, res))
    if not report.comparisons:
        raise CompareError(f"no two variants of {res.out} differ only in {key}")
    return _checked(report)


def compare(dirs: Sequence[str | Path], by: str | None = None) -> Report:
    """Load one folder (compared by `by`, default kernel.balloon_compaction)
    or two (compared with each other) and compare them. Raises ResultsError
    for a folder that is not a results folder, CompareError (ByKeyError)."""
    if len(dirs) == 1:
        with loaded(dirs[0]) as (res, metrics, _):
            return compare_by(res, metrics, by or COMPACTION_KEY)
    if len(dirs) != 2 or by is not None:
        raise CompareError("give one folder (with --by KEY) or two folders (without --by)")
    with loaded(dirs[0]) as (a, a_metrics, _), loaded(dirs[1]) as (b, b_metrics, _):
        return compare_folders(a, a_metrics, b, b_metrics)


# --------------------------------------------------------------------------
# rendering


def _seeds(runs: list[Run]) -> str:
    many = "s" * (len(runs) != 1)
    return f"{len(runs)} run{many} (seed{many} {', '.join(str(r.seed) for r in runs)})"


def _p(p: float) -> str:
    return "n/a" if isnan(p) else "<0.0001" if p < 0.0001 else f"{p:.4f}"


def _change(row: MetricRow) -> str:
    """The change as mmtests prints it: ``(  1.55%)``, ``*  1.55%*`` when significant."""
    left, right = ("*", "*") if row.significant else ("(", ")")
    return left + (f"{'n/a':>8}" if isnan(row.pct) else f"{row.pct:7.2f}%") + right


def _cells(row: MetricRow) -> list[str]:
    return [
        "Hmean" if row.rate else "Amean",
        row.label,
        number_text(row.a.mean),
        number_text(row.a.stddev),
        number_text(row.b.mean),
        number_text(row.b.stddev),
        number_text(row.diff),
    ]


HEADS = ["", "metric", "A mean", "A stddev", "B mean", "B stddev", "B - A"]


def _legend(report: Report) -> list[str]:
    return [
        f"fleet compare: {report.heading}",
        f"per metric: mean over runs (Amean; Hmean, the harmonic mean, for success rates), sample stddev,"
        f" B - A and its % of A; p of Welch's t-test, * around the % when p < {ALPHA}",
        *report.notes,
    ]


def _section(c: Comparison) -> str:
    def side(name: str, label: str, runs: list[Run]) -> str:
        return f"{name}{' ' + label if label else ''}: {_seeds(runs)}"

    return f"{c.title}; {side('A', c.a_label, c.a_runs)}; {side('B', c.b_label, c.b_runs)}"


def render_text(report: Report) -> str:
    """Aligned columns, one table per comparison, as compare-kernels prints them."""
    lines = _legend(report)
    for c in report.comparisons:
        rows = [[*_cells(r), _change(r), _p(r.p)] for r in c.rows]
        heads = [*HEADS, "% of A", "p"]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
        lines += ["", f"== {_section(c)}", fmt.format(*heads).rstrip(), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    """One markdown table per comparison; `*` in the last column when p < ALPHA."""

    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("*", "\\*")

    lines = [cell(line) + "  " for line in _legend(report)]
    for c in report.comparisons:
        heads = [*HEADS, "% of A", "p (Welch)", f"p < {ALPHA}"]
        lines += ["", f"#### {cell(_section(c))}", "", "| " + " | ".join(heads) + " |"]
        lines.append("| " + " | ".join("---" if i < 2 else "---:" for i in range(len(heads))) + " |")
        for r in c.rows:
            cells = [*_cells(r), number_text(r.pct), _p(r.p), "*" if r.significant else ""]
            lines.append("| " + " | ".join(cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def render_compare(report: Report, fmt: str = "text") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return render_text(report) if fmt == "text" else render_markdown(report)
