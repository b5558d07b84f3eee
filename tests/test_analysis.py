"""fleet analyze / fleet plot on small hand-made results folders whose
expected numbers are computed by hand in the comments."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pyarrow as pa
import pytest

from fleet import analysis
from fleet.analysis import analyze, balloon_compaction_effect, paired_stats, render, t_quantile_975
from fleet.analysis.render import render_plain
from fleet.cli import main
from fleet.guest import samples_schema
from fleet.results import RunWriter

GIB = 1 << 30
SCHEMA = samples_schema()


def sample(t, host=0, guest=0, memory=GIB, metrics=None, **values):
    """A samples row: zeros everywhere but what is given."""
    row = {f.name: 0 for f in SCHEMA if f.name != "workload_metrics"}
    row.update(time_s=t, host=host, guest=guest, memory_bytes=memory)
    row.update(values)
    row["workload_metrics"] = sorted((metrics or {}).items())
    return row


def commit(out, run_id, rows, *, seed, compaction=True, workload="mix", experiment="t", hosts=1, host_memory=2 * GIB,
           regime=None, params=None):
    with RunWriter(out, experiment, run_id, SCHEMA) as w:
        w.write_samples(pa.Table.from_pylist(rows, schema=SCHEMA))
        w.commit(
            {
                "experiment": {"name": experiment, "seed": seed, **({"regime": regime} if regime else {})},
                **({"guests[0].workload_params": params} if params else {}),
                "kernel": {"era": "6.x", "balloon_compaction": compaction},
                "hosts": {"count": hosts, "memory": host_memory},
                "guests[0]": {"workload": workload},
                "wall_s": 1.0,
            },
            {"seed": seed},
        )


def flat_run(out, run_id, free_blocks, *, seed, compaction, workload, times=(10, 20, 30)):
    """One 1 GiB guest with a constant number of free 2 MiB blocks: every
    free-blocks-per-GiB metric of the run equals `free_blocks`."""
    rows = [
        sample(t, free_2mib_blocks=free_blocks, balloon_pages=100 * (i + 1), host_populated_pages=1000,
               thp_fault_alloc=free_blocks, thp_fault_fallback=100 - free_blocks,
               free_blocks_o0=5, free_blocks_o9=free_blocks)
        for i, t in enumerate(times)
    ]
    commit(out, run_id, rows, seed=seed, compaction=compaction, workload=workload)


# free 2 MiB blocks of each (workload, compaction) per seed
GRID = {
    ("mix", False): {1: 10, 2: 12, 3: 14},
    ("mix", True): {1: 11, 2: 15, 3: 14},  # diffs 1, 3, 0
    ("server", False): {1: 20, 2: 20},
    ("server", True): {1: 25, 2: 27, 3: 30},  # diffs 5, 7; seed 3 has no off-run
}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    for (workload, on), seeds in GRID.items():
        for seed, value in seeds.items():
            flat_run(out, f"{workload}_{on}_seed={seed}", value, seed=seed, compaction=on, workload=workload)
    return out


@pytest.fixture
def phases_dir(tmp_path):
    """One run, two guests on two hosts.

    guest 0 (1 GiB): balloon 0,100,200,150,10,0 -> P = 200; inflated (>= 100)
    at t = 20, 30, 40; returned (<= 20, after t = 40) at t = 50, 60.
    free blocks 8,6,2,4,5,7: mean 32/6, end 7, inflated (6+2+4)/3 = 4,
    returned (5+7)/2 = 6.
    guest 1 (2 GiB): no balloon; free blocks 10 x5 then 12 -> per GiB 5 x5
    then 6: mean 31/6, end 6, no phases.
    """
    out = tmp_path / "phases"
    balloon = [0, 100, 200, 150, 10, 0]
    free0 = [8, 6, 2, 4, 5, 7]
    free1 = [10, 10, 10, 10, 10, 12]
    rows = []
    for i, t in enumerate(range(10, 70, 10)):
        last = i == 5
        m0 = {"pass1_success_pct": 50.0 + 6 * i, "pass2_success_pct": math.nan, "allocated_pages": 1.0}
        m1 = {
            "highalloc.pass1_success_pct": 60.0 if last else 99.0,
            "highalloc.pass2_success_pct": 30.0 if last else math.nan,
            "highalloc.pass1_attempts": 7.0,
            "build.refused_pages": 3.0,
        }
        rows.append(sample(t, 0, 0, GIB, m0, free_2mib_blocks=free0[i], balloon_pages=balloon[i],
                           thp_fault_alloc=30 if last else i, thp_fault_fallback=10 if last else 0,
                           balloon_migrate=5 if last else i, pgmigrate_success=100 if last else i,
                           host_thp_split_pmd=3 if last else 0))
        rows.append(sample(t, 1, 1, 2 * GIB, m1, free_2mib_blocks=free1[i],
                           thp_fault_alloc=10 if last else i, thp_fault_fallback=50 if last else 0,
                           balloon_migrate=7 if last else 0, pgmigrate_success=50 if last else 0,
                           host_thp_split_pmd=4 if last else 0))
    commit(out, "seed=1", rows, seed=1, hosts=2)
    return out


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------- definitions


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


def test_variants_are_the_varying_parameters_except_the_seed(grid):
    a = analyze(grid)
    assert a.varying == ["kernel.balloon_compaction", "guests[0].workload"]
    by_label = {v.label: v for v in a.variants}
    assert list(by_label) == [
        "kernel.balloon_compaction=False, guests[0].workload=mix",
        "kernel.balloon_compaction=False, guests[0].workload=server",
        "kernel.balloon_compaction=True, guests[0].workload=mix",
        "kernel.balloon_compaction=True, guests[0].workload=server",
    ]
    for (workload, on), seeds in GRID.items():
        v = by_label[f"kernel.balloon_compaction={on}, guests[0].workload={workload}"]
        assert sorted(v.seeds) == sorted(seeds)
        assert v.metrics["free_2mib_per_gib_mean"] == pytest.approx(sum(seeds.values()) / len(seeds))
        assert v.metrics["thp_fault_success_pct"] == pytest.approx(sum(seeds.values()) / len(seeds))
    assert by_label["kernel.balloon_compaction=True, guests[0].workload=server"].metrics[
        "free_2mib_per_gib_end"] == pytest.approx((25 + 27 + 30) / 3)


def test_paired_difference_and_interval_by_hand(grid):
    effect = balloon_compaction_effect(grid)
    rows = {(e["group"], e["metric"]): e for e in effect}
    assert {g for g, _ in rows} == {"guests[0].workload=mix", "guests[0].workload=server"}

    mix = rows[("guests[0].workload=mix", "free_2mib_per_gib_mean")]
    # diffs 1, 3, 0: mean 4/3; sd sqrt(((1-4/3)^2 + (3-4/3)^2 + (0-4/3)^2) / 2) = sqrt(7/3)
    half = 4.302652729749464 * math.sqrt(7 / 3) / math.sqrt(3)
    assert mix["n_pairs"] == 3
    assert mix["mean_diff"] == pytest.approx(4 / 3)
    assert mix["rel_pct"] == pytest.approx(100 * (4 / 3) / 12)  # off mean (10+12+14)/3
    assert mix["ci_low"] == pytest.approx(4 / 3 - half)
    assert mix["ci_high"] == pytest.approx(4 / 3 + half)

    server = rows[("guests[0].workload=server", "free_2mib_per_gib_end")]
    # diffs 5, 7 (seed 3 has no off-run): mean 6, sd sqrt(2), half = t(1) * sqrt(2)/sqrt(2)
    assert server["n_pairs"] == 2
    assert server["mean_diff"] == pytest.approx(6.0)
    assert server["rel_pct"] == pytest.approx(30.0)
    assert (server["ci_low"], server["ci_high"]) == pytest.approx((6 - 12.706204736174698, 6 + 12.706204736174698))
    assert set(server) >= {"group", "metric", "mean_diff", "rel_pct", "ci_low", "ci_high", "n_pairs"}
    # the inflated phase has no variation within a run here: same numbers
    assert rows[("guests[0].workload=server", "free_2mib_per_gib_inflated")]["mean_diff"] == pytest.approx(6.0)


def test_regimes_name_the_parameters_they_set(tmp_path):
    """Regimes set hosts.memory and a workload parameter together: labels
    name the regime only; the effect is grouped per regime."""
    out = tmp_path / "regimes"
    settings = {"free": (2 * GIB, "{'file_fraction': 0.1}"), "cache": (3 * GIB, "{'file_fraction': 0.6}")}
    for regime, (mem, server) in settings.items():
        for on in (False, True):
            for seed in (1, 2):
                value = 10 * (regime == "cache") + seed + 2 * on
                rows = [sample(t, free_2mib_blocks=value) for t in (10, 20)]
                commit(out, f"regime={regime}_on={on}_seed={seed}", rows, seed=seed, compaction=on,
                       regime=regime, host_memory=mem, params={"server": server})
    a = analyze(out)
    assert set(a.varying) == {"experiment.regime", "kernel.balloon_compaction", "hosts.memory",
                              "guests[0].workload_params.server"}
    assert [v.label for v in a.variants] == [
        "experiment.regime=cache, kernel.balloon_compaction=False",
        "experiment.regime=cache, kernel.balloon_compaction=True",
        "experiment.regime=free, kernel.balloon_compaction=False",
        "experiment.regime=free, kernel.balloon_compaction=True",
    ]
    assert a.variants[0].params["hosts.memory"] == 3 * GIB  # all varying parameters are kept
    assert a.variants[1].metrics["free_2mib_per_gib_mean"] == pytest.approx(13.5)  # 10 + (1, 2) + 2
    eff = {e["group"]: e for e in a.effect if e["metric"] == "free_2mib_per_gib_mean"}
    assert set(eff) == {"experiment.regime=cache", "experiment.regime=free"}
    assert eff["experiment.regime=free"]["mean_diff"] == pytest.approx(2.0)
    assert eff["experiment.regime=free"]["group_params"]["hosts.memory"] == 2 * GIB
    assert eff["experiment.regime=free"]["ci_low"] == pytest.approx(2.0)  # no spread: zero-width interval


def test_one_pair_has_no_interval_and_nan_values_are_dropped():
    one = paired_stats([(3.0, 1.0)])
    assert one["mean_diff"] == 2 and one["rel_pct"] == 200 and one["n_pairs"] == 1
    assert math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])
    some = paired_stats([(3.0, 1.0), (math.nan, 1.0), (5.0, 2.0)])
    assert some["n_pairs"] == 2 and some["mean_diff"] == 2.5
    zero_off = paired_stats([(1.0, 0.0), (2.0, 0.0)])
    assert math.isnan(zero_off["rel_pct"])


def _t_quantile_by_integration(df: int) -> float:
    """Bisection on the t CDF by Simpson's rule: an independent check."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x, n=4000):
        f = lambda u: c * (1 + u * u / df) ** (-(df + 1) / 2)  # noqa: E731
        h = x / n
        s = f(0) + f(x) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, n))
        return 0.5 + s * h / 3

    lo, hi = 0.0, 20.0 if df > 1 else 40.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.975 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("df", [2, 5, 12, 30, 31, 45, 200])
