"""The model's side of a validation scenario: the same steps in a Zone of the
guest's DMA32 size, with the daemons of a real 6.1 kernel running during the
steps (kswapd, kcompactd, proactive compaction at its default 20, checked
every 500 ms of the real step's duration within THP steps), and a snapshot
of the compared figures after boot and after every step."""

from contextlib import contextmanager, nullcontext

import numpy as np

from ..memory import constants as C
from ..memory.compaction import HPAGE_FRAG_CHECK_INTERVAL_MS
from ..memory.rng import new_rng
from ..memory.watermark import WMARK_LOW, WMARK_MIN, wmark_pages
from ..memory.zone import Zone
from ..scenario import ScenarioRunner
from .boot import BootState, boot_zone
from .scenarios import Scenario
from .steps import DRAIN_HIGH_FRACTION

PROACTIVENESS = 20  # vm.compaction_proactiveness default (5.9+)
# With page table isolation (CONFIG_PAGE_TABLE_ISOLATION=y, as the validation
# kernels are built) an x86-64 pgd is two pages, PGD_ALLOCATION_ORDER 1.
PGD_ORDER = 1
DRAIN_TIMER_CHECKS = 2  # kcompactd's 500 ms checks within the recorder's drain (its `sleep 1`)


class Shell:
    """The guest's short-lived processes (guest/init runs each line in a
    child `sh -c`; the recorder's lines run `cat`s), as the model keeps one:
    its pgd, a page-table page and an anon page, each allocated through the
    per-cpu lists, so that an empty list takes a refill batch
    (rmqueue_bulk: batch pages at order 0, max(batch >> order, 2) blocks
    above) and the exit's frees put the pages back. Between processes the
    lists they use keep about a batch each: 92 pages in the validation
    guests (batch 31), where the real guest's lists held 95-99 pages over
    successive readings after the recorder's drain (47-103 in the shipped
    references). Exit frees the anon page and the page table (exit_mmap),
    then the pgd (mmdrop). That order-1 free matters in 6.1: freeing an
    order 1..3 page while pcp->free_factor > 0 (the lists spilled with no
    allocation since) frees the whole list (free_unref_page_commit's
    free_high), so a step that only frees pages (punch, free, compact) ends
    with the lists drained. Simplified: the rest of fork, exec and exit
    (task_struct, kernel stack, vmas, more anon) is not modelled."""

    def __init__(self, zone: Zone):
        self.zone = zone
        self.tables = zone.register_owner("shell page tables", C.KIND_PAGETABLE)
        self.anon = zone.register_owner("shell anon", C.KIND_ANON)

    def start(self) -> list[int]:
        """Fork and exec: the pgd, a page-table page, an anon page. Returns
        the page tables' pfns (unmovable, so they stay where they are)."""
        z = self.zone
        tables = [z.alloc(self.tables, PGD_ORDER, WMARK_MIN), z.alloc(self.tables, 0, WMARK_MIN)]
        z.alloc(self.anon, 0, WMARK_MIN)
        return [pfn for pfn in tables if pfn >= 0]

    def exit(self, tables: list[int]) -> None:
        """Exit: the anon page (wherever compaction moved it), the page
        table, the pgd last. One shell runs at a time."""
        z = self.zone
        z.free_owner(self.anon, z.owner_pages(self.anon), z.rng, "oldest")
        for pfn in reversed(tables):
            z.free(pfn)

    @contextmanager
    def running(self):
        """One process, from fork to exit, around the block."""
        tables = self.start()
        try:
            yield
        finally:
            self.exit(tables)


def model_snapshot(zone: Zone) -> dict:
    """What the comparison reads from the model, as the recorder reads it
    right after a step: free 2 MiB blocks, Unmovable pageblocks, counters
    and the page-table pages.
    The drained figure is added after the step's closing daemon round."""
    vm = {name: int(zone.a.vm[i]) for i, name in enumerate(C.VM_NAMES)}
    vm["nr_page_table_pages"] = int(zone.pages_of_kinds()[C.KIND_PAGETABLE])
    return {
        "free_2mib": zone.free_2mib_blocks(),
        "unmovable_pageblocks": int(np.count_nonzero(zone.a.pb_mt == C.MIGRATE_UNMOVABLE)),
        "vmstat": vm,
    }


