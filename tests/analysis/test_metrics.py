"""The per-run metrics (fleet.analysis.metrics): their definitions on hand-made
folders, and the one registry behind both the runs table and fleet analyze."""

import math

import pytest

from fleet.analysis import RUN_METRICS, RunSummary, analyze, metric_label
from fleet.results import read_table

from .folders import commit, flat_run, phases_rows, sample


def test_phases_and_per_run_metrics(phases_dir):
    a = analyze(phases_dir)
    (run,) = a.runs
    m = run.metrics
    assert m["free_2mib_per_gib_mean"] == pytest.approx((32 / 6 + 31 / 6) / 2)
    assert m["free_2mib_per_gib_end"] == pytest.approx((7 + 6) / 2)
    assert m["free_2mib_per_gib_inflated"] == pytest.approx(4.0)  # guest 0 only
    assert m["free_2mib_per_gib_returned"] == pytest.approx(6.0)
    assert m["thp_fault_success_pct"] == pytest.approx(100 * 40 / 100)  # (30+10) / (30+10+10+50)
    # pass 1: last values 80 (guest 0) and 60 (guest 1, prefixed key); pass 2: NaN skipped, 30
    assert m["highalloc_pass1_success_pct"] == pytest.approx(70.0)
    assert m["highalloc_pass2_success_pct"] == pytest.approx(30.0)
    assert m["balloon_migrate"] == 12 and m["pgmigrate_success"] == 150 and m["host_thp_split_pmd"] == 7
    # mean over time of the total balloon: 460/6 pages
    assert m["host_reclaimed_mib"] == pytest.approx(460 / 6 * 4096 / (1 << 20))
    assert a.metrics.index("highalloc_pass1_success_pct") == a.metrics.index("thp_fault_success_pct") + 1
    assert a.varying == [] and [v.label for v in a.variants] == ["all runs"]
    assert a.effect == [] and not a.compaction_varies


def test_empty_phases_are_nan(tmp_path):
    out = tmp_path / "flat"
    flat_run(out, "a", 3, seed=1, compaction=True, workload="mix")
    with_balloon = analyze(out).runs[0].metrics
    assert with_balloon["free_2mib_per_gib_inflated"] == 3  # balloon 100,200,300: inflated at 200, 300
    assert math.isnan(with_balloon["free_2mib_per_gib_returned"])  # never returned
    out2 = tmp_path / "noballoon"
    commit(out2, "a", [sample(t, free_2mib_blocks=2) for t in (10, 20)], seed=1)
    m = analyze(out2).runs[0].metrics
    assert math.isnan(m["free_2mib_per_gib_inflated"]) and math.isnan(m["free_2mib_per_gib_returned"])
    assert math.isnan(m["thp_fault_success_pct"])  # no THP fault at all
    assert not any(k.startswith("highalloc_") for k in m)


def test_labels_come_from_the_registry():
    assert metric_label("free_2mib_per_gib_inflated") == "free 2MiB blocks/GiB, inflated"
    assert metric_label("highalloc_pass3_success_pct") == "stress-highalloc pass 3 success %"
    assert metric_label("no_such_metric") == "no_such_metric"


def test_runs_table_and_analyze_take_their_metrics_from_one_registry(tmp_path):
    """A run whose runs row is RunSummary's over its rows (streamed in two
    chunks, as the engine does): every registry metric in both the runs
    table and fleet analyze has the same value in both."""
    rows = phases_rows()
    summary = RunSummary()
    summary.add(rows[:5])
    summary.add(rows[5:])
    out = tmp_path / "summary"
    commit(out, "seed=1", rows, seed=1, hosts=2, columns=summary.metrics())
    (table_row,) = read_table(out, "runs").to_pylist()
    analyzed = analyze(out).runs[0].metrics

    assert (
        list(summary.metrics())
        == [m.column for m in RUN_METRICS if m.column]
        == [
            "guests",
            "free_2mib_blocks_per_gib_mean",
            "free_2mib_blocks_per_gib_end",
            "thp_fault_success_pct",
            "balloon_migrate",
            "pgmigrate_success",
            "host_thp_split_pmd",
            "balloon_pages_end",
            "host_populated_pages_end",
        ]
    )
    both = [m for m in RUN_METRICS if m.column and m.analyzed]
    assert len(both) == 6
    for m in both:
        assert table_row[m.column] == pytest.approx(analyzed[m.name]), m.name
    # the runs-table-only columns, by hand: two guests, balloons 0 and 0 at
    # the end, hosts backing 1005 + 2000 pages
    assert (table_row["guests"], table_row["balloon_pages_end"], table_row["host_populated_pages_end"]) == (2, 0, 3005)
