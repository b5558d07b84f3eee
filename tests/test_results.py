"""Tests for fleet.results: atomic, streamed Parquet results."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from fleet import results
from fleet.results import (
    ResultsError,
    RunWriter,
    committed_runs,
    lock_out_dir,
    package_versions,
    read_table,
    recover,
    writer,
)

SCHEMA = pa.schema(
    [
        ("time_s", pa.float64()),
        ("guest", pa.int32()),
        ("free_pages", pa.int64()),
        ("free_per_order", pa.list_(pa.int64())),
        ("hugepages_free", pa.int64()),
    ]
)

SPAWN = mp.get_context("spawn")


def _batch(t0: int, n_guests: int = 3) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "time_s": [float(t0)] * n_guests,
            "guest": list(range(n_guests)),
            "free_pages": [1000 + t0 + g for g in range(n_guests)],
            "free_per_order": [[t0, g] for g in range(n_guests)],
            "hugepages_free": [t0 * 10 + g for g in range(n_guests)],
        },
        schema=SCHEMA,
    )


def _commit_run(out, experiment, run_id, n_batches=2, seed=1, **params):
    with RunWriter(out, experiment, run_id, SCHEMA) as w:
        for t in range(n_batches):
            w.write_samples(_batch(t))
        row = {"seed": seed, "policy": {"name": "mom", "interval_s": 10}, **params}
        w.commit(row, {"spec": {"name": experiment, "seed": seed}, "seed": seed})


def _manifest(out) -> dict:
    return json.loads((Path(out) / "manifest.json").read_text())


# ---- children for multiprocessing (spawn: must be importable top-level) ----


def _child_crash(out: str) -> None:
    """Leave one run mid-stream and crash another between the two renames."""
    abandoned = RunWriter(out, "exp", "r3", SCHEMA)
    abandoned.write_samples(_batch(0))
    abandoned._flush()

    real = writer.publish_dir

    def crash_before_runs(src, dst):
        if Path(dst).parts[-3] == "runs":
            os._exit(17)  # no cleanup, like a SIGKILL
        real(src, dst)

    writer.publish_dir = crash_before_runs
    _commit_run(out, "exp", "r2")


def _child_commit(out: str, tag: str, barrier) -> None:
    barrier.wait(timeout=30)
    for i in range(3):
        _commit_run(out, "exp", f"{tag}-{i}", n_batches=1)


def _child_hold_lock(out: str, held, release) -> None:
    with lock_out_dir(out):
        held.set()
        release.wait(timeout=30)


# ---- tests ----


def test_round_trip_samples_runs_and_manifest(tmp_path):
    out = tmp_path / "out"
    with RunWriter(out, "exp", "r1", SCHEMA) as w:
        w.write_samples(_batch(0))
        w.write_samples(pa.Table.from_batches([_batch(1)]))
        # a batch with other column order and a narrower type is matched and cast
        t2 = pa.table(
            {
                "guest": pa.array([0, 1], pa.int64()),
                "time_s": [2.0, 2.0],
                "hugepages_free": [20, 21],
                "free_pages": [1002, 1003],
                "free_per_order": [[2, 0], [2, 1]],
            }
        )
        w.write_samples(t2)
        w.commit(
            {"seed": 7, "policy": {"name": "mom", "interval_s": 10}, "thp_success": 0.5},
            {"spec": {"name": "exp", "guests": 3}, "seed": 7},
        )

    samples = read_table(out, "samples")
    assert samples.num_rows == 8
    assert samples.column_names[:2] == ["experiment", "run"]
    assert samples.schema.field("experiment").type == pa.string()
    assert samples.schema.field("run").type == pa.string()
    assert samples.select(SCHEMA.names).schema == SCHEMA  # types kept stable
    assert set(samples.column("run").to_pylist()) == {"r1"}
    assert sorted(samples.column("hugepages_free").to_pylist()) == [0, 1, 2, 10, 11, 12, 20, 21]

    # The partition columns are not stored inside the file ...
    part = out / "samples" / "experiment=exp" / "run=r1" / "part-0.parquet"
    assert pq.read_schema(part).remove_metadata() == SCHEMA
    # ... and a plain hive dataset over OUT/samples supplies them.
    plain = ds.dataset(out / "samples", format="parquet", partitioning="hive").to_table()
    assert plain.num_rows == 8
    assert {"experiment", "run"} <= set(plain.column_names)

    runs = read_table(out, "runs")
    assert runs.num_rows == 1
    row = runs.to_pylist()[0]
    assert row["experiment"] == "exp" and row["run"] == "r1"
    assert row["policy.name"] == "mom" and row["policy.interval_s"] == 10
    assert runs.schema.field("seed").type == pa.int64()
    assert runs.schema.metadata is None

    m = _manifest(out)
    assert m["format"] == 1
    entry = m["runs"]["exp/r1"]
    assert entry["spec"] == {"name": "exp", "guests": 3} and entry["seed"] == 7
    assert entry["versions"]["pyarrow"] == pa.__version__
    assert "finished" in entry
    assert not (out / ".staging").exists()


def test_many_runs_committed_runs_and_type_unification(tmp_path):
    out = tmp_path
    _commit_run(out, "a", "s1", ratio=1)
    _commit_run(out, "a", "s2", ratio=1.5)
    _commit_run(out, "b", "s1", ratio=2, extra="x")
    assert committed_runs(out, "a") == {"s1", "s2"}
    assert committed_runs(out) == {"a/s1", "a/s2", "b/s1"}
    assert committed_runs(out, "nope") == set()
    runs = read_table(out, "runs")
    assert runs.num_rows == 3
    assert runs.schema.field("ratio").type == pa.float64()
    by_key = {(r["experiment"], r["run"]): r for r in runs.to_pylist()}
    assert by_key[("a", "s1")]["extra"] is None and by_key[("b", "s1")]["extra"] == "x"
    assert read_table(out, "samples").num_rows == 3 * 2 * 3


def test_streaming_writes_row_groups_as_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 6)
    with RunWriter(tmp_path, "exp", "r1", SCHEMA) as w:
        for t in range(5):  # 3 rows each
            w.write_samples(_batch(t))
        assert w.rows_written == 12  # flushed at 6 and 12; 3 rows buffered
        w.commit({"seed": 1}, {"spec": {}, "seed": 1})
    part = tmp_path / "samples" / "experiment=exp" / "run=r1" / "part-0.parquet"
    meta = pq.ParquetFile(part).metadata
    assert meta.num_rows == 15 and meta.num_row_groups == 3
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_abort_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with RunWriter(out, "exp", "r1", SCHEMA) as w:
            w.write_samples(_batch(0))
            assert (out / ".staging" / "exp" / "r1" / "samples.parquet").exists()
            raise RuntimeError("simulation failed")
    with RunWriter(out, "exp", "r2", SCHEMA) as w:  # leaving without commit aborts too
        w.write_samples(_batch(0))
    w = RunWriter(out, "exp", "r3", SCHEMA)
    w.abort()
    w.abort()  # idempotent
    assert not (out / ".staging").exists()
    assert not (out / "samples").exists() and not (out / "runs").exists()
    assert _manifest(out)["runs"] == {}
    assert read_table(out, "samples").num_rows == 0
    assert committed_runs(out) == set()


def test_crash_between_renames_then_recover(tmp_path):
    out = tmp_path
    _commit_run(out, "exp", "r1")
    p = SPAWN.Process(target=_child_crash, args=(str(out),))
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
    assert list(_manifest(out)["runs"]) == ["exp/r1"]
    assert read_table(out, "samples").num_rows == 6
    assert recover(out) == []
    _commit_run(out, "exp", "r2")  # the run can be redone
    assert committed_runs(out, "exp") == {"r1", "r2"}


def test_recover_restores_manifest_entry_lost_after_runs_rename(tmp_path):
    _commit_run(tmp_path, "exp", "r1", seed=5)
    m = _manifest(tmp_path)
    lost = m["runs"].pop("exp/r1")
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert recover(tmp_path) == []
    assert _manifest(tmp_path)["runs"]["exp/r1"] == lost


def test_double_commit_refused(tmp_path):
    _commit_run(tmp_path, "exp", "r1")
    with pytest.raises(ResultsError, match="run exp/r1 already committed"):
        RunWriter(tmp_path, "exp", "r1", SCHEMA)
    # another process commits the same run while this writer streams
    w = RunWriter(tmp_path, "exp", "r2", SCHEMA)
    w.write_samples(_batch(0))
    _fake = tmp_path / "runs" / "experiment=exp" / "run=r2"
    _fake.mkdir(parents=True)
    (_fake / "part-0.parquet").write_bytes(b"")
    with pytest.raises(ResultsError, match="run exp/r2 already committed"):
        w.commit({"seed": 1}, {"spec": {}, "seed": 1})
    assert not (tmp_path / ".staging").exists()
    assert not (tmp_path / "samples" / "experiment=exp" / "run=r2").exists()
    with pytest.raises(ResultsError, match="closed"):
        w.commit({"seed": 1}, {"spec": {}, "seed": 1})


def test_concurrent_commits_threads(tmp_path):
    errors = []

    def work(i):
        try:
            _commit_run(tmp_path, "exp", f"t{i}", n_batches=1, seed=i)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(_manifest(tmp_path)["runs"]) == {f"exp/t{i}" for i in range(8)}
    assert read_table(tmp_path, "runs").num_rows == 8


def test_concurrent_commits_processes(tmp_path):
    barrier = SPAWN.Barrier(2)
    procs = [SPAWN.Process(target=_child_commit, args=(str(tmp_path), tag, barrier)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = {f"exp/{tag}-{i}" for tag in "ab" for i in range(3)}
    assert set(_manifest(tmp_path)["runs"]) == expected
    assert committed_runs(tmp_path) == expected


def test_truncated_or_corrupt_file_is_named(tmp_path):
    _commit_run(tmp_path, "exp", "r1")
    _commit_run(tmp_path, "exp", "r2", n_batches=50)
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


def test_lock_out_dir_refuses_second_holder(tmp_path):
    held, release = SPAWN.Event(), SPAWN.Event()
    p = SPAWN.Process(target=_child_hold_lock, args=(str(tmp_path), held, release))
    p.start()
    try:
        assert held.wait(30)
        with pytest.raises(ResultsError, match=rf"another fleet run is writing to .* \(pid {p.pid}\)"):
            with lock_out_dir(tmp_path):
                pass
    finally:
        release.set()
        p.join(30)
    assert p.exitcode == 0
    with lock_out_dir(tmp_path) as out:  # free again
        assert out == tmp_path
        with pytest.raises(ResultsError, match=f"pid {os.getpid()}"):
            with lock_out_dir(tmp_path):
                pass


def test_samples_columns_checked_and_partition_columns_dropped(tmp_path):
    schema = SCHEMA.append(pa.field("run", pa.string()))
    with RunWriter(tmp_path, "exp", "r1", schema) as w:
        assert "run" not in w.samples_schema.names
        b = _batch(0)
        w.write_samples(pa.Table.from_batches([b]).append_column("experiment", pa.array(["exp"] * 3)))
        with pytest.raises(ResultsError, match="missing \\['hugepages_free'\\]"):
            w.write_samples(pa.Table.from_batches([b]).drop_columns(["hugepages_free"]))
        with pytest.raises(ResultsError, match="unknown \\['bogus'\\]"):
            w.write_samples(pa.Table.from_batches([b]).append_column("bogus", pa.array([1, 2, 3])))
        with pytest.raises(ResultsError, match="runs row has run='x'"):
            w.commit({"run": "x", "seed": 1}, {"spec": {}, "seed": 1})
    assert not (tmp_path / ".staging").exists()


def test_any_name_is_percent_encoded_in_paths(tmp_path):
    exp, run = "balloon test", "policy=mom_ratio=1.5/x_seed=1"
    _commit_run(tmp_path, exp, run)
    enc = tmp_path / "samples" / "experiment=balloon%20test" / "run=policy%3Dmom_ratio%3D1.5%2Fx_seed%3D1"
    assert (enc / "part-0.parquet").exists()
    assert committed_runs(tmp_path, exp) == {run}
    assert committed_runs(tmp_path) == {f"{exp}/{run}"}
    for name in ("samples", "runs"):
        t = read_table(tmp_path, name)
        assert set(t.column("experiment").to_pylist()) == {exp}
        assert set(t.column("run").to_pylist()) == {run}
    plain = ds.dataset(tmp_path / "runs", format="parquet", partitioning="hive").to_table()
    assert plain.column("run").to_pylist() == [run]
    # an interrupted run with such a name is reported decoded
    w = RunWriter(tmp_path, exp, "a b", SCHEMA)
    w.write_samples(_batch(0))
    assert recover(tmp_path) == [f"{exp}/a b"]


def test_invalid_names_refused(tmp_path):
    for bad in ("", ".", "..", "x" * 201, 5):
        with pytest.raises(ResultsError, match="invalid"):
            RunWriter(tmp_path, "exp", bad, SCHEMA)
        with pytest.raises(ResultsError, match="invalid"):
            RunWriter(tmp_path, bad, "r1", SCHEMA)
    assert not (tmp_path / ".staging").exists()


def test_package_versions():
    v = package_versions()
    assert v["pyarrow"] == pa.__version__
    assert "python" in v and "balloonfleet" in v
    assert all(isinstance(x, str) for x in v.values())


def test_runs_from_other_code_are_named_and_refused_by_the_cli(tmp_path):
    out = str(tmp_path / "res")
    _commit_run(out, "smoke", "seed=1")
    assert results.runs_from_other_code(out) == []
    assert _manifest(out)["runs"]["smoke/seed=1"]["code"] == results.code_fingerprint()
    with RunWriter(out, "smoke", "seed=2", SCHEMA) as w:
        w.write_samples(_batch(0))
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
