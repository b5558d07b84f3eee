"""Runs a fleet on Ray: starts the actors, advances time in chunks of policy
epochs, streams the samples, hosts and events rows to the run's Parquet
writer, commits the run.

Determinism: every guest draws from its own generator seeded from (seed, host,
guest), hosts are independent, and rows are sorted by (time, host, guest)
(samples) or by (time, host), keeping each host's order (hosts, events),
before they are written, so the rows do not depend on the number of workers,
the packing of guests into actors or the machine.
"""

import logging
import math
import os
import time
from collections.abc import Callable, Sequence

import pyarrow as pa
import ray

from .analysis.summary import HostSummary, RunSummary
from .guest import samples_schema
from .pack import events_schema, hosts_schema
from .results import RunWriter
from .spec import Spec

CHUNK_EPOCHS = 6  # policy epochs per driver round trip


def start_ray(workers: int | None, address: str | None) -> None:
    """Join RAY_ADDRESS / --address if given, else start an embedded local Ray
    with `workers` CPUs (default: all cores). Idempotent."""
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    address = address or os.environ.get("RAY_ADDRESS")
    ray.init(
        address=address or "local",
        num_cpus=None if address else workers or os.cpu_count(),  # None: ray.init's default
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )


def plan_actors(spec: Spec, cpus: int) -> dict[int, list[list[tuple[int, int, int]]]]:
    """Per host, its guests (host, guest, group) packed into actors of
    `guests_per_actor`, raised so that the fleet has about as many actors as
    CPUs. Packs never span hosts, so a host can be rebuilt alone."""
    groups = [i for i, group in enumerate(spec.guests) for _ in range(group.count)]
    total = spec.hosts.count * spec.guests_per_host
    per_actor = max(spec.experiment.guests_per_actor, math.ceil(total / max(1, cpus)))
    plan = {}
    for h in range(spec.hosts.count):
        members = [(h, g, i) for g, i in enumerate(groups)]
        plan[h] = [members[i : i + per_actor] for i in range(0, len(members), per_actor)]
    return plan


def parse_faults(faults: list[str], duration_s: int) -> dict[str, int]:
    """`guest-crash@T` / `host-crash@T` -> {"guest": T, "host": T}."""
    out = {}
    for fault in faults:
        kind, _, when = fault.partition("@")
        if kind not in ("guest-crash", "host-crash") or not when.isdigit() or not 0 < int(when) <= duration_s:
            raise ValueError(f"--fault {fault!r}: use guest-crash@T or host-crash@T with 0 < T <= {duration_s}")
        out[kind.split("-")[0]] = int(when)
    return out


class HostCrew:
    """The actors of one host: its guest actors and its policy actor. After an
    actor is lost the crew is rebuilt and replayed from time 0: guests and
    policies are deterministic, so the replay reaches the same state, and the
    rows already written are dropped."""

    def __init__(self, spec_ref: ray.ObjectRef, host_id: int, packs: list, cpu_share: float, faults: dict[str, int]):
        from .actors import GuestActor, HostPolicyActor

        self.guests = [
            GuestActor.options(num_cpus=cpu_share).remote(spec_ref, members, faults.get("guest"))  # type: ignore[attr-defined]  # Ray types @ray.remote(num_cpus=...) classes as the plain class
            for members in packs
        ]
        self.host = HostPolicyActor.remote(spec_ref, host_id, self.guests, faults.get("host"))  # type: ignore[attr-defined]  # as above

    def nodes(self) -> list[str]:
        return ray.get([a.node_id.remote() for a in self.guests])

    def kill(self) -> None:
        for a in [*self.guests, self.host]:
            ray.kill(a)


def run_one(
    spec: Spec,
    run_id: str,
    out_dir: str,
    progress: Callable[[int, int], None] | None = None,
    faults: Sequence[str] = (),
) -> dict:
    """Simulate one run of a checked spec and commit it under `out_dir`; `faults`
    injects actor crashes (guest-crash@T, host-crash@T). Returns the runs row;
    besides the metrics it has `wall_s` (from starting the actors to the last
    rows), `simulation_wall_s` (from all guest actors up to the last rows),
    `guest_busy_s` (CPU seconds the guest actors spent advancing guests; a
    crashed actor's are lost) and `guest_actor_peak_rss_bytes` (the largest
    peak RSS of a guest actor process)."""
    e = spec.experiment
    injected = parse_faults(list(faults), e.duration_s)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    plan = plan_actors(spec, cpus)
    cpu_share = min(1.0, cpus / sum(len(p) for p in plan.values()))
    schemas = {"samples": samples_schema(), "hosts": hosts_schema(), "events": events_schema()}
    started = time.perf_counter()
    summary, host_summary = RunSummary(), HostSummary()
    # The guest fault hits the actor holding guest 0 (of host 0), the host fault host 0.
    spec_ref = ray.put(spec)  # one copy in the object store for every actor of the run
    crews = {h: HostCrew(spec_ref, h, packs, cpu_share, injected if h == 0 else {}) for h, packs in plan.items()}
    recoveries = 0
    try:
        nodes = sorted({n for crew in crews.values() for n in crew.nodes()})
        ready = time.perf_counter()
        with RunWriter(
            out_dir, e.name, run_id, schemas["samples"], {n: schemas[n] for n in ("hosts", "events")}
        ) as writer:
            chunk = e.policy_interval_s * CHUNK_EPOCHS
            written = 0  # rows up to this time are on disk
            while written < e.duration_s:
                t = min(written + chunk, e.duration_s)
                futures = {h: crew.host.run.remote(t) for h, crew in crews.items()}
                rows: dict[str, list[dict]] = {name: [] for name in schemas}
                for h, future in futures.items():
                    try:
                        part = ray.get(future)
                    except ray.exceptions.RayError:
                        crews[h].kill()
                        crews[h] = HostCrew(spec_ref, h, plan[h], cpu_share, {})
                        replayed = ray.get(crews[h].host.run.remote(t))
                        part = {name: [r for r in replayed[name] if r["time_s"] > written] for name in schemas}
                        recoveries += 1
                    for name in schemas:
                        rows[name].extend(part[name])
                rows["samples"].sort(key=lambda r: (r["time_s"], r["host"], r["guest"]))
                for name in ("hosts", "events"):
                    rows[name].sort(key=lambda r: (r["time_s"], r["host"]))  # stable: each host's order kept
                for name, schema in schemas.items():
                    if rows[name]:
                        writer.write(name, pa.RecordBatch.from_pylist(rows[name], schema=schema))
                summary.add(rows["samples"])
                host_summary.add(rows["hosts"])
                written = t
                if progress:
                    progress(t, e.duration_s)
            now = time.perf_counter()
            usage = ray.get([a.usage.remote() for crew in crews.values() for a in crew.guests])
            wall = now - started
            row = {
                **spec.flat(),
                **summary.metrics(),
                **host_summary.metrics(),
                "ray_nodes": len(nodes),
                "recoveries": recoveries,
                "wall_s": wall,
                "simulation_wall_s": now - ready,
                "guest_seconds_per_wall_second": spec.hosts.count * spec.guests_per_host * e.duration_s / wall,
                "guest_busy_s": sum(busy for busy, _ in usage),
                "guest_actor_peak_rss_bytes": max(rss for _, rss in usage),
            }
            entry = {"spec": spec.to_dict(), "seed": e.seed, "nodes": nodes}
            writer.commit(row, entry)
        return row
    finally:
        for crew in crews.values():
            crew.kill()
