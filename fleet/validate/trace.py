"""`fleet validate trace`: what a real guest does inside a step, not only at
its end. A recorded reference holds one snapshot per step; the step's
counters cannot say whether a THP burst's compaction was the faulting
task's or kcompactd's running beside it, nor when blocks appeared. This runs
one world of a scenario in one guest as `record` does (the same steps, the
same reads and per-cpu drain after each), and during the chosen steps
samples /proc/vmstat, the zone's /proc/buddyinfo row and the pages on its
per-cpu lists (/proc/zoneinfo's pagesets, which buddyinfo and
nr_free_pages leave out) every few milliseconds (bfhelper sample). The rows
go to a Parquet file.

Sampling perturbs what it measures: on the guest's one vCPU the sampler
takes CPU time from the workload and the daemons (at 10 and 25 ms a THP
burst ran 1.4 times longer than recorded, at 2 ms 3.6 times), and its
buffer (0.6 MiB, bfhelper's SAMPLE_MAX rows) is faulted in before the step
starts: with 3.3 MiB, balloon-into-holes' compact_memory migrated 519 pages
instead of 32.9k. The summary prints each traced step's wall time and
counters beside the reference's so that a step that ran differently shows. 6.1
counts compact_migrate_scanned and compact_free_scanned when a compaction
run ends (compact_zone), pgmigrate_success as pages move: a long run shows
as migrations first and one jump of the scanned counts at its end.
"""

import time
from pathlib import Path

from . import kernels
from .compare import ZONE
from .qemu import Guest, GuestError
from .record import guest_files, snapshot
from .scenarios import Scenario
from .steps import RealRunner, boot

SAMPLED = (
    "nr_free_pages",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "compact_stall",
    "compact_success",
    "compact_fail",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_daemon_wake",
    "pgmigrate_success",
    "pgmigrate_fail",
    "balloon_migrate",
    "allocstall_normal",
    "allocstall_movable",
    "pgsteal_direct",
    "pgsteal_kswapd",
    "pageoutrun",
    "nr_page_table_pages",
)
SUMMARY_COUNTERS = (
    "thp_fault_alloc",
    "thp_fault_fallback",
    "compact_stall",
    "pgmigrate_success",
    "compact_migrate_scanned",
)
SAMPLE_DIR = "/run/bf/sample"


class TraceError(ValueError):
    """A trace request that cannot run (bad step numbers, interval)."""


def check_request(sc: Scenario, steps: list[int], interval_ms: int) -> list[int]:
    """The traced steps (1-based, sorted, unique), or TraceError."""
    if not steps:
        raise TraceError("name at least one step to trace (--steps 4,6)")
    bad = [s for s in steps if not 1 <= s <= len(sc.steps)]
    if bad:
        raise TraceError(f"{sc.path}: no step {bad[0]}; the scenario's steps are 1..{len(sc.steps)}")
    if not 1 <= interval_ms <= 1000:
        raise TraceError("--interval-ms must be within 1..1000")
    return sorted(set(steps))


