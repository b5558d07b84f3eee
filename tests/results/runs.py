"""Small runs written with RunWriter, and the child processes (spawned, so
importable here) that crash, commit or hold the lock beside a test."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pyarrow as pa

from fleet.results import (
    RunWriter,
    lock_out_dir,
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


def batch(t0: int, n_guests: int = 3) -> pa.RecordBatch:
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


def commit_run(out, experiment, run_id, n_batches=2, seed=1, **params):
    with RunWriter(out, experiment, run_id, SCHEMA) as w:
        for t in range(n_batches):
            w.write_samples(batch(t))
        row = {"seed": seed, "policy": {"name": "mom", "interval_s": 10}, **params}
        w.commit(row, {"spec": {"name": experiment, "seed": seed}, "seed": seed})


def manifest(out) -> dict:
    return json.loads((Path(out) / "manifest.json").read_text())


# ---- children for multiprocessing (spawn: must be importable top-level) ----


def child_crash(out: str) -> None:
    """Leave one run mid-stream and crash another between the two renames."""
    abandoned = RunWriter(out, "exp", "r3", SCHEMA)
    abandoned.write_samples(batch(0))
    abandoned._flush()

    real = writer.publish_dir

    def crash_before_runs(src, dst):
        if Path(dst).parts[-3] == "runs":
            os._exit(17)  # no cleanup, like a SIGKILL
        real(src, dst)

    writer.publish_dir = crash_before_runs
    commit_run(out, "exp", "r2")


def child_commit(out: str, tag: str, barrier) -> None:
    barrier.wait(timeout=30)
    for i in range(3):
        commit_run(out, "exp", f"{tag}-{i}", n_batches=1)


def child_hold_lock(out: str, held, release) -> None:
    with lock_out_dir(out):
        held.set()
        release.wait(timeout=30)
