"""RunWriter: runs written atomically and streamed, names encoded, commits serialised."""

from __future__ import annotations

import json
import threading

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from fleet.results import (
    ResultsError,
    RunWriter,
    committed_runs,
    read_table,
    recover,
    writer,
)
from fleet.results.provenance import machine
from tests.results.runs import SCHEMA, SPAWN, batch, child_commit, commit_run, manifest


def test_round_trip_samples_runs_and_manifest(tmp_path):
    out = tmp_path / "out"
    with RunWriter(out, "exp", "r1", SCHEMA) as w:
        w.write_samples(batch(0))
        w.write_samples(pa.Table.from_batches([batch(1)]))
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

    m = manifest(out)
    assert m["format"] == 1
    entry = m["runs"]["exp/r1"]
    assert entry["spec"] == {"name": "exp", "guests": 3} and entry["seed"] == 7
    assert entry["versions"]["pyarrow"] == pa.__version__
    assert entry["machine"] == json.loads(json.dumps(machine()))
    assert "finished" in entry
    assert not (out / ".staging").exists()


def test_streaming_writes_row_groups_as_it_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 6)
    with RunWriter(tmp_path, "exp", "r1", SCHEMA) as w:
        for t in range(5):  # 3 rows each
            w.write_samples(batch(t))
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
            w.write_samples(batch(0))
            assert (out / ".staging" / "exp" / "r1" / "samples.parquet").exists()
            raise RuntimeError("simulation failed")
    with RunWriter(out, "exp", "r2", SCHEMA) as w:  # leaving without commit aborts too
        w.write_samples(batch(0))
    w = RunWriter(out, "exp", "r3", SCHEMA)
    w.abort()
    w.abort()  # idempotent
    assert not (out / ".staging").exists()
    assert not (out / "samples").exists() and not (out / "runs").exists()
    assert manifest(out)["runs"] == {}
    assert read_table(out, "samples").num_rows == 0
    assert committed_runs(out) == set()


def test_double_commit_refused(tmp_path):
    commit_run(tmp_path, "exp", "r1")
    with pytest.raises(ResultsError, match="run exp/r1 already committed"):
        RunWriter(tmp_path, "exp", "r1", SCHEMA)
    # another process commits the same run while this writer streams
    w = RunWriter(tmp_path, "exp", "r2", SCHEMA)
    w.write_samples(batch(0))
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
            commit_run(tmp_path, "exp", f"t{i}", n_batches=1, seed=i)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(manifest(tmp_path)["runs"]) == {f"exp/t{i}" for i in range(8)}
    assert read_table(tmp_path, "runs").num_rows == 8


def test_concurrent_commits_processes(tmp_path):
    barrier = SPAWN.Barrier(2)
    procs = [SPAWN.Process(target=child_commit, args=(str(tmp_path), tag, barrier)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = {f"exp/{tag}-{i}" for tag in "ab" for i in range(3)}
    assert set(manifest(tmp_path)["runs"]) == expected
    assert committed_runs(tmp_path) == expected


def test_samples_columns_checked_and_partition_columns_dropped(tmp_path):
    schema = SCHEMA.append(pa.field("run", pa.string()))
    with RunWriter(tmp_path, "exp", "r1", schema) as w:
        assert "run" not in w.samples_schema.names
        b = batch(0)
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
    commit_run(tmp_path, exp, run)
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
    w.write_samples(batch(0))
    assert recover(tmp_path) == [f"{exp}/a b"]


def test_invalid_names_refused(tmp_path):
    for bad in ("", ".", "..", "x" * 201, 5):
        with pytest.raises(ResultsError, match="invalid"):
            RunWriter(tmp_path, "exp", bad, SCHEMA)
        with pytest.raises(ResultsError, match="invalid"):
            RunWriter(tmp_path, bad, "r1", SCHEMA)
    assert not (tmp_path / ".staging").exists()


HOSTS = pa.schema([("time_s", pa.int64()), ("host", pa.int32()), ("host_free_bytes", pa.int64())])
EVENTS = pa.schema([("time_s", pa.int64()), ("event", pa.string())])


def test_hosts_and_events_tables_are_written_and_published_with_the_run(tmp_path):
    """Each data table streams to its own staging file and is published
    before the runs partition; a table with no rows reads as empty."""
    out = tmp_path / "out"
    with RunWriter(out, "exp", "r1", SCHEMA, {"hosts": HOSTS, "events": EVENTS}) as w:
        w.write_samples(batch(0))
        w.write("hosts", pa.table({"time_s": [10, 10], "host": [0, 1], "host_free_bytes": [5, 6]}))
        assert not (out / "hosts").exists()  # nothing visible before the commit
        w.commit({"seed": 1}, {"seed": 1})
    hosts = read_table(out, "hosts")
    assert hosts.column("host_free_bytes").to_pylist() == [5, 6] and hosts.column("run").to_pylist() == ["r1"] * 2
    assert read_table(out, "events").num_rows == 0
    assert (out / "events" / "experiment=exp" / "run=r1" / "part-0.parquet").exists()


def test_an_unknown_table_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown results table 'traces'"):
        RunWriter(tmp_path, "exp", "r1", SCHEMA, {"traces": EVENTS})
    with RunWriter(tmp_path, "exp", "r2", SCHEMA) as w:
        with pytest.raises(ResultsError, match="no hosts table in this run"):
            w.write("hosts", pa.table({"time_s": [1]}))
