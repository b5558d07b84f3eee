"""`fleet bench`: throughput of the simulator, printed as numbers.

Three parts: `memory` (the compiled memory kernels on one zone), `guest` (one
4 GiB guest under the standard load) and `fleet` (a small fleet on Ray with 1
and 2 workers). Every figure comes from a seeded run on this machine; nothing
here asserts a target, so a busy machine gives lower numbers, never a failure.
"""

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numba
import numpy as np

from .memory import constants as C
from .memory.rng import new_rng
from .memory.state import copy_zone
from .memory.watermark import WMARK_MIN
from .memory.zone import Zone
from .results import provenance
from .workload.random_mix import DEFAULT_MIX, MixSpec, RandomMix, churn


def machine() -> dict:
    """The facts a reader needs to compare figures across machines."""
    facts = provenance.machine()
    return {
        **{k: facts[k] for k in ("machine", "cpu_model", "cpus", "memory_total_bytes")},
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "ray": importlib.metadata.version("ray"),
    }


def fragmented_zone(nr_pages: int, seed: int, mix: tuple) -> tuple[Zone, RandomMix]:
    """A zone filled to 90% by `mix`, then with half of it freed at random:
    free memory scattered in small holes all over the zone."""
    zone = Zone(nr_pages)
    rng = new_rng(seed, 0)
    load = RandomMix(zone, MixSpec(entries=mix), rng)
    fill = int(0.9 * nr_pages)
    churn(zone.a, load.ent_owner, load.ent_order, load.ent_cum, load.own_ids, load.own_cum, 0, fill, WMARK_MIN, rng)
    churn(
        zone.a, load.ent_owner, load.ent_order, load.ent_cum, load.own_ids, load.own_cum, fill // 2, 0, WMARK_MIN, rng
    )
    return zone, load


def _ops_per_s(zone: Zone, load: RandomMix, pages_each_way: int, rounds: int) -> float:
    """Alternate frees and allocations of `pages_each_way` pages; ops per second."""
    a = zone.a
    ops = 0
    start = time.perf_counter()
    for _ in range(rounds):
        allocs, frees, _ = churn(
            a,
            load.ent_owner,
            load.ent_order,
            load.ent_cum,
            load.own_ids,
            load.own_cum,
            pages_each_way,
            pages_each_way,
            WMARK_MIN,
            load.rng,
        )
        ops += allocs + frees
    return ops / (time.perf_counter() - start)


