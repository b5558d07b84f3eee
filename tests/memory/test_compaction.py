"""Compaction (compaction.py): deferral and its stall counting, the lru_lock
gate of balloon isolation in Linux 3.8-3.17, and the scanners' counters."""

import numpy as np
import pytest

from fleet.memory import compaction
from fleet.memory import constants as C
from fleet.memory.alloc import alloc_pages_direct_compact
from fleet.memory.compaction import MIGRATE_ASYNC
from fleet.memory.rng import new_rng
from fleet.memory.watermark import (
    ALLOC_NO_WATERMARKS,
)
from fleet.memory.zone import Zone
from tests.memory.zones import cache_zone, vm

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


# ------------------------------------------------ deferral and compact_stall


@pytest.mark.parametrize("era, stalls", [("6.x", 1), ("3.8", 0)])
def test_a_deferred_async_attempt_counts_a_stall_in_6x_only(era, stalls):
    z = cache_zone(era, 0)
    z.a.zs[C.ZS_COMPACT_DEFER_SHIFT] = 6  # deferred: 64 attempts are skipped
    z.a.zs[C.ZS_COMPACT_ORDER_FAILED] = 9
    pfn, result = alloc_pages_direct_compact(z.a, 9, 1, MIGRATE_ASYNC)
    assert pfn < 0 and result == compaction.COMPACT_DEFERRED
    assert vm(z, "compact_stall") == stalls
    assert vm(z, "compact_migrate_scanned") == 0  # nothing was scanned
    assert int(z.a.zs[C.ZS_COMPACT_CONSIDERED]) == 1


# ------------------------------------------------ balloon isolation: the lru_lock gate