def test_t_quantiles(df):
    assert t_quantile_975(df) == pytest.approx(_t_quantile_by_integration(df), abs=2e-4)


def test_t_quantile_limits():
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(10**6) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), abs=1e-5)
    assert math.isnan(t_quantile_975(0))


# ---------------------------------------------------------------- output formats


@pytest.mark.parametrize("fmt", ["rich", "csv", "json", "markdown"])
def test_all_formats_print_both_tables(grid, capsys, fmt):
    code, out, err = run_cli(capsys, "analyze", str(grid), "--format", fmt)
    assert code == 0, err
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert tuple(rows[0]) == analysis.CSV_COLUMNS
        tables = {r["table"] for r in rows}
        assert tables == {"variants", "effect"}
        eff = [r for r in rows if r["table"] == "effect" and r["label"] == "guests[0].workload=mix"
               and r["metric"] == "free_2mib_per_gib_mean"]
        assert float(eff[0]["value"]) == pytest.approx(4 / 3) and eff[0]["n"] == "3"
    elif fmt == "json":
        doc = json.loads(out)
        assert len(doc["variants"]) == 4 and len(doc["effect"]) == 2 * len(doc["metrics"])
        assert all(isinstance(v["metrics"], dict) for v in doc["variants"])
        assert "NaN" not in out  # NaN is written as null
    elif fmt == "markdown":
        pipes = [line for line in out.splitlines() if line.startswith("|")]
        assert len(pipes) >= 2 + 4 and all(line.endswith("|") for line in pipes)
        assert "| --- |" in out.replace(" ---: |", " --- |") and "on - off" in out
    else:
        assert "Per variant" in out and "Balloon compaction on vs off" in out
        # a line per varying parameter in the variant column headers
        assert "guests[0].workload=server" in out and "kernel.balloon_compaction=True" in out
    assert "free 2MiB blocks/GiB, mean" in out or "free_2mib_per_gib_mean" in out


