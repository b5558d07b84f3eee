"""A sweep killed part-way (SIGKILL of the driver and its local Ray) and
started again with the same command completes only the missing runs."""

import os
import signal
import subprocess
import sys
import time

from fleet.results import committed_runs, read_table

SPEC = """
[experiment]
name = "resume"
duration_s = 40
[hosts]
memory = "300MiB"
[policy]
name = "mom"
[[guests]]
count = 2
memory = "128MiB"
balloon_min = "64MiB"
[sweep]
"kernel.balloon_compaction" = [false, true]
seeds = [1, 2]
"""


def sweep_cmd(spec, out):
    return [sys.executable, "-m", "fleet.cli", "sweep", str(spec), "--out", str(out), "--workers", "2"]


def test_killed_sweep_resumes_without_duplicates(tmp_path):
    spec = tmp_path / "resume.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen(
        sweep_cmd(spec, out), env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (out.exists() and committed_runs(str(out), "resume")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = committed_runs(str(out), "resume")
    assert 1 <= len(done_before) < 4
    again = subprocess.run(sweep_cmd(spec, out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"4 runs, {len(done_before)} already done" in again.stderr
    assert len(committed_runs(str(out), "resume")) == 4
    samples = read_table(str(out), "samples")
    keys = list(
        zip(
            samples.column("run").to_pylist(),
            samples.column("time_s").to_pylist(),
            samples.column("host").to_pylist(),
            samples.column("guest").to_pylist(),
        )
    )
    assert len(keys) == len(set(keys)) == 4 * 4 * 2  # runs x samples x guests


def test_ctrl_c_says_what_was_committed_and_how_to_resume(tmp_path):
    """Issue 14, defect 4: a real SIGINT during a sweep ends it with exit 130,
    one line naming the committed runs and the resume command, no partial
    run visible and no Ray process of its own left behind."""
    spec = tmp_path / "resume.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen(
        sweep_cmd(spec, out),
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (out.exists() and committed_runs(str(out), "resume")):
        time.sleep(0.2)
    ours = ray_daemons() & children(proc.pid)  # the embedded Ray this sweep started
    assert ours
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    line = next(x for x in err.splitlines() if x.startswith("fleet: interrupted; "))
    done = committed_runs(str(out), "resume")
    assert f"{len(done)} of 4 runs committed in {out}" in line
    assert f"the same command resumes: fleet sweep {spec} --out {out}" in line
    assert ray_daemons() & ours == set()


def children(pid: int) -> set[str]:
    return set(subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split())


def ray_daemons() -> set[str]:
    """PIDs of Ray's own daemons (raylet, gcs_server) now running."""
    pids = set()
    for name in ("raylet", "gcs_server"):
        pids |= set(subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split())
    return pids