def memory_bench(memory_bytes: int = 4 << 30, seed: int = 1) -> dict:
    """Order-0 and mixed-order alloc/free throughput on fragmented memory,
    bytes of model state per 4 KiB page, then compaction_bench and
    scenario_bench on the same size."""
    nr_pages = memory_bytes // C.PAGE_SIZE
    results: dict[str, float] = {"memory_bytes": memory_bytes}
    order0 = (("anon", 0, 1.0),)
    for key, mix in (("alloc_free_ops_per_s", order0), ("mixed_order_ops_per_s", DEFAULT_MIX)):
        fragmented_zone(C.PAGEBLOCK_NR_PAGES * 64, seed, mix)  # compile outside the clock
        zone, load = fragmented_zone(nr_pages, seed, mix)
        results[key] = round(_ops_per_s(zone, load, nr_pages // 8, 8))
        zone.check()
    results["bytes_per_page"] = round(zone.state_bytes_per_page(), 2)
    results.update(compaction_bench(nr_pages, seed))
    results.update(scenario_bench(memory_bytes, seed))
    return results


def compaction_bench(nr_pages: int, seed: int, runs: int = 3) -> dict:
    """A whole-zone compact_memory on a fragmented zone of order-0 anon
    memory, timed `runs` times with the zone restored to its fragmented state
    before each (the fastest counts), then a second one on the compacted zone.

    compaction_pages_per_s: pages scanned (both scanners, as 6.1's
    compact_*_scanned count them: a free block stepped over is one) per
    second by the first, migration
    included; compaction_migrated_pages_per_s: pages it migrated
    (pgmigrate_success) per second; compaction_scan_only_pages_per_s: pages
    scanned per second by the second, which finds nothing left to migrate:
    the scanners alone."""
    order0 = (("anon", 0, 1.0),)
    fragmented_zone(C.PAGEBLOCK_NR_PAGES * 64, seed, order0)[0].compact_memory()  # compile
    zone, _ = fragmented_zone(nr_pages, seed, order0)
    fragmented = copy_zone(zone.a)
    elapsed = float("inf")
    for _ in range(runs):
        for array, saved in zip(zone.a, fragmented):
            array[...] = saved
        run_s, scanned, migrated = _timed_compaction(zone)
        elapsed = min(elapsed, run_s)
    again_s, again_scanned, _ = _timed_compaction(zone)
    zone.check()
    return {
        "compaction_pages_per_s": round(scanned / elapsed),
        "compaction_migrated_pages_per_s": round(migrated / elapsed),
        "compaction_scan_only_pages_per_s": round(again_scanned / again_s),
        "compaction_pages_migrated": migrated,
        "compaction_wall_s": round(elapsed, 4),
    }


def _timed_compaction(zone: Zone) -> tuple[float, int, int]:
    """(wall seconds, pages scanned, pages migrated) of one zone.compact_memory()."""
    vm = zone.a.vm

    def counts():
        return int(vm[C.VM_COMPACT_MIGRATE_SCANNED] + vm[C.VM_COMPACT_FREE_SCANNED]), int(vm[C.VM_PGMIGRATE_SUCCESS])

    scanned, migrated = counts()
    start = time.perf_counter()
    zone.compact_memory()
    elapsed = time.perf_counter() - start
    scanned_after, migrated_after = counts()
    return elapsed, scanned_after - scanned, migrated_after - migrated


EXAMPLE_SCENARIO = "fill anon=400MiB; punch anon 0.5; balloon 512MiB; compact; thp 128MiB; balloon 0"


def scenario_bench(memory_bytes: int, seed: int) -> dict:
    """Wall time of the issue's example scenario on this memory size, balloon
    compaction on; the second of two runs, so compiling is not timed."""
    from .scenario import ScenarioRunner, parse_steps

    for _ in range(2):
        runner = ScenarioRunner(Zone(memory_bytes // C.PAGE_SIZE, rng=new_rng(seed, 0)))
        start = time.perf_counter()
        for step in parse_steps(EXAMPLE_SCENARIO):
            runner.run(step)
        elapsed = time.perf_counter() - start
    return {"example_scenario_wall_s": round(elapsed, 3)}


GUEST_SPEC = {
    "experiment": {"duration_s": 100000, "sample_interval_s": 10, "policy_interval_s": 10},
    "hosts": {"memory": "8GiB"},
    "policy": {"name": "none"},
    "guests": [{"count": 1, "memory": "4GiB", "workload": "steady"}],
}
DAEMON_COUNTERS = ("pgscan_kswapd", "compact_daemon_wake", "pgmigrate_success", "thp_fault_alloc")


def guest_bench(seconds: int = 3000, warmup_s: int = 10) -> dict:
    """Simulated seconds per wall second of one 4 GiB guest under the standard
    load (`steady`; kswapd and kcompactd on; policy none, so the balloon stays
    idle), timed over `seconds` after `warmup_s` simulated seconds outside the
    clock (they reach the footprint and compile), and what the daemons did in
    the timed window: the deltas of DAEMON_COUNTERS, as guest_<counter>."""
    from .guest import Guest
    from .spec import build_spec

    spec = build_spec(GUEST_SPEC)
    guest = Guest(spec, 0, 0, spec.guests[0])
    guest.advance(warmup_s, None)
    before = dict(guest.zone.vmstat_items())
    start = time.perf_counter()
    guest.advance(warmup_s + seconds, None)
    elapsed = time.perf_counter() - start
    after = dict(guest.zone.vmstat_items())
    return {
        "guest_realtime_factor": round(seconds / elapsed, 1),
        "guest_bench_simulated_s": seconds,
        **{f"guest_{name}": after[name] - before[name] for name in DAEMON_COUNTERS},
    }


def fleet_spec(duration_s: int) -> dict:
    """The fleet part's load: 4 hosts x 2 guests x 512 MiB `steady` on 720 MiB
    hosts: the guests populate more than 80% of their host, so MOM inflates
    their balloons (about 160 MiB each) early in the run."""
    return {
        "experiment": {"name": "bench", "duration_s": duration_s, "policy_interval_s": 10, "sample_interval_s": 10},
        "hosts": {"count": 4, "memory": "720MiB"},
        "policy": {"name": "mom"},
        "guests": [{"count": 2, "memory": "512MiB", "balloon_min": "192MiB", "workload": "steady"}],
    }


def fleet_run(workers: int, duration_s: int) -> dict:
    """One run of fleet_spec on an embedded Ray of `workers` CPUs, this
    process pinned to `workers` cores first (Ray's CPUs are only a count: the
    actors would otherwise spread over every core). Ray starts once per
    process, so fleet_bench calls this in a fresh interpreter."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:workers])
    from . import engine
    from .spec import build_spec

    engine.start_ray(workers, None)
    with tempfile.TemporaryDirectory() as out:
        row = engine.run_one(build_spec(fleet_spec(duration_s)), "bench", out)
    keys = ("simulation_wall_s", "guest_busy_s", "guest_actor_peak_rss_bytes")
    return {"guest_seconds": row["guests"] * duration_s, **{k: row[k] for k in keys}}


def fleet_bench(duration_s: int = 1800, repeats: int = 2) -> dict:
    """fleet_run with 1 and with 2 workers, each in its own interpreter, after
    compiling the actors' kernels here (so that neither run compiles); the
    whole command's wall (interpreter, Ray start, run) is timed here. Each
    worker count runs `repeats` times, interleaved (1, 2, 1, 2, ...), and the
    fastest simulation counts: the machine's background noise only slows."""
    _compile_fleet_kernels()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # always an embedded Ray
    runs: dict[int, dict] = {}
    for n in (1, 2) * repeats:
        code = f"import json; from fleet.bench import fleet_run; print(json.dumps(fleet_run({n}, {duration_s})))"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"fleet run with {n} worker(s) failed (exit {proc.returncode}): {last}")
        run = {**json.loads(proc.stdout.splitlines()[-1]), "command_wall_s": time.perf_counter() - start}
        if n not in runs or run["simulation_wall_s"] < runs[n]["simulation_wall_s"]:
            runs[n] = run
    return fleet_figures(runs)


def _compile_fleet_kernels() -> None:
    """Run what the fleet's actors run (a guest of fleet_spec in the host's
    epoch loop, its balloon target forced to 256 and then 512 MiB so that the
    balloon inflates and deflates) into the numba cache."""
    from .pack import GuestPack, HostController, PackGuests
    from .spec import build_spec

    forced = {20: {0: 256 << 20}, 30: {0: 512 << 20}}

    class Forced(PackGuests):
        def advance(self, until_s: int, targets: dict[int, int]):
            return super().advance(until_s, forced.get(until_s, targets))

    spec = build_spec(fleet_spec(40))
    HostController(spec, 0).run(30, Forced(GuestPack(spec, [(0, 0, 0)]), 0))


def fleet_figures(runs: dict[int, dict]) -> dict:
    """The fleet part's keys from its runs by worker count (1 and 2): the
    dicts of fleet_run plus the command's wall, command_wall_s.

    Guest-seconds per second use the simulation wall only (all guest actors
    up to the last rows); fleet_outside_simulation_share is, for the run with
    2 workers, 1 - guest CPU seconds in GuestPack.advance / (simulation wall x
    workers): the share of the workers' time spent on anything else (Ray,
    the host policies, the driver, idle waits)."""
    rate = {n: r["guest_seconds"] / r["simulation_wall_s"] for n, r in runs.items()}
    two = runs[2]
    return {
        "fleet_guest_seconds_per_s_1_worker": round(rate[1], 1),
        "fleet_guest_seconds_per_s_2_workers": round(rate[2], 1),
        "fleet_speedup_2_workers": round(rate[2] / rate[1], 3),
        "fleet_outside_simulation_share": round(1 - two["guest_busy_s"] / (two["simulation_wall_s"] * 2), 3),
        "fleet_wall_s_1_worker": round(runs[1]["command_wall_s"], 2),
        "fleet_wall_s_2_workers": round(runs[2]["command_wall_s"], 2),
        "fleet_guest_seconds_per_run": runs[1]["guest_seconds"],
        "guest_actor_peak_rss_bytes": max(r["guest_actor_peak_rss_bytes"] for r in runs.values()),
    }


def parts(quick: bool = False, memory_bytes: int | None = None) -> dict[str, Callable[[], dict]]:
    """The suite's parts in order, each a call returning its figures; `quick`
    gives small sizes for CI smoke runs."""
    return {
        "memory": lambda: memory_bench(memory_bytes or (256 << 20 if quick else 4 << 30)),
        "guest": lambda: guest_bench(60 if quick else 3000),
        "fleet": lambda: fleet_bench(300, 1) if quick else fleet_bench(),
    }