def test_plain_rendering_without_compaction(phases_dir):
    text = render_plain(analyze(phases_dir))
    assert "all runs" in text and "does not vary" in text


def test_bad_format_is_refused(grid, capsys):
    code, _, err = run_cli(capsys, "analyze", str(grid), "--format", "xml")
    assert code == 2 and err.count("\n") == 1 and "--format" in err


# ---------------------------------------------------------------- damaged folders


def _one_line_error(capsys, *args):
    code, out, err = run_cli(capsys, *args)
    assert code == 2, (out, err)
    assert err.startswith("fleet: error:") and err.count("\n") == 1, err
    return err


def test_truncated_samples_file_is_named(phases_dir, capsys):
    (path,) = (phases_dir / "samples").rglob("*.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    err = _one_line_error(capsys, "analyze", str(phases_dir))
    assert str(path) in err and "truncated" in err
    err = _one_line_error(capsys, "plot", str(phases_dir), "--out", str(phases_dir / "png"))
    assert str(path) in err


def test_truncated_runs_file_is_named(phases_dir, capsys):
    (path,) = (phases_dir / "runs").rglob("*.parquet")
    path.write_bytes(path.read_bytes()[:40])
    err = _one_line_error(capsys, "analyze", str(phases_dir))
    assert str(path) in err


def test_missing_samples_file_is_named(phases_dir, capsys):
    (path,) = (phases_dir / "samples").rglob("*.parquet")
    path.unlink()
    err = _one_line_error(capsys, "analyze", str(phases_dir))
    assert "missing results file" in err and str(path) in err


def test_missing_manifest_and_missing_folder(phases_dir, tmp_path, capsys):
    (phases_dir / "manifest.json").unlink()
    err = _one_line_error(capsys, "analyze", str(phases_dir))
    assert "not a results folder" in err and "manifest.json" in err
    err = _one_line_error(capsys, "analyze", str(tmp_path / "nowhere"))
    assert "not a results folder" in err


def test_folder_without_committed_runs(tmp_path, capsys):
    out = tmp_path / "empty"
    w = RunWriter(out, "t", "seed=1", SCHEMA)  # never committed: an interrupted run
    w.write_samples(pa.Table.from_pylist([sample(10)], schema=SCHEMA))
    err = _one_line_error(capsys, "analyze", str(out))
    assert "no committed runs" in err and "1 interrupted" in err
    w.abort()


def test_uncommitted_runs_are_left_out_with_a_note(phases_dir, capsys):
    w = RunWriter(phases_dir, "t", "seed=2", SCHEMA)
    w.write_samples(pa.Table.from_pylist([sample(10, free_2mib_blocks=1000)], schema=SCHEMA))
    code, out, err = run_cli(capsys, "analyze", str(phases_dir), "--format", "json")
    assert code == 0
    assert "t/seed=2" in err and "uncommitted" in err
    doc = json.loads(out)
    assert [r["run"] for r in doc["runs"]] == ["seed=1"]
    w.abort()


# ---------------------------------------------------------------- plots


def test_plot_writes_the_four_pngs(grid, phases_dir, tmp_path, capsys):
    for src in (grid, phases_dir):
        dest = tmp_path / src.name / "png"
        code, out, err = run_cli(capsys, "plot", str(src), "--out", str(dest))
        assert code == 0, err
        names = ["free_2mib_blocks.png", "buddyinfo_heatmap.png", "host_memory.png", "success.png"]
        assert out.split() == [str(dest / n) for n in names]
        for n in names:
            data = (dest / n).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_headline_sentences_name_both_phases_per_group(grid):
    from fleet.analysis import analyze, headline_sentences

    a = analyze(grid)
    sentences = headline_sentences(a)
    by_metric = {(e["group"], e["metric"]): e for e in a.effect}
    assert len(sentences) == 2
    for s in sentences:
        group = s.split(":")[0]
        inflated = by_metric[(group, "free_2mib_per_gib_inflated")]
        assert "while balloons are inflated" in s and "after they are returned" in s
        assert f"change by {inflated['mean_diff']:.2f}" in s
        assert f"{inflated['n_pairs']} seed pairs" in s
