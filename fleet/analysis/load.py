"""Reading a results folder into DuckDB: its committed runs, their parameters
and variants, and a view ``samples`` over their samples files.

DuckDB reads the committed runs' samples Parquet files (never the staging of a
run being written, nor a samples partition left without its runs partition by
an interrupted run); the runs table gives each run's parameters.

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

Per variant: the mean over its runs (seeds) of each per-run metric, NaN runs
skipped.

Balloon compaction on and off (``on_off_pairs``): an on-run and the off-run
with the same other varying parameters and the same seed are a pair; their
phase metrics are paired (metrics.pair_phases), those of a run without a
partner are its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..results import (
    ResultsError,
    committed_files,
    one_line,
    raise_for_unreadable,
    read_table,
    uncommitted_runs,
)
from .metrics import REQUIRED_COLUMNS, nan_mean, pair_phases, run_metrics

SEED_KEY = "experiment.seed"
REGIME_KEY = "experiment.regime"
COMPACTION_KEY = "kernel.balloon_compaction"
ERA_KEY = "kernel.era"
PARAM_PREFIXES = ("experiment.", "kernel.", "hosts.", "policy.", "guests[")


def sort_key(v: Any) -> tuple:
    """Orders parameter values: numbers, then strings, then None."""
    if v is None:
        return (2, "")
    if isinstance(v, (bool, int, float)):
        return (0, float(v))
    return (1, str(v))


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "all runs"


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def parquet_source(paths: Sequence[Path]) -> str:
    """Parquet files of one results table as a DuckDB table expression."""
    return (
        f"read_parquet({_sql_list(paths)}, hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
    )


@dataclass
class Run:
    experiment: str
    run_id: str
    params: dict[str, Any]  # every parameter of the run
    seed: Any
    metrics: dict[str, float] = field(default_factory=dict)
    unpaired: dict[str, float] = field(default_factory=dict)  # phase metrics of its own phases (metrics.pair_phases)

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

    @property
    def source_sql(self) -> str:
        """The samples files as a DuckDB table expression (the ``samples``
        view's, for a query in another folder's connection)."""
        return parquet_source(self.samples_files)

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

    def samples_columns(self) -> set[str]:
        return {n for (n,) in self.con.sql("select column_name from (describe samples)").fetchall()}


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
    varying = [c for c in param_cols if c != SEED_KEY and len({repr(run.params[c]) for run in runs}) > 1]
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

    res = Results(out, runs, varying, label_keys, files, uncommitted, duckdb.connect())
    try:
        res.con.sql(f"create view samples as select * from {res.source_sql}")
    except duckdb.Error as exc:
        res.con.close()
        raise_for_unreadable(files)
        raise ResultsError(f"cannot read the samples of {out}: {one_line(exc)}") from None
    return res


@dataclass
class Variant:
    label: str
    params: dict[str, Any]
    runs: list[Run]
    metrics: dict[str, float]
    unpaired: dict[str, float] = field(default_factory=dict)  # mean over runs of Run.unpaired

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.runs]


def variants(res: Results, metrics: list[str]) -> list[Variant]:
    """The runs grouped by variant, in order of the varying parameters, each
    with the mean over its seeds of every metric."""
    groups: dict[str, list[Run]] = {}
    params_of: dict[str, dict] = {}
    for run in sorted(res.runs, key=lambda r: ([sort_key(r.params.get(k)) for k in res.varying], sort_key(r.seed))):
        p = res.variant_params(run)
        label = res.label_of(run)
        groups.setdefault(label, []).append(run)
        params_of[label] = p
    return [
        Variant(
            label,
            params_of[label],
            runs,
            {m: nan_mean(r.metrics.get(m) for r in runs) for m in metrics},
            {m: nan_mean(r.unpaired.get(m) for r in runs) for m in runs[0].unpaired},
        )
        for label, runs in groups.items()
    ]


def is_on(v: Any) -> bool | None:
    """A balloon_compaction value as on/off (None: neither)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "on", "1", "yes"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "off", "0", "no"):
        return False
    return None


def on_off_pairs(res: Results) -> list[tuple[Run, Run]]:
    """(on, off) runs of balloon compaction with the same other varying
    parameters and the same seed, in order of those parameters and the seed
    (none when it does not vary; the first run of a duplicate is taken)."""
    if COMPACTION_KEY not in res.varying:
        return []
    others = [k for k in res.varying if k != COMPACTION_KEY]
    on: dict[tuple, Run] = {}
    off: dict[tuple, Run] = {}
    for run in res.runs:
        state = is_on(run.params.get(COMPACTION_KEY))
        if state is None:
            continue
        key = (tuple(repr(run.params.get(k)) for k in others), repr(run.seed))
        (on if state else off).setdefault(key, run)
    keys = sorted(
        set(on) & set(off), key=lambda k: ([sort_key(on[k].params.get(o)) for o in others], sort_key(on[k].seed))
    )
    return [(on[k], off[k]) for k in keys]


@contextmanager
def loaded(out_dir: str | Path) -> Iterator[tuple[Results, list[str], list[Variant]]]:
    """A results folder with its per-run metrics and variants, for the span
    of a with-block (the DuckDB connection is closed after it). The phase
    metrics of the runs of `on_off_pairs` are their paired values
    (metrics.pair_phases): an on-run and its off-run average the same guests
    at the same times."""
    res = load(out_dir)
    try:
        metrics = run_metrics(res)
        pair_phases(res, on_off_pairs(res))
        yield res, metrics, variants(res, metrics)
    finally:
        res.con.close()
