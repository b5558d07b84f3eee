"""Reading results: committed runs, recovery after a crash, unreadable files named, other code refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from fleet import results
from fleet.results import (
    ResultsError,
    RunWriter,
    committed_runs,
    read_table,
    recover,
    uncommitted_runs,
)
from tests.results.runs import SCHEMA, SPAWN, batch, child_crash, commit_run, manifest


def test_many_runs_committed_runs_and_type_unification(tmp_path):
    out = tmp_path
    commit_run(out, "a", "s1", ratio=1)
    commit_run(out, "a", "s2", ratio=1.5)
    commit_run(out, "b", "s1", ratio=2, extra="x")
    assert committed_runs(out, "a") == {"s1", "s2"}
    assert committed_runs(out) == {"a/s1", "a/s2", "b/s1"}
    assert committed_runs(out, "nope") == set()
    runs = read_table(out, "runs")
    assert runs.num_rows == 3
    assert runs.schema.field("ratio").type == pa.float64()
    by_key = {(r["experiment"], r["run"]): r for r in runs.to_pylist()}
    assert by_key[("a", "s1")]["extra"] is None and by_key[("b", "s1")]["extra"] == "x"
    assert read_table(out, "samples").num_rows == 3 * 2 * 3


def test_crash_between_renames_then_recover(tmp_path):
    out = tmp_path
    commit_run(out, "exp", "r1")
    p = SPAWN.Process(target=child_crash, args=(str(out),))
    p.start()
    p.join(30)
    assert p.exitcode == 17
    # crashed state: r2's samples published, its runs not; r3 left in staging
    assert (out / "samples" / "experiment=exp" / "run=r2" / "part-0.parquet").exists()
    assert not (out / "runs" / "experiment=exp" / "run=r2").exists()
    assert (out / ".staging" / "exp" / "r3").exists()
    # readers never see the uncommitted run, even before recovery
    assert set(read_table(out, "samples").column("run").to_pylist()) == {"r1"}
    assert committed_runs(out, "exp") == {"r1"}

    assert recover(out) == ["exp/r2", "exp/r3"]
    assert not (out / "samples" / "experiment=exp" / "run=r2").exists()
    assert not (out / ".staging").exists()
    assert list(manifest(out)["runs"]) == ["exp/r1"]
    assert read_table(out, "samples").num_rows == 6
    assert recover(out) == []
    commit_run(out, "exp", "r2")  # the run can be redone
    assert committed_runs(out, "exp") == {"r1", "r2"}


def test_recover_restores_manifest_entry_lost_after_runs_rename(tmp_path):
    commit_run(tmp_path, "exp", "r1", seed=5)
    m = manifest(tmp_path)
    lost = m["runs"].pop("exp/r1")
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert recover(tmp_path) == []
    assert manifest(tmp_path)["runs"]["exp/r1"] == lost


def test_truncated_or_corrupt_file_is_named(tmp_path):
    commit_run(tmp_path, "exp", "r1")
    commit_run(tmp_path, "exp", "r2", n_batches=50)
    part = tmp_path / "samples" / "experiment=exp" / "run=r2" / "part-0.parquet"
    good = part.read_bytes()

    part.write_bytes(good[: len(good) // 2])
    with pytest.raises(ResultsError) as err:
        read_table(tmp_path, "samples")
    msg = str(err.value)
    assert str(part) in msg and "\n" not in msg
    assert read_table(tmp_path, "runs").num_rows == 2  # the other table still reads

    # footer intact, data pages destroyed: found at read time, file still named
    body = bytearray(good)
    body[4:-200] = bytes(len(body) - 204)
    part.write_bytes(bytes(body))
    with pytest.raises(ResultsError) as err:
        read_table(tmp_path, "samples")
    assert str(part) in str(err.value) and "\n" not in str(err.value)


def test_not_a_results_folder(tmp_path):
    with pytest.raises(ResultsError, match="not a results folder"):
        read_table(tmp_path, "samples")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ResultsError, match="manifest.json"):
        read_table(tmp_path, "runs")
    with pytest.raises(ValueError):
        read_table(tmp_path, "nope")


def test_runs_from_other_code_are_named_and_refused_by_the_cli(tmp_path):
    out = str(tmp_path / "res")
    commit_run(out, "smoke", "seed=1")
    assert results.runs_from_other_code(out) == []
    assert manifest(out)["runs"]["smoke/seed=1"]["code"] == results.code_fingerprint()
    with RunWriter(out, "smoke", "seed=2", SCHEMA) as w:
        w.write_samples(batch(0))
        w.commit({"seed": 2}, {"seed": 2, "code": "0123456789abcdef"})
    assert results.runs_from_other_code(out) == ["smoke/seed=2"]
    for command in ("run", "sweep"):
        proc = subprocess.run(
            [sys.executable, "-m", "fleet.cli", command, "experiments/smoke.toml", "--out", out],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            f"fleet: error: {out}: 1 run(s) there, e.g. smoke/seed=2, were made by other simulator code; "
            "use a new --out or delete the folder"
        ]


def test_recover_removes_every_data_partition_of_an_uncommitted_run(tmp_path):
    """A crash after the hosts partition was published but before the runs
    one: the run is uncommitted, and recover removes its hosts partition too."""
    commit_run(tmp_path, "exp", "r1")
    orphan = tmp_path / "hosts" / "experiment=exp" / "run=r2"
    orphan.mkdir(parents=True)
    (orphan / "part-0.parquet").write_bytes(b"")
    assert uncommitted_runs(tmp_path) == ["exp/r2"]
    assert recover(tmp_path) == ["exp/r2"]
    assert not orphan.exists() and not orphan.parent.exists()