def balloon_then_lru_block(isolation):
    """Block 0: 64 balloon pages, then 64 anon pages, the rest free; a free
    target block at the top; era 3.8 with balloon compaction on."""
    z = Zone(8 * PB, era="3.8", rng=new_rng(3, 0), thp=False, balloon_isolation=isolation, pcp=False)
    filler = z.register_owner("filler", C.KIND_ANON)
    assert z.alloc_bulk(filler, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for pfn in range(PB):
        z.free(pfn)
    assert z.inflate(64) == 64
    balloon = sorted(int(p) for p in np.flatnonzero(z.a.owner == z.balloon_owner))
    anon = z.register_owner("anon", C.KIND_ANON)
    for _ in range(64):
        assert z.alloc(anon, 0, ALLOC_NO_WATERMARKS) >= 0
    lru = sorted(int(p) for p in np.flatnonzero(z.a.owner == anon))
    for pfn in range(7 * PB, 8 * PB):  # the top block becomes the free scanner's
        z.free(pfn)
    z.drain_stream()
    return z, balloon, lru


@pytest.mark.parametrize("isolation, migrated", [("seed", 64), ("merged-3.8", 0)])
def test_merged_3_8_isolates_balloon_pages_only_after_an_lru_page(isolation, migrated):
    z, balloon, lru = balloon_then_lru_block(isolation)
    assert max(balloon) < min(lru)  # the balloon pages come first in the block
    z.compact_memory()
    assert vm(z, "balloon_migrate") == migrated
    z.check()


@pytest.mark.parametrize("nr_balloon, migrated", [(29, 29), (31, 30)])
def test_merged_3_8_isolates_balloon_pages_met_after_the_lock_was_taken(nr_balloon, migrated):
    """After the two LRU pages at pfns 0 and 1 the call holds the lock and
    isolates the balloon pages behind them, up to COMPACT_CLUSTER_MAX (32)
    pages a call; the next call starts unlocked, at a balloon page, and
    passes it over."""
    z = Zone(8 * PB, era="3.8", rng=new_rng(4, 0), thp=False, balloon_isolation="merged-3.8", pcp=False)
    filler = z.register_owner("filler", C.KIND_ANON)
    z.alloc_bulk(filler, 0, z.nr_pages, ALLOC_NO_WATERMARKS)
    z.free(0)  # one LRU page of the filler stays at pfn 1, before the balloon
    for pfn in range(2, PB):
        z.free(pfn)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc(anon, 0, ALLOC_NO_WATERMARKS) == 0
    assert z.inflate(nr_balloon) == nr_balloon  # fills pfns 2.. after the LRU pages 0 and 1
    for pfn in range(7 * PB, 8 * PB):
        z.free(pfn)
    z.drain_stream()
    z.compact_memory()
    assert vm(z, "balloon_migrate") == migrated
    z.check()


def test_each_era_has_its_default_isolation():
    assert int(Zone(8 * PB, era="3.8").a.zs[C.ZS_BALLOON_ISOLATION]) == C.BALLOON_ISOLATION_MERGED_38
    assert int(Zone(8 * PB, era="6.x").a.zs[C.ZS_BALLOON_ISOLATION]) == C.BALLOON_ISOLATION_SEED
    with pytest.raises(ValueError, match="balloon_isolation"):
        Zone(8 * PB, balloon_isolation="2014")


# ------------------------------------------------ compact_migrate_scanned (isolate_migratepages_block)

FREE_RUN = 64  # an order-6 free block at the start of pageblock 1


def thp_then_free_run(era):
    """Pageblock 0 holds one THP; pageblock 1 starts with a free order-6 block,
    the rest of the zone is order-0 anon (no per-cpu lists: the frees
    build the layout)."""
    z = Zone(8 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    thp = z.register_owner("thp", C.KIND_THP)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for pfn in range(PB):
        z.free(pfn)
    assert z.alloc(thp, C.HPAGE_PMD_ORDER, ALLOC_NO_WATERMARKS) == 0
    for pfn in range(PB, PB + FREE_RUN):
        z.free(pfn)
    z.check()
    return z


def scan_one_block(z):
    """One isolate_migratepages call of a whole-zone run; (isolated, scanned)."""
    before = int(z.a.vm[C.VM_COMPACT_MIGRATE_SCANNED])
    nr = compaction.isolate_migratepages(z.a, z.a.cc, z.a.cc_migrate, False)
    return int(nr), int(z.a.vm[C.VM_COMPACT_MIGRATE_SCANNED]) - before


@pytest.mark.parametrize("era, free_run_counted", [("6.x", 1), ("3.8", FREE_RUN)])
def test_migrate_scanner_counts_the_pfns_it_looks_at(era, free_run_counted):
    """6.1 steps over a THP and a free block counting each as the one pfn it
    looked at (6.4 counts their pages); 3.8 jumps a THP's tails uncounted
    and walks a free block pfn by pfn."""
    z = thp_then_free_run(era)
    compaction.init_cc(z.a, -1, compaction.MIGRATE_SYNC, 1, 1, 0, 0)
    # Pageblock 0: the THP, stepped over whole.
    assert scan_one_block(z) == (0, 1)
    # Pageblock 1: the free block, then one pfn per anon page until a
    # cluster of 32 is isolated.
    nr, scanned = scan_one_block(z)
    assert nr == C.COMPACT_CLUSTER_MAX
    assert scanned == free_run_counted + C.COMPACT_CLUSTER_MAX
    assert z.a.cc[compaction.CC_MIGRATE_PFN] == PB + FREE_RUN + C.COMPACT_CLUSTER_MAX


# ------------------------------------------------ proactive compaction and kswapd


def fragmented_zone():
    """Every other page of a full zone freed: fragmentation score 100."""
    z = Zone(64 * PB, era="6.x", rng=new_rng(1, 0))
    o = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(o, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    z.free_owner_every(o, 2)
    z.drain_pcp()
    assert compaction.fragmentation_score(z.a) > 90
    return z


def test_proactive_compaction_gives_way_while_kswapd_runs():
    """6.1's should_proactive_compact_node is false while kswapd_is_running:
    a daemon round in which kswapd was woken does no proactive compaction;
    the next round, kswapd asleep, does."""
    z = fragmented_zone()
    z.a.zs[C.ZS_KSWAPD_WAKE] = 1  # woken for order 0
    z.run_daemons(proactiveness=20)
    assert vm(z, "pgmigrate_success") == 0
    z.run_daemons(proactiveness=20)
    assert vm(z, "pgmigrate_success") > 0
    assert compaction.fragmentation_score(z.a) <= 80


def test_a_proactive_run_with_a_budget_yields_and_resumes_where_it_stopped():
    """A proactive run that shares the vCPU (run_daemons' budget) stops once
    it has migrated its budget, within a batch if need be (COMPACT_YIELDED),
    starts no second run while it is live, and continue_kcompactd takes it
    on with the pages it holds to its end, exactly as one whole run ends."""
    z = fragmented_zone()
    z.run_daemons(proactiveness=20, budget=64)
    assert vm(z, "pgmigrate_success") == 64
    assert compaction.fragmentation_score(z.a) > 80
    z.run_daemons(proactiveness=20)
    assert vm(z, "pgmigrate_success") == 64  # the live run holds kcompactd
    z.continue_kcompactd(100)
    assert vm(z, "pgmigrate_success") == 164
    z.continue_kcompactd()
    assert compaction.fragmentation_score(z.a) <= 80
    whole = fragmented_zone()
    whole.run_daemons(proactiveness=20)
    assert vm(z, "pgmigrate_success") == vm(whole, "pgmigrate_success")
    assert np.array_equal(z.a.owner, whole.a.owner)
    z.check()


def test_a_yielded_proactive_run_finishes_its_batch_then_gives_way_to_kswapd():
    """6.1's __compact_finished ends a proactive run while kswapd_is_running
    (COMPACT_PARTIAL_SKIPPED), which it checks between batches: a run that
    yielded within a batch migrates the rest of it, then ends, its pages
    all back in place."""
    z = fragmented_zone()
    z.run_daemons(proactiveness=20, budget=40)
    held = int(z.a.cc[compaction.CC_BATCH_NR] - z.a.cc[compaction.CC_BATCH_DONE])
    assert held > 0
    z.a.zs[C.ZS_KSWAPD_WAKE] = 1
    z.continue_kcompactd()
    assert vm(z, "pgmigrate_success") == 40 + held
    z.a.zs[C.ZS_KSWAPD_WAKE] = 0
    z.continue_kcompactd()
    assert vm(z, "pgmigrate_success") == 40 + held  # ended, not paused
    z.check()


def holes_above_anon(era, anon_blocks, holes):
    """Block 0 free (room above the watermarks, below the scanners' reach:
    a free block is no migration source or target), then `anon_blocks`
    blocks full of order-0 anon, then blocks whose every other page, up to
    `holes` pages, is free."""
    blocks = 1 + anon_blocks + max(1, -(-2 * holes // PB))
    z = Zone(blocks * PB, era=era, rng=new_rng(1, 0), thp=False, pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for pfn in range(PB):
        z.free(pfn)
    first = (1 + anon_blocks) * PB
    for pfn in range(first, first + 2 * holes, 2):
        z.free(pfn)
    return z


@pytest.mark.parametrize("era, second_batch", [("6.x", PB - compaction.COMPACT_CLUSTER_MAX), ("3.8", 32)])
def test_a_second_batch_from_the_same_pageblock_takes_the_rest_of_it_in_61(era, second_batch):
    """6.1's compact_zone sets cc->rescan when a migrate scan starts in the
    pageblock the last batch came from, and isolate_migratepages_block then
    isolates the rest of the block, not COMPACT_CLUSTER_MAX pages (5.1-6.1;
    finish_pageblock in 6.2+); 3.8 always stops at COMPACT_CLUSTER_MAX.
    Seen from a run that yields 8 pages into its second batch."""
    z = holes_above_anon(era, 1, 3 * PB)
    compaction.init_cc(z.a, -1, compaction.MIGRATE_SYNC, 1, 1, 0, 0)
    z.a.cc[compaction.CC_BUDGET] = compaction.COMPACT_CLUSTER_MAX + 8
    assert compaction.compact_zone(z.a) == compaction.COMPACT_YIELDED
    cc = z.a.cc
    assert (int(cc[compaction.CC_BATCH_NR]), int(cc[compaction.CC_BATCH_DONE])) == (second_batch, 8)
    z.a.cc[compaction.CC_BUDGET] = 0
    assert compaction.compact_zone(z.a) == compaction.COMPACT_COMPLETE
    assert vm(z, "pgmigrate_success") >= PB  # the anon block, at least, moved
    z.check()


@pytest.mark.parametrize("era, failed", [("6.x", 1), ("3.8", 0)])
def test_a_batch_left_without_free_pages_fails_one_page_in_61(era, failed):
    """When compaction_alloc finds no free page, migrate_pages stops at
    -ENOMEM and compact_zone puts the rest of the batch back: 6.1 counts
    the one page in pgmigrate_fail, 3.8 none."""
    z = holes_above_anon(era, 3, 8)
    z.compact_memory()
    assert vm(z, "pgmigrate_success") == 8
    assert vm(z, "pgmigrate_fail") == failed
    z.check()


def test_a_proactive_run_that_does_not_lower_the_score_waits_32_seconds():
    """kcompactd (6.1): when proactive_compact_node left the score where it
    was, the next check comes after 500 ms << COMPACT_MAX_DEFER_SHIFT = 32 s;
    a wake-up for work resets the timeout."""
    z = Zone(64 * PB, era="6.x", rng=new_rng(1, 0))
    o = z.register_owner("kernel", C.KIND_KERNEL)  # unmovable: nothing to migrate
    assert z.alloc_bulk(o, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    z.free_owner_every(o, 2)
    z.drain_pcp()
    scanned = []
    for _ in range(34):
        z.run_daemons(proactiveness=20)
        scanned.append(vm(z, "compact_daemon_migrate_scanned") + vm(z, "compact_migrate_scanned"))
    runs = [i for i in range(34) if scanned[i] > (scanned[i - 1] if i else 0)]
    assert runs == [0, 33]
    assert int(z.a.zs[C.ZS_PROACTIVE_WAIT_MS]) == compaction.PROACTIVE_DEFER_MS
    wakes, proactive = vm(z, "compact_daemon_wake"), proactive_scanned(z)
    z.a.zs[C.ZS_KCOMPACTD_WAKE] = C.PAGEBLOCK_ORDER + 1
    z.run_daemons(proactiveness=20)
    assert vm(z, "compact_daemon_wake") == wakes + 1  # kcompactd_do_work,
    assert proactive_scanned(z) > proactive  # then the proactive check at once


def proactive_scanned(z):
    """Pfns scanned outside kcompactd_do_work: compact_zone counts every run
    in compact_migrate_scanned, kcompactd_do_work in the daemon twin too."""
    return vm(z, "compact_migrate_scanned") - vm(z, "compact_daemon_migrate_scanned")


def test_proactive_compaction_counts_as_6_1_does():
    """6.1: a proactive run (proactive_compact_node) is no kcompactd wake and
    adds to compact_*_scanned only; a kcompactd_do_work run adds to both
    compact_migrate_scanned and compact_daemon_migrate_scanned."""
    for woken in (False, True):
        z = Zone(64 * PB, era="6.x", rng=new_rng(1, 0))
        o = z.register_owner("anon", C.KIND_ANON)
        assert z.alloc_bulk(o, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
        z.free_owner_every(o, 2)
        z.drain_pcp()
        if woken:
            z.a.zs[C.ZS_KCOMPACTD_WAKE] = C.PAGEBLOCK_ORDER + 1
        z.run_daemons(proactiveness=0 if woken else 20)
        scanned, daemon = vm(z, "compact_migrate_scanned"), vm(z, "compact_daemon_migrate_scanned")
        assert scanned > 0 and vm(z, "pgmigrate_success") > 0
        assert vm(z, "compact_daemon_wake") == int(woken)
        assert daemon == (scanned if woken else 0)


def test_a_kcompactd_run_woken_for_work_yields_with_a_budget_and_takes_wakes_at_its_end():
    """kcompactd is one thread (6.1 kcompactd()): a kcompactd_do_work run that
    shares the vCPU (run_daemons' budget) stops after its budget; a wake-up
    for the same order while it is live starts no second run, and is gone
    once the run ends (kcompactd_do_work resets kcompactd_max_order when it
    was at most the run's order); continue_kcompactd finishes the run
    exactly as one whole run ends, deferral included."""
    order = C.PAGEBLOCK_ORDER
    z, whole = fragmented_zone(), fragmented_zone()
    for zone in (z, whole):
        zone.a.zs[C.ZS_KCOMPACTD_WAKE] = order + 1
    z.run_daemons(budget=64)
    assert (vm(z, "pgmigrate_success"), vm(z, "compact_daemon_wake")) == (64, 1)
    z.a.zs[C.ZS_KCOMPACTD_WAKE] = order + 1  # kswapd woke kcompactd again meanwhile
    z.run_daemons(budget=64)
    assert (vm(z, "pgmigrate_success"), vm(z, "compact_daemon_wake")) == (64, 1)
    z.continue_kcompactd()
    whole.run_daemons()
    assert vm(z, "pgmigrate_success") == vm(whole, "pgmigrate_success") > 64
    assert np.array_equal(z.a.owner, whole.a.owner)
    assert z.a.zs[C.ZS_COMPACT_DEFER_SHIFT] == whole.a.zs[C.ZS_COMPACT_DEFER_SHIFT]
    z.run_daemons()
    assert vm(z, "compact_daemon_wake") == 1  # the wake-up that came during the run is spent
    z.check()


def test_a_wake_for_work_waits_for_a_live_proactive_run_to_end():
    """A kcompactd woken for work while its proactive run is live (yielded
    within a batch) runs kcompactd_do_work only once that run has ended:
    kcompactd_max_order stays set until the thread is free."""
    z = fragmented_zone()
    z.run_daemons(proactiveness=20, budget=40)
    z.a.zs[C.ZS_KCOMPACTD_WAKE] = C.PAGEBLOCK_ORDER + 1
    z.run_daemons(proactiveness=20, budget=40)
    assert vm(z, "compact_daemon_wake") == 0
    z.continue_kcompactd()
    z.run_daemons()
    assert vm(z, "compact_daemon_wake") == 1
    z.check()