def run_step_process(zone: Zone, runner: ScenarioRunner, step, shell: Shell, seconds: float | None = None) -> dict:
    """One step as the real guest runs it, and its snapshot. Every verb but
    `balloon` (QMP only) is a shell line that init runs in a child shell
    (Shell.running: it starts before the step's work and exits after it). The
    recorder then reads /proc in a shell of its own, drains the lists
    (recorder_drain) and reads again. `seconds`: how long the step took in
    the real guest, the time on which kcompactd's proactive checks run
    within it."""
    with shell.running() if step.verb != "balloon" else nullcontext():
        runner.step_seconds = seconds
        runner.run(step, settle=False)
        runner.step_seconds = None
    with shell.running():
        snap = model_snapshot(zone)
    snap["free_2mib_drained"] = recorder_drain(zone, shell, lambda: drain_daemons(runner, step))
    return snap


def drain_daemons(runner: ScenarioRunner, step) -> None:
    """The daemons while the recorder drains: the step's closing round, then
    kcompactd's 500 ms timer, which fires at least twice in a drain whose
    shell sleeps for 1 s (steps.drain_pcp), so a proactive check that gave
    way to a running kswapd in the closing round comes again once kswapd
    sleeps."""
    runner.settle(step)
    for _ in range(DRAIN_TIMER_CHECKS - 1):
        runner.zone.run_daemons(proactiveness=runner.proactiveness, seconds=HPAGE_FRAG_CHECK_INTERVAL_MS / 1000)


def recorder_drain(zone: Zone, shell: Shell, daemons) -> int:
    """What steps.drain_pcp does to the guest, and the drained figure it
    reads: percpu_pagelist_high_fraction = 100000 lowers pcp->high to 4 *
    batch; for the seconds the short-lived processes take, the daemons run
    (drain_daemons: the step's closing round and kcompactd's 500 ms checks)
    with lists that spill at once, and the processes' frees spill the
    rest; restoring the fraction to 0 recomputes batch and high from the
    managed pages and the boosted low watermark of that moment (6.1's
    zone_pcp_update), which the next steps run with. The processes'
    allocations from the lists clear pcp->free_factor. A zone at or under
    its low watermark (boost included) with more on its lists than their
    floor gets the drain's second round, whose min_free_kbytes write clears
    the watermark boost (steps.drain_pcp). The drained figure is read by a
    shell of the recorder's, whose pages come through the restored lists."""
    zone.set_pcp_high_fraction(DRAIN_HIGH_FRACTION)
    daemons()
    if zone.nr_free <= wmark_pages(zone.a, WMARK_LOW) and zone.pcp_pages > zone.pcp_high:
        zone.clear_watermark_boost()
    zone.drain_pcp()
    zone.clear_pcp_free_factor()
    zone.set_pcp_high_fraction(0)
    with shell.running():
        drained = zone.free_2mib_blocks()
    return drained


def run_model(
    sc: Scenario, boot: BootState, world: str, seed: int, step_seconds: list[float] | None = None
) -> list[dict]:
    """Boot and every step of the scenario; one snapshot each. `step_seconds`:
    each step's duration in the real guest (the reference's mean)."""
    zone = boot_zone(
        boot, sc.zone_pages, era="6.x", balloon_compaction=world == "on", rng=new_rng(seed, 0), thp_defrag=sc.thp_defrag
    )
    runner = ScenarioRunner(zone, proactiveness=PROACTIVENESS, daemons="always")
    shell = Shell(zone)
    with shell.running():
        snaps = [model_snapshot(zone)]
    snaps[0]["free_2mib_drained"] = recorder_drain(zone, shell, lambda: None)
    for i, step in enumerate(sc.steps):
        snaps.append(run_step_process(zone, runner, step, shell, step_seconds[i] if step_seconds else None))
    return snaps
