"""`fleet analyze --scorecard`: one row per variant (policy, overcommit
regime, balloon compaction, ...) of what a capacity planner weighs when
choosing a host policy, each figure the mean over the variant's seeds.

Per run:

* ``reclaimed_gib_min``: guest memory the host backs with neither RAM nor
  swap, integrated over the run (GiB x minutes): over every samples row,
  ``memory_bytes - (host_populated_pages + host_swapped_pages) * 4096`` times
  the sample interval. It counts what the policy took back (balloon,
  virtio-mem unplug, discarded free page reports) and memory a guest never
  touched, which every policy shares; compare policies against ``none``. A
  guest the OOM killer ended has no rows after its kill, so its freed memory
  is not counted as reclaimed.
* ``psi_mean``, ``psi_p95``: the mean and the 95th percentile over every
  guest's samples of ``psi_memory_some`` (the share of each sample interval
  stalled in direct reclaim, direct compaction or host swap-in).
* ``oom_kills``: the runs table's host OOM kills.
* ``swap_gib``: host swap traffic, out plus in (the hosts table's cumulative
  counters at the run's end, summed over hosts).
* ``free_2mib_per_gib``: free 2 MiB blocks per GiB of guest memory, the mean
  over the guests' samples.
* ``host_huge_coverage``: the share of populated guest memory the hosts map
  with huge pages, the mean over the hosts' samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..memory.constants import PAGE_SIZE
from ..results import ResultsError, committed_files, read_table
from ..units import GIB
from .load import Results, load, parquet_source, variants
from .metrics import nan_mean

COLUMNS = (
    ("reclaimed_gib_min", "host memory reclaimed, GiB·min"),
    ("psi_mean", "psi_memory_some, mean"),
    ("psi_p95", "psi_memory_some, p95"),
    ("oom_kills", "OOM kills"),
    ("swap_gib", "host swap traffic, GiB"),
    ("free_2mib_per_gib", "free 2 MiB blocks per GiB"),
    ("host_huge_coverage", "host huge-page coverage"),
)

_SAMPLES_SQL = f"""
select experiment, run,
       sum(memory_bytes - (host_populated_pages + host_swapped_pages) * {PAGE_SIZE}.0)::double,
       avg(psi_memory_some),
       quantile_cont(psi_memory_some, 0.95),
       avg(free_2mib_blocks / (memory_bytes / {GIB}.0))
from samples
group by experiment, run
order by experiment, run
"""

_HOSTS_SQL = """
select experiment, run, sum(cov_sum) / sum(n), sum(swap)::double
from (select experiment, run, host, sum(host_huge_coverage) as cov_sum, count(*) as n,
             max(host_swap_in_bytes) + max(host_swap_out_bytes) as swap
      from hosts group by experiment, run, host)
group by experiment, run
order by experiment, run
"""


@dataclass
class ScorecardRow:
    label: str
    params: dict[str, Any]
    seeds: list[Any]
    values: dict[str, float]


def _run_values(res: Results) -> dict[tuple[str, str], dict[str, float]]:
    import duckdb

    out: dict[tuple[str, str], dict[str, float]] = {}
    intervals = {r.key: r.params.get("experiment.sample_interval_s") for r in res.runs}
    for e, r, unbacked, psi_mean, psi_p95, free2m in res.query(_SAMPLES_SQL):
        interval = intervals.get((e, r))
        reclaimed = unbacked * interval / 60.0 / GIB if isinstance(interval, (int, float)) else float("nan")
        out[(e, r)] = {
            "reclaimed_gib_min": reclaimed,
            "psi_mean": psi_mean,
            "psi_p95": psi_p95,
            "free_2mib_per_gib": free2m,
        }
    files = committed_files(res.out, "hosts")
    if files:
        try:
            res.con.sql(f"create or replace view hosts as select * from {parquet_source(files)}")
            rows = res.con.sql(_HOSTS_SQL).fetchall()
        except duckdb.Error as exc:
            raise ResultsError(f"cannot read the hosts table of {res.out}: {str(exc).splitlines()[0]}") from None
        for e, r, coverage, swap in rows:
            v = out.setdefault((e, r), {})
            v["host_huge_coverage"] = coverage
            v["swap_gib"] = swap / GIB
    for row in read_table(res.out, "runs").to_pylist():
        if row.get("oom_kills") is not None:
            out.setdefault((row["experiment"], row["run"]), {})["oom_kills"] = float(row["oom_kills"])
    return out


def scorecard(out_dir: str | Path) -> list[ScorecardRow]:
    """The scorecard of a results folder (see the module docstring); raises
    ResultsError for a damaged or partial folder."""
    res = load(out_dir)
    try:
        values = _run_values(res)
    finally:
        res.con.close()
    return [
        ScorecardRow(
            v.label,
            v.params,
            v.seeds,
            {c: nan_mean(values.get(r.key, {}).get(c) for r in v.runs) for c, _ in COLUMNS},
        )
        for v in variants(res, [])
    ]


def render_scorecard(rows: list[ScorecardRow], fmt: str = "rich") -> str:
    """The scorecard as aligned text (rich and plain), markdown, csv or json."""
    import csv
    import io
    import json
    import math

    from .render import number_text

    heads = ["variant", "seeds", *(label for _, label in COLUMNS)]
    cells = [
        [r.label, ", ".join(str(s) for s in r.seeds), *(_cell(c, r.values[c], number_text) for c, _ in COLUMNS)]
        for r in rows
    ]
    if fmt == "json":
        doc = [
            {
                "variant": r.label,
                "params": r.params,
                "seeds": r.seeds,
                **{c: (v if math.isfinite(v) else None) for c, v in r.values.items()},
            }
            for r in rows
        ]
        return json.dumps(doc, indent=1, default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["variant", "seeds", *(c for c, _ in COLUMNS)])
        for r in rows:
            w.writerow(
                [r.label, " ".join(map(str, r.seeds)), *("" if math.isnan(v) else repr(v) for v in r.values.values())]
            )
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(heads) + " |", "| --- | --- | " + " | ".join("---:" for _ in COLUMNS) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    line = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [line.format(*heads), "  ".join("-" * w for w in widths), *(line.format(*row) for row in cells)]
    return "\n".join(out) + "\n"


def _cell(column: str, value: float, number_text) -> str:
    """Shares as percent with two decimals; the rest as render does."""
    if column.startswith("psi") or column == "host_huge_coverage":
        return "n/a" if value != value else f"{100 * value:.2f}%"
    return number_text(value)
