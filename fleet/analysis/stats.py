"""The on-vs-off effect of balloon compaction over seed pairs, and
:func:`analyze`, which puts it together with the per-run metrics and variants.

On vs off (``balloon_compaction_effect``): when ``kernel.balloon_compaction``
is one of the varying parameters, each on-run is paired with the off-run that
has the same other parameters and the same seed (load.on_off_pairs); the
phase metrics (``inflated``, ``returned``) of a pair are taken over the
guests' joint phases (metrics.pair_phases: the sample times at which a guest
is in the phase in both runs), so that on and off average the same guests at
the same times. Pairs are grouped by the
other varying parameters (e.g. per regime). For each group and metric over
its pairs with both values defined: ``mean_diff`` = mean of (on - off);
``rel_pct`` = ``100 * mean_diff / mean(off)`` (NaN if mean(off) = 0);
``ci_low``/``ci_high`` = the 95% Student t interval ``mean_diff -/+
t(0.975, n-1) * sd / sqrt(n)`` over the n seed pairs (NaN with one pair).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .load import COMPACTION_KEY, Results, Run, Variant, loaded, on_off_pairs
from .metrics import NAN, isnan


def t_quantile_975(df: int) -> float:
    """t(0.975, df): the two-sided 95% quantile of Student's t with df
    degrees of freedom (NaN for df < 1). scipy is imported on first use: the
    engine imports this package for RunSummary."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def paired_stats(pairs: list[tuple[float, float]]) -> dict:
    """(on, off) pairs -> mean_diff, rel_pct, ci_low, ci_high, n_pairs."""
    pairs = [(a, b) for a, b in pairs if not isnan(a) and not isnan(b)]
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
    """Per group of the other varying parameters and per metric, the paired
    stats of the on- and off-runs of one seed (see the module docstring)."""
    if COMPACTION_KEY not in res.varying:
        return []
    others = [k for k in res.varying if k != COMPACTION_KEY]
    groups: dict[str, tuple[dict, list[tuple[Run, Run]]]] = {}
    for a, b in on_off_pairs(res):
        gp = {k: a.params.get(k) for k in others}
        groups.setdefault(res.label_of(a, exclude=[COMPACTION_KEY]), (gp, []))[1].append((a, b))
    out = []
    for label, (gp, pairs) in groups.items():
        for m in metrics:
            stats = paired_stats([(a.metrics.get(m, NAN), b.metrics.get(m, NAN)) for a, b in pairs])
            out.append({"group": label, "group_params": gp, "metric": m, **stats})
    return out


@dataclass
class Analysis:
    """What ``fleet analyze`` reports on a results folder."""

    out: Path
    varying: list[str]
    metrics: list[str]
    runs: list[Run]
    variants: list[Variant]
    effect: list[dict]
    compaction_varies: bool
    uncommitted: list[str]
    run_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # run key -> variant label


def analyze(out_dir: str | Path) -> Analysis:
    """Per-run metrics, per-variant means and the on-vs-off effect of a
    results folder (see the docstrings of load, metrics and this module).
    Raises ResultsError."""
    with loaded(out_dir) as (res, metrics, variants):
        effect = _effect(res, metrics)
    labels = {run.key: res.label_of(run) for run in res.runs}
    return Analysis(
        res.out,
        res.varying,
        metrics,
        res.runs,
        variants,
        effect,
        COMPACTION_KEY in res.varying,
        res.uncommitted,
        labels,
    )


def balloon_compaction_effect(out_dir: str | Path) -> list[dict]:
    """The on-vs-off effect of ``kernel.balloon_compaction``: per group of the
    other varying parameters (``group``, a label such as
    ``guests[0].workload=server``, or ``all runs``; ``group_params``, a dict)
    and per metric, a dict with ``metric``, ``mean_diff`` (on - off),
    ``rel_pct`` (vs off), ``ci_low``, ``ci_high`` (95% t-interval over the
    seed pairs, NaN with one pair), ``n_pairs``, and ``mean_on``/``mean_off``.
    Empty if balloon compaction does not vary in the folder."""
    return analyze(out_dir).effect