def parse_samples(text: str) -> tuple[list[str], list[list[float]], bool]:
    """bfhelper sample's output: the column names, the rows and whether the
    sampler's buffer filled before the step ended."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("t "):
        raise ValueError("the sampler printed no header")
    names = lines[0].split()
    full = lines[-1] == "# full"
    rows = [[float(x) for x in line.split()] for line in lines[1:] if not line.startswith("#")]
    if any(len(r) != len(names) for r in rows):
        raise ValueError("a sample row has the wrong number of columns")
    return names, rows, full


def _sampled_step(guest: Guest, runner: RealRunner, step, interval_ms: int) -> tuple[str, float, str]:
    """Start the sampler, wait until it is ready, run the step, stop the
    sampler; returns the step's summary, wall time and the sampler's output."""
    guest.sh(f"rm -rf {SAMPLE_DIR}; mkdir -p {SAMPLE_DIR}")
    sampler = f"bfhelper sample {interval_ms} {ZONE} {SAMPLE_DIR} {' '.join(SAMPLED)} > {SAMPLE_DIR}/out 2>&1"
    guest.sh(f"(({sampler}; touch {SAMPLE_DIR}/done) &)")
    guest.sh(f"while [ ! -e {SAMPLE_DIR}/ready ]; do sleep 0.05; done")
    start = time.monotonic()
    summary = runner.run(step)
    took = time.monotonic() - start
    guest.sh(f"touch {SAMPLE_DIR}/stop; while [ ! -e {SAMPLE_DIR}/done ]; do sleep 0.05; done")
    return summary, took, guest.sh(f"cat {SAMPLE_DIR}/out", timeout=600)


def trace(sc: Scenario, world: str, steps: list[int], interval_ms: int = 10, rep: int = 1, log=print):
    """Run scenario `sc` in one guest of `world` ("off" or "on"), sampling
    during `steps`; returns an Arrow table (one row per sample that differs
    from the one before: step, verb, t_s since the sampler started just
    before the step, the SAMPLED counters, buddyinfo o0..o10 of ZONE and
    pcp, the pages on its per-cpu lists) with
    the run's description in its schema metadata. `rep` seeds the random
    punches as a recorded repetition of that number does."""
    import pyarrow as pa

    initrd, disk = guest_files(sc)
    columns: dict[str, list] = {"step": [], "verb": []}
    walls: dict[int, float] = {}
    with Guest(kernels.vmlinux(world), initrd, disk, sc.memory_mib, f"trace-{sc.name}-{world}") as guest:
        boot(guest, sc.thp_defrag)
        kernel = guest.sh("uname -r")
        snapshot(guest)  # as record reads and drains after boot
        runner = RealRunner(guest, seed=rep)
        for i, step in enumerate(sc.steps, 1):
            if i in steps:
                summary, took, out = _sampled_step(guest, runner, step, interval_ms)
                try:
                    names, rows, full = parse_samples(out)
                except ValueError as e:
                    raise GuestError(f"step {i}: bfhelper sample: {e}") from None
                if full:
                    log(f"  step {i}: the sampler's buffer filled before the step ended; later samples are missing")
                for name, values in zip(names, zip(*rows)):
                    columns.setdefault(name, []).extend(values)
                columns["step"].extend([i] * len(rows))
                columns["verb"].extend([step.verb] * len(rows))
                walls[i] = took
                log(f"  {world} step {i} {step}: {summary} ({took:.2f} s, {len(rows)} samples)")
            else:
                summary = runner.run(step)
                log(f"  {world} step {i} {step}: {summary}")
            snapshot(guest)  # the recorder's reads and drain, so the next step starts as in a reference
    columns["t_s"] = columns.pop("t")
    arrays = {"step": pa.array(columns.pop("step"), pa.int32()), "verb": pa.array(columns.pop("verb"), pa.string())}
    arrays["t_s"] = pa.array(columns.pop("t_s"), pa.float64())
    arrays |= {name: pa.array([int(v) for v in values], pa.int64()) for name, values in columns.items()}
    meta = {
        "scenario": sc.name,
        "world": world,
        "rep": str(rep),
        "interval_ms": str(interval_ms),
        "kernel": kernel,
        "zone": ZONE,
        "step_wall_s": ",".join(f"{i}:{walls[i]:.3f}" for i in sorted(walls)),
    }
    return pa.table(arrays).replace_schema_metadata(meta)


def write_trace(table, out: Path) -> Path:
    """Write the table to `out` (Parquet) whole or not at all."""
    import pyarrow.parquet as pq

    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return out


def summarize(table, reference: dict | None = None) -> list[str]:
    """One line per traced step: its wall time and the change of the main
    counters over the step, beside the recorded runs' means (the sampler's
    perturbation: a traced step that ran differently shows here first)."""
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    walls = dict(item.split(":") for item in meta.get("step_wall_s", "").split(",") if item)
    world = meta.get("world", "")
    steps = table.column("step").to_pylist()
    lines = []
    for i in sorted(set(steps)):
        rows = [n for n, s in enumerate(steps) if s == i]
        first, last = rows[0], rows[-1]
        traced = {n: table.column(n)[last].as_py() - table.column(n)[first].as_py() for n in SUMMARY_COUNTERS}
        line = f"step {i}: {float(walls.get(str(i), 'nan')):.2f} s, {len(rows)} samples; " + ", ".join(
            f"{n} {v:+d}" for n, v in traced.items()
        )
        if reference:
            runs = reference["runs"][world]
            wall = sum(run["snapshots"][i]["wall_s"] for run in runs) / len(runs)
            recorded = {
                n: sum(
                    run["snapshots"][i]["vmstat"].get(n, 0) - run["snapshots"][i - 1]["vmstat"].get(n, 0)
                    for run in runs
                )
                / len(runs)
                for n in SUMMARY_COUNTERS
            }
            line += f" | recorded {wall:.2f} s; " + ", ".join(f"{n} {v:+.0f}" for n, v in recorded.items())
        lines.append(line)
    return lines
