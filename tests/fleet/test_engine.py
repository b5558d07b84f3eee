"""The fleet end to end through Ray: determinism across packings and across a
two-node cluster, the results layout, and spec errors at the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.cli import main
from fleet.results import committed_runs, read_table
from fleet.spec import load_raw, load_spec

TINY = """
[experiment]
name = "tiny"
duration_s = 60
guests_per_actor = {packing}
[hosts]
count = 2
memory = "224MiB"
[policy]
name = "mom"
[[guests]]
count = 2
memory = "128MiB"
balloon_min = "64MiB"
"""


def write_spec(tmp_path, packing=1):
    path = tmp_path / f"tiny-{packing}.toml"
    path.write_text(TINY.format(packing=packing))
    return path


def run_in_session(tmp_path, packing):
    from fleet import engine

    spec = write_spec(tmp_path, packing)
    out = tmp_path / f"out-{packing}"
    engine.run_one(load_spec(spec), "seed=1", str(out))
    return out


def samples(out, table="samples"):
    return read_table(str(out), table).drop_columns(["experiment", "run"])


def test_rows_do_not_depend_on_packing(ray_session, tmp_path):
    """4 guests in 2 actors (2 CPUs) and in 1 actor give identical rows in
    every table, and the host policy balloons them (the hosts are
    overcommitted)."""
    one, four = run_in_session(tmp_path, 1), run_in_session(tmp_path, 4)
    a = samples(one)
    assert a.num_rows == 4 * 6
    assert a.equals(samples(four))
    assert max(a.column("balloon_pages").to_pylist()) > 0
    for table in ("hosts", "events"):
        assert samples(one, table).equals(samples(four, table))
    hosts = samples(one, "hosts")
    assert hosts.num_rows == 2 * 6 and min(hosts.column("host_free_bytes").to_pylist()) >= 0
    assert "target" in samples(one, "events").column("event").to_pylist()  # MOM's decisions


def test_results_layout(ray_session, tmp_path):
    out = run_in_session(tmp_path, 2)
    assert sorted(p.name for p in (out / "samples" / "experiment=tiny").iterdir()) == ["run=seed%3D1"]
    assert committed_runs(str(out), "tiny") == {"seed=1"}
    for table in ("hosts", "events"):
        assert (out / table / "experiment=tiny" / "run=seed%3D1" / "part-0.parquet").exists()
    runs = read_table(str(out), "runs").to_pylist()
    assert len(runs) == 1 and runs[0]["guests"] == 4 and runs[0]["policy.name"] == "mom"
    assert runs[0]["oom_kills"] == 0 and runs[0]["host_swap_out_bytes"] >= 0
    assert 0 < runs[0]["guest_busy_s"] and 0 < runs[0]["simulation_wall_s"] <= runs[0]["wall_s"]
    assert runs[0]["guest_actor_peak_rss_bytes"] > 50 << 20
    assert (out / "manifest.json").exists() and not list((out / ".staging").glob("*/*"))


def test_two_node_cluster_gives_the_embedded_rows(ray_session, tmp_path):
    """A real two-node Ray cluster on this machine, joined with --address:
    the guests run on both nodes and the rows equal the embedded run's."""
    spec = write_spec(tmp_path, 1)
    out = tmp_path / "cluster"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    helper = Path(__file__).with_name("cluster_run.py")
    proc = subprocess.run(
        [sys.executable, str(helper), str(spec), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_table(str(out), "runs").column("ray_nodes").to_pylist() == [2]
    assert samples(out).equals(samples(run_in_session(tmp_path, 1)))


@pytest.mark.parametrize(
    "text, words",
    [
        ("[experiment]\nbogus = 1\n", "experiment.bogus"),
        ('[hosts]\nmemory = "1GiB"\n[[guests]]\nmemory = "2GiB"\n', "larger than its host"),
        ('[kernel]\nballoon_rate = -1\n[[guests]]\nmemory = "256MiB"\n', "kernel.balloon_rate"),
        ("[experiment\n", "not valid TOML"),
    ],
)
def test_malformed_spec_is_one_line_and_exit_2(tmp_path, capsys, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not (tmp_path / "out").exists()


def test_duckdb_reads_the_samples_directly(ray_session, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    out = run_in_session(tmp_path, 2)
    q = (
        f"select experiment, run, count(*) from read_parquet('{out}/samples/**/*.parquet', hive_partitioning=true) "
        "group by all"
    )
    assert duckdb.sql(q).fetchall() == [("tiny", "seed=1", 24)]


def test_check_mode_changes_nothing_but_checks(ray_session, tmp_path):
    """--check runs the invariant checker after every tick; the rows stay the same."""
    from fleet import engine
    from fleet.spec import apply_override, build_spec

    spec = write_spec(tmp_path, 1)
    raw = load_raw(spec)
    apply_override(raw, "experiment.check=true")
    out = tmp_path / "checked"
    engine.run_one(build_spec(raw), "seed=1", str(out))
    assert samples(out).equals(samples(run_in_session(tmp_path, 1)))


@pytest.mark.parametrize("fault", ["guest-crash@25", "host-crash@35"])
def test_lost_actors_are_replayed_to_identical_rows(ray_session, tmp_path, fault):
    """The process of the actor holding guest 0 (or the host policy actor of
    host 0) dies mid-run; its host is rebuilt and replayed from time 0, and the
    rows equal a clean run's."""
    import time

    from fleet import engine

    spec = write_spec(tmp_path, 1)
    out = tmp_path / fault
    started = time.perf_counter()
    row = engine.run_one(load_spec(spec), "seed=1", str(out), faults=[fault])
    print(f"{fault}: recovered in a {time.perf_counter() - started:.1f} s run")
    assert row["recoveries"] == 1
    clean = run_in_session(tmp_path, 1)
    for table in ("samples", "hosts", "events"):
        assert samples(out, table).equals(samples(clean, table))


def test_bad_fault_is_refused(tmp_path, capsys):
    spec = write_spec(tmp_path, 1)
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "--fault", "disk-crash@5"]) == 2
    assert "guest-crash@T" in capsys.readouterr().err


def test_replay_hash_is_the_same_for_one_worker_and_two(ray_session, tmp_path):
    """Exact replay: the samples content hash of a `fleet run --workers 1`
    (its own Ray) equals the in-session runs' (two CPUs) with one guest per
    actor and with four."""
    from fleet.results import samples_hash

    spec = write_spec(tmp_path, 1)
    one = tmp_path / "workers1"
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "run", str(spec), "--out", str(one), "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    two_actors = run_in_session(tmp_path, 1)
    one_actor = run_in_session(tmp_path, 4)
    assert samples_hash(one) == samples_hash(two_actors) == samples_hash(one_actor)


OOM = """
[experiment]
name = "oom"
duration_s = 40
guests_per_actor = {packing}
[hosts]
memory = "320MiB"
swap_size = 0
[policy]
name = "none"
[[guests]]
count = 3
memory = "192MiB"
workload = "batch"
[guests.workload_params]
peak_fraction = 0.8
ramp_s = 20
hold_s = 1000
period_s = 2000
"""


def test_an_oom_kill_is_the_same_whatever_the_packing_and_is_counted(ray_session, tmp_path):
    """A host without swap runs out: the OOM killer's victim, in whichever
    actor it runs, is the same with one guest per actor and with three; its
    rows end, the kill is an event and the runs row counts it."""
    from fleet import engine

    tables = {}
    for packing in (1, 3):
        path = tmp_path / f"oom-{packing}.toml"
        path.write_text(OOM.format(packing=packing))
        out = tmp_path / f"oom-{packing}"
        row = engine.run_one(load_spec(path), "seed=1", str(out))
        tables[packing] = {t: samples(out, t) for t in ("samples", "hosts", "events")}
        kills = [e for e in tables[packing]["events"].to_pylist() if e["event"] == "oom_kill"]
        assert kills and row["oom_kills"] == len(kills) and row["host_swap_out_bytes"] == 0
    for t in ("samples", "hosts", "events"):
        assert tables[1][t].equals(tables[3][t])
    rows = tables[1]["samples"].to_pylist()
    victim, when = kills[0]["guest"], kills[0]["time_s"]
    assert max(r["time_s"] for r in rows if r["guest"] == victim) < when
    assert max(r["time_s"] for r in rows) == 40
