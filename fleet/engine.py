"""Runs a fleet on Ray: starts the actors, advances time in chunks of policy
epochs, streams the samples rows to the run's Parquet writer, commits the run.

Determinism: every guest draws from its own generator seeded from (seed, host,
guest), hosts are independent, and rows are sorted by (time, host, guest)
before they are written, so the rows do not depend on the number of workers,
the packing of guests into actors or the machine.
"""

import logging
import math
import os
import sys
import time
from collections.abc import Callable

import pyarrow as pa
import ray

from .config import Spec, build_spec
from .guest import samples_schema
from .results import RunWriter, package_versions

CHUNK_EPOCHS = 6  # policy epochs per driver round trip


def start_ray(workers: int | None, address: str | None) -> None:
    """Join RAY_ADDRESS / --address if given, else start an embedded local Ray
    with `workers` CPUs (default: all cores). Idempotent."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=workers or os.cpu_count(), **common)


def plan_actors(spec: Spec, cpus: int) -> list[list[tuple[int, int, int]]]:
    """Guests (host, guest, group) packed into actors: `guests_per_actor` each,
    raised so that there are no more actors than CPUs."""
    members = []
    for h in range(spec.hosts.count):
        g = 0
        for i, group in enumerate(spec.guests):
            for _ in range(group.count):
                members.append((h, g, i))
                g += 1
    per_actor = max(spec.experiment.guests_per_actor, math.ceil(len(members) / max(1, cpus)))
    return [members[i : i + per_actor] for i in range(0, len(members), per_actor)]


class RunSummary:
    """The runs-table metrics, kept up to date as rows stream by."""

    def __init__(self):
        self.last: dict[tuple[int, int], dict] = {}
        self.free_blocks_per_gib_sum = 0.0
        self.samples = 0

    def add(self, rows: list[dict]) -> None:
        for r in rows:
            self.last[(r["host"], r["guest"])] = r
            self.free_blocks_per_gib_sum += r["free_2mib_blocks"] / (r["memory_bytes"] / (1 << 30))
            self.samples += 1

    def metrics(self) -> dict:
        last = list(self.last.values())
        if not last:
            return {}

        def total(key):
            return int(sum(r[key] for r in last))

        thp = total("thp_fault_alloc") + total("thp_fault_fallback")
        return {
            "guests": len(last),
            "free_2mib_blocks_per_gib_mean": self.free_blocks_per_gib_sum / self.samples,
            "free_2mib_blocks_per_gib_end": sum(r["free_2mib_blocks"] / (r["memory_bytes"] / (1 << 30)) for r in last) / len(last),
            "thp_fault_success_pct": 100.0 * total("thp_fault_alloc") / thp if thp else float("nan"),
            "balloon_migrate": total("balloon_migrate"),
            "pgmigrate_success": total("pgmigrate_success"),
            "host_thp_split_pmd": total("host_thp_split_pmd"),
            "balloon_pages_end": total("balloon_pages"),
            "host_populated_pages_end": total("host_populated_pages"),
        }


def run_one(raw: dict, run_id: str, out_dir: str, progress: Callable[[int, int], None] | None = None) -> dict:
    """Simulate one run of a raw spec and commit it under `out_dir`.
    Returns the runs row."""
    from .actors import GuestActor, HostPolicyActor

    spec = build_spec(raw)
    e = spec.experiment
    cpus = int(ray.cluster_resources().get("CPU", 1))
    plan = plan_actors(spec, cpus)
    schema = samples_schema()
    started = time.perf_counter()
    summary = RunSummary()
    actors = [GuestActor.remote(raw, members) for members in plan]
    try:
        nodes = sorted(set(ray.get([a.node_id.remote() for a in actors])))
        hosts = []
        for h in range(spec.hosts.count):
            mine = [a for a, members in zip(actors, plan) if any(m[0] == h for m in members)]
            hosts.append(HostPolicyActor.remote(raw, h, mine))
        with RunWriter(out_dir, e.name, run_id, schema) as writer:
            chunk = e.policy_interval_s * CHUNK_EPOCHS
            t = 0
            while t < e.duration_s:
                t = min(t + chunk, e.duration_s)
                rows = [r for part in ray.get([h.run.remote(t) for h in hosts]) for r in part]
                rows.sort(key=lambda r: (r["time_s"], r["host"], r["guest"]))
                if rows:
                    writer.write_samples(pa.RecordBatch.from_pylist(rows, schema=schema))
                summary.add(rows)
                if progress:
                    progress(t, e.duration_s)
            wall = time.perf_counter() - started
            row = {
                **spec.flat(),
                **summary.metrics(),
                "ray_nodes": len(nodes),
                "wall_s": wall,
                "guest_seconds_per_wall_second": summary_guests(spec) * e.duration_s / wall,
            }
            entry = {"spec": spec.to_dict(), "seed": e.seed, "versions": package_versions(), "nodes": nodes}
            writer.commit(row, entry)
        return row
    finally:
        for a in actors:
            ray.kill(a)


def summary_guests(spec: Spec) -> int:
    return spec.hosts.count * sum(g.count for g in spec.guests)


def print_progress(label: str) -> Callable[[int, int], None]:
    """A progress line on stderr: simulated time done of the run."""

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else "\r"
        print(f"{label}: {done}/{total} simulated s ({100 * done // total}%)", end=end, file=sys.stderr, flush=True)

    return show

