"""Reading a results folder (fleet.analysis.load): variants, regimes, and
one-line errors for damaged or partial folders."""

import json

import pyarrow as pa
import pytest

from fleet.analysis import analyze
from fleet.results import RunWriter
from fleet.units import GIB

from .folders import GRID, SCHEMA, commit, run_cli, sample


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
        "free_2mib_per_gib_end"
    ] == pytest.approx((25 + 27 + 30) / 3)


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
                commit(
                    out,
                    f"regime={regime}_on={on}_seed={seed}",
                    rows,
                    seed=seed,
                    compaction=on,
                    regime=regime,
                    host_memory=mem,
                    params={"server": server},
                )
    a = analyze(out)
    assert set(a.varying) == {
        "experiment.regime",
        "kernel.balloon_compaction",
        "hosts.memory",
        "guests[0].workload_params.server",
    }
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
