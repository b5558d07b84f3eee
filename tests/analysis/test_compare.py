"""fleet compare (fleet.analysis.compare): means, harmonic means of rates,
stddevs, differences and Welch p-values against the raw numbers, the
sides of two folders and of one folder by a key, and every error path."""

import math
import statistics

import pytest
from scipy import stats

from fleet.analysis import RUN_METRICS
from fleet.analysis.compare import (
    ALPHA,
    CompareError,
    compare,
    harmonic_mean,
    is_rate,
    render_compare,
    welch_p,
)

from .folders import GRID, commit, flat_run, run_cli

# In flat_run every free-2MiB-blocks-per-GiB metric of a run equals its value v,
# and so does its THP fault success % (v allocations and 100 - v fallbacks).
FREE = "free_2mib_per_gib_mean"
THP = "thp_fault_success_pct"


def welch_by_hand(a, b):
    """Welch's t and the Welch-Satterthwaite degrees of freedom, two-sided p."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.mean(b) - statistics.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * stats.t.sf(abs(t), df)


def rows_of(comparison):
    return {r.metric: r for r in comparison.rows}


def folder(out, values, *, compaction=True, workload="mix"):
    for seed, v in enumerate(values, 1):
        flat_run(out, f"seed={seed}", v, seed=seed, compaction=compaction, workload=workload)
    return out


def test_rates_are_the_success_percentages():
    rates = {m.name for m in RUN_METRICS if m.rate}
    assert rates == {"thp_fault_success_pct", "highalloc_pass<i>_success_pct"}
    assert is_rate("thp_fault_success_pct") and is_rate("highalloc_pass1_success_pct")
    assert not is_rate("free_2mib_per_gib_mean") and not is_rate("balloon_migrate")


def test_harmonic_mean_and_welch_helpers():
    assert harmonic_mean([40.0, 60.0]) == pytest.approx(2 / (1 / 40 + 1 / 60)) == pytest.approx(48.0)
    assert harmonic_mean([40.0, 60.0]) == pytest.approx(stats.hmean([40.0, 60.0]))
    assert harmonic_mean([0.0, 50.0]) == 0.0
    assert math.isnan(harmonic_mean([-1.0, 2.0])) and math.isnan(harmonic_mean([]))
    assert math.isnan(welch_p([1.0], [2.0, 3.0]))
    assert welch_p([1.0, 2.0, 3.0], [4.0, 5.0, 7.0]) == pytest.approx(welch_by_hand([1, 2, 3], [4, 5, 7]))


def test_by_compaction_against_the_raw_numbers(grid):
    report = compare([grid])  # --by kernel.balloon_compaction, the default
    assert [c.title for c in report.comparisons] == ["guests[0].workload=mix", "guests[0].workload=server"]
    assert "A = kernel.balloon_compaction=False (the baseline)" in report.heading
    mix, server = (rows_of(c) for c in report.comparisons)

    a = list(GRID[("mix", False)].values())  # 10, 12, 14
    b = list(GRID[("mix", True)].values())  # 11, 15, 14
    row = mix[FREE]
    assert (row.a.n, row.b.n) == (3, 3)
    assert row.a.mean == pytest.approx(12.0) and row.b.mean == pytest.approx(40 / 3)
    assert row.a.stddev == pytest.approx(2.0) and row.b.stddev == pytest.approx(statistics.stdev(b))
    assert row.diff == pytest.approx(40 / 3 - 12) and row.pct == pytest.approx(100 * (4 / 3) / 12)
    assert row.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert row.p == pytest.approx(welch_by_hand(a, b)) and not row.significant

    thp = mix[THP]  # the same numbers as a rate: harmonic means
    ha, hb = 3 / (1 / 10 + 1 / 12 + 1 / 14), 3 / (1 / 11 + 1 / 15 + 1 / 14)
    assert thp.rate and thp.a.mean == pytest.approx(ha) and thp.b.mean == pytest.approx(hb)
    assert thp.a.stddev == pytest.approx(2.0)  # the sample stddev of the values, for rates too
    assert thp.diff == pytest.approx(hb - ha) and thp.pct == pytest.approx(100 * (hb - ha) / ha)
    assert thp.p == pytest.approx(row.p)

    a, b = [20, 20], [25, 27, 30]  # server: seed 3 has no off-run; A has no variance
    row = server[FREE]
    assert (row.a.n, row.b.n) == (2, 3) and row.a.stddev == 0
    assert row.diff == pytest.approx(22 / 3) and row.pct == pytest.approx(100 * (22 / 3) / 20)
    assert row.p == pytest.approx(welch_by_hand(a, b)) and row.p < ALPHA and row.significant

    # balloon_migrate is 0 everywhere: no % of a zero A, no test of two equal constants
    assert math.isnan(mix["balloon_migrate"].pct) and math.isnan(mix["balloon_migrate"].p)
    # no run has a returned phase: the metric is left out
    assert "free_2mib_per_gib_returned" not in mix


def test_text_marks_significance_as_mmtests_does(grid):
    text = render_compare(compare([grid]))
    server = text[text.index("== guests[0].workload=server") :]
    line = next(x for x in server.splitlines() if x.startswith("Amean  free 2MiB blocks/GiB, mean"))
    assert "*  36.67%*" in line and line.split()[-1] == f"{welch_by_hand([20, 20], [25, 27, 30]):.4f}"
    mix = text[: text.index("== guests[0].workload=server")]
    assert "(  11.11%)" in mix and "Hmean  THP fault success %" in mix
    assert "(     n/a)" in mix and "n/a" in next(x for x in mix.splitlines() if "balloon_migrate" in x)
    widths = {len(x) for x in server.splitlines()[1:] if x.startswith(("Amean", "Hmean", "-----"))}
    assert len(widths) == 1  # aligned columns


def test_two_folders_each_one_side(tmp_path):
    a = [10.0, 12.0, 17.0]
    b = [20.0, 21.0, 25.0]
    report = compare([folder(tmp_path / "a", a, compaction=False), folder(tmp_path / "b", b)])
    assert len(report.comparisons) == 1 and report.comparisons[0].title == "all runs" and not report.notes
    rows = rows_of(report.comparisons[0])
    row = rows[FREE]
    assert row.a.mean == pytest.approx(13.0) and row.b.mean == pytest.approx(22.0)
    assert row.a.stddev == pytest.approx(statistics.stdev(a)) and row.b.stddev == pytest.approx(statistics.stdev(b))
    assert row.diff == pytest.approx(9.0) and row.pct == pytest.approx(100 * 9 / 13)
    assert row.p == pytest.approx(welch_by_hand(a, b)) and row.p == pytest.approx(
        stats.ttest_ind(a, b, equal_var=False).pvalue
    )
    thp = rows[THP]
    assert thp.a.mean == pytest.approx(stats.hmean(a)) and thp.b.mean == pytest.approx(stats.hmean(b))


def test_one_run_on_a_side_has_no_stddev_nor_p(tmp_path, capsys):
    one = folder(tmp_path / "one", [15.0])
    many = folder(tmp_path / "many", [10.0, 12.0])
    row = rows_of(compare([many, one]).comparisons[0])[FREE]
    assert row.b.n == 1 and math.isnan(row.b.stddev) and math.isnan(row.p)
    assert row.diff == pytest.approx(4.0)
    code, out, err = run_cli(capsys, "compare", str(many), str(one))
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("Amean  free 2MiB blocks/GiB, mean"))
    assert line.split()[-1] == "n/a" and "(  36.36%)" in line


def test_two_folders_variant_by_variant(grid, tmp_path):
    """B varies only balloon compaction and has only mix runs: both are labelled
    by what either folder varies, and the server variants are left out."""
    b = tmp_path / "b"
    for on, values in ((False, [10.0, 14.0]), (True, [12.0, 16.0])):
        for seed, v in enumerate(values, 1):
            flat_run(b, f"{on}_seed={seed}", v, seed=seed, compaction=on, workload="mix")
    report = compare([grid, b])
    titles = [c.title for c in report.comparisons]
    assert titles == [
        "kernel.balloon_compaction=False, guests[0].workload=mix",
        "kernel.balloon_compaction=True, guests[0].workload=mix",
    ]
    assert "variant by variant" in report.notes[0] and "guests[0].workload=server" in report.notes[0]
    off = rows_of(report.comparisons[0])[FREE]
    assert off.a.mean == pytest.approx(12.0) and off.b.mean == pytest.approx(12.0) and off.diff == 0
    assert off.p == pytest.approx(welch_by_hand([10, 12, 14], [10, 14]))
    assert "variant by variant" in render_compare(report)


def test_markdown_table(grid, capsys):
    code, out, err = run_cli(capsys, "compare", str(grid), "--format", "markdown")
    assert code == 0, err
    table = [x for x in out.splitlines() if x.startswith("|")]
    assert table and all(x.endswith("|") for x in table)
    server = next(x for x in table if "free 2MiB blocks/GiB, mean" in x and "| 20.00 |" in x)
    assert server.endswith("| \\* |") and "| 36.67 |" in server


def test_by_key_with_more_values_compares_each_with_the_first(tmp_path):
    out = tmp_path / "regimes"
    for regime, values in (("free", [30.0, 32.0]), ("cache", [20.0, 22.0]), ("mixed", [25.0, 27.0])):
        for seed, v in enumerate(values, 1):
            commit(out, f"{regime}_seed={seed}", _flat_rows(v), seed=seed, regime=regime)
    report = compare([out], by="experiment.regime")
    assert report.a_name == "experiment.regime=cache"  # strings sort: cache, free, mixed
    assert [c.b_label for c in report.comparisons] == ["experiment.regime=free", "experiment.regime=mixed"]
    assert [rows_of(c)[FREE].diff for c in report.comparisons] == pytest.approx([10.0, 5.0])


def _flat_rows(v):
    from .folders import sample

    return [sample(t, free_2mib_blocks=v, thp_fault_alloc=v, thp_fault_fallback=100 - v) for t in (10, 20)]


# --------------------------------------------------------------------------
# errors: one line, exit 2


def one_line_error(capsys, *args) -> str:
    code, out, err = run_cli(capsys, "compare", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("fleet: error: "), err
    return err


def test_not_a_results_folder(tmp_path, capsys):
    assert "no such directory" in one_line_error(capsys, str(tmp_path / "missing"))
    assert "not a results folder" in one_line_error(capsys, str(tmp_path))
    good = folder(tmp_path / "good", [1.0, 2.0])
    assert "not a results folder" in one_line_error(capsys, str(good), str(tmp_path / "missing"))


def test_no_common_metrics(tmp_path, capsys):
    """Runs without samples have no metric values."""
    out = tmp_path / "empty"
    commit(out, "off", [], seed=1, compaction=False)
    commit(out, "on", [], seed=1, compaction=True)
    assert "no common metrics" in one_line_error(capsys, str(out))
    with pytest.raises(CompareError, match="no common metrics"):
        compare([out, out])


def test_no_common_variants(grid, tmp_path, capsys):
    other = folder(tmp_path / "build", [1.0, 2.0], workload="build")
    err = one_line_error(capsys, str(grid), str(other))
    assert "no common variants" in err and "guests[0].workload=build" in err


def test_unknown_or_constant_by_key(grid, capsys):
    err = one_line_error(capsys, str(grid), "--by", "kernel.bogus")
    assert "--by: kernel.bogus is not a run parameter" in err and "kernel.balloon_compaction" in err
    err = one_line_error(capsys, str(grid), "--by", "kernel.era")
    assert "--by: kernel.era does not vary" in err and "kernel.era=6.x" in err


def test_no_variants_differ_only_in_the_key(tmp_path, capsys):
    out = tmp_path / "confounded"  # compaction changes only together with the workload
    flat_run(out, "a", 10, seed=1, compaction=False, workload="mix")
    flat_run(out, "b", 20, seed=1, compaction=True, workload="server")
    assert "no two variants" in one_line_error(capsys, str(out))


def test_bad_arguments(grid, capsys):
    assert "--by compares the variants of one folder" in one_line_error(capsys, str(grid), str(grid), "--by", "x")
    assert "not 3" in one_line_error(capsys, str(grid), str(grid), str(grid))
    assert "--format" in one_line_error(capsys, str(grid), "--format", "html")
