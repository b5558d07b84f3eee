"""`fleet bench`: throughput of the compiled memory kernels, printed as numbers.

Every figure comes from a seeded run on this machine; nothing here asserts a
target, so a busy machine gives lower numbers, never a failure.
"""

import os
import platform
import time

import numba
import numpy as np

from .memory import constants as C
from .memory.rng import new_rng
from .memory.watermark import WMARK_MIN
from .memory.zone import Zone
from .workload.random_mix import DEFAULT_MIX, MixSpec, RandomMix, churn


def machine() -> dict:
    """The facts a reader needs to compare figures across machines."""
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
    }


def fragmented_zone(nr_pages: int, seed: int, mix: tuple) -> tuple[Zone, RandomMix]:
    """A zone filled to 90% by `mix`, then with half of it freed at random:
    free memory scattered in small holes all over the zone."""
    zone = Zone(nr_pages)
    rng = new_rng(seed, 0)
    load = RandomMix(zone, MixSpec(entries=mix), rng)
    fill = int(0.9 * nr_pages)
    churn(zone.a, load.ent_owner, load.ent_order, load.ent_cum, load.own_ids, load.own_cum, 0, fill, WMARK_MIN, rng)
    churn(zone.a, load.ent_owner, load.ent_order, load.ent_cum, load.own_ids, load.own_cum, fill // 2, 0, WMARK_MIN, rng)
    return zone, load


def _ops_per_s(zone: Zone, load: RandomMix, pages_each_way: int, rounds: int) -> float:
    """Alternate frees and allocations of `pages_each_way` pages; ops per second."""
    a = zone.a
    ops = 0
    start = time.perf_counter()
    for _ in range(rounds):
        allocs, frees, _ = churn(
            a, load.ent_owner, load.ent_order, load.ent_cum, load.own_ids, load.own_cum,
            pages_each_way, pages_each_way, WMARK_MIN, load.rng,
        )
        ops += allocs + frees
    return ops / (time.perf_counter() - start)


def memory_bench(memory_bytes: int = 4 << 30, seed: int = 1) -> dict:
    """Order-0 and mixed-order alloc/free throughput on fragmented memory, and
    bytes of model state per 4 KiB page."""
    nr_pages = memory_bytes // C.PAGE_SIZE
    results = {"memory_bytes": memory_bytes}
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


def compaction_bench(nr_pages: int, seed: int) -> dict:
    """Pages scanned (both scanners) per second by a whole-zone compact_memory
    on a fragmented zone of order-0 anon memory."""
    order0 = (("anon", 0, 1.0),)
    fragmented_zone(C.PAGEBLOCK_NR_PAGES * 64, seed, order0)[0].compact_memory()
    zone, _ = fragmented_zone(nr_pages, seed, order0)
    vm = zone.a.vm
    before = int(vm[C.VM_COMPACT_MIGRATE_SCANNED] + vm[C.VM_COMPACT_FREE_SCANNED])
    start = time.perf_counter()
    zone.compact_memory()
    elapsed = time.perf_counter() - start
    scanned = int(vm[C.VM_COMPACT_MIGRATE_SCANNED] + vm[C.VM_COMPACT_FREE_SCANNED]) - before
    zone.check()
    return {
        "compaction_pages_per_s": round(scanned / elapsed),
        "compaction_pages_migrated": int(vm[C.VM_PGMIGRATE_SUCCESS]),
        "compaction_wall_s": round(elapsed, 3),
    }


EXAMPLE_SCENARIO = "fill anon=400MiB; punch anon 0.5; balloon 512MiB; compact; thp 128MiB; balloon 0"


def scenario_bench(memory_bytes: int, seed: int) -> dict:
    """Wall time of the issue's example scenario on this memory size, balloon
    compaction on."""
    from .scenario import ScenarioRunner, parse_steps

    zone = Zone(memory_bytes // C.PAGE_SIZE, rng=new_rng(seed, 0))
    runner = ScenarioRunner(zone)
    start = time.perf_counter()
    for step in parse_steps(EXAMPLE_SCENARIO):
        runner.run(step)
    return {"example_scenario_wall_s": round(time.perf_counter() - start, 3)}
