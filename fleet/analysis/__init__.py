"""``fleet analyze``, ``fleet compare``, ``fleet plot`` and ``fleet report``: what a results
folder says, per variant and balloon compaction on vs off.

- :mod:`.load`: reading a results folder into DuckDB (runs, parameters,
  variants, the ``samples`` view); :func:`loaded` opens one with its metrics.
- :mod:`.metrics`: the one registry of per-run metrics, computed in DuckDB
  for ``fleet analyze``;
- :mod:`.summary`: the same metrics as a run's rows stream by, for the runs
  table (:class:`RunSummary`).
- :mod:`.stats`: the on-vs-off effect (paired by seed and, for the phases,
  by guest: metrics.pair_phases; t intervals) and
  :func:`analyze`, which puts a folder's analysis together.
- :mod:`.render`: an analysis as rich, csv, json or markdown text, and the
  headline sentences.
- :mod:`.compare`: ``fleet compare``, two sides of runs metric by metric
  (means, stddevs, Welch's t-test), as text or markdown.
- :mod:`.grid`: the map of an ab-map-like sweep (on - off per grid cell
  and moment, paired by guest and seed).
- :mod:`.plots`: the PNG figures of ``fleet plot``.
- :mod:`.report`: the HTML page of ``fleet report`` (figures, tables,
  headline, spec, provenance).
"""

from .load import COMPACTION_KEY, SEED_KEY, Results, Run, Variant, load, loaded
from .metrics import RUN_METRICS, metric_label
from .plots import FIGURES, plot_results
from .render import CSV_COLUMNS, FORMATS, headline_sentences, headline_text, render
from .stats import (
    Analysis,
    analyze,
    balloon_compaction_effect,
    paired_stats,
    t_quantile_975,
)
from .summary import RunSummary

__all__ = [
    "COMPACTION_KEY",
    "CSV_COLUMNS",
    "FIGURES",
    "FORMATS",
    "RUN_METRICS",
    "SEED_KEY",
    "Analysis",
    "Results",
    "Run",
    "RunSummary",
    "Variant",
    "analyze",
    "balloon_compaction_effect",
    "headline_sentences",
    "headline_text",
    "load",
    "loaded",
    "metric_label",
    "paired_stats",
    "plot_results",
    "render",
    "t_quantile_975",
]
