"""The 6.x compaction scanners' rules (compaction.py): the async free
scanner's stride, the free block's skip bit, async direct compaction's
skip-on-failure, the two fast searches, the cached positions after the
scanners meet, when skip bits are flushed (kswapd's sleep, compaction
restarting, a success), and the priority of a costly
__GFP_NORETRY request's second attempt."""

import numpy as np
import pytest

from fleet.memory import compaction
from fleet.memory import constants as C
from fleet.memory.alloc import alloc_pages_direct_compact, alloc_pages_gfp, try_to_compact_pages
from fleet.memory.compaction import MIGRATE_ASYNC, MIGRATE_SYNC, MIGRATE_SYNC_LIGHT
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone
from tests.memory.zones import vm

PB = C.PAGEBLOCK_NR_PAGES


def full_zone(blocks, era="6.x", reserve=False):
    """A zone whose every page belongs to an anon filler; no per-cpu lists.
    With `reserve`, block 0 is free, below the free scanner's reach, so
    that free-page isolation passes its watermark check."""
    z = Zone(blocks * PB, era=era, rng=new_rng(1, 0), thp=False, pcp=False)
    filler = z.register_owner("filler", C.KIND_ANON)
    assert z.alloc_bulk(filler, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    if reserve:
        for pfn in range(PB):
            z.free(pfn)
    return z


def release(z, nr_free):
    """Give the pages a scanner isolated back, as compact_zone does at its end."""
    compaction.release_freepages(z.a, z.a.cc_free, nr_free, 0)


def test_the_async_free_scanner_looks_at_every_32nd_pfn_and_misses_a_lone_page_between():
    z = full_zone(4, reserve=True)
    top = 3 * PB
    z.free(top + 5)
    start, end = top, top + PB
    reached, held, stopped = compaction.isolate_freepages_block(z.a, z.a.cc, start, end, z.a.cc_free, 0, 32, 32)
    assert (held, stopped, reached >= end) == (0, False, True)
    assert vm(z, "compact_free_scanned") == PB // 32
    assert vm(z, "compact_isolated") == 0
    reached, held, _ = compaction.isolate_freepages_block(z.a, z.a.cc, start, end, z.a.cc_free, 0, 32, 1)
    assert held == 1 and int(z.a.cc_free[0]) == top + 5
    assert vm(z, "compact_isolated") == 1  # COMPACTISOLATED counts the free scanner's pages too
    release(z, held)
    z.check()


@pytest.mark.parametrize("era, counted", [("6.x", 1 + PB // 2), ("3.8", PB)])
def test_the_free_scanner_counts_a_compound_page_it_jumps_as_one_pfn_in_61(era, counted):
    """The top block holds a half-block compound page, then a free buddy of
    the same size. 6.1 counts the compound page it jumps as the one pfn it
    looked at (6.4 counts its pages) and the buddy it takes as its pages
    (6.0); 3.8 counts every pfn it passes."""
    z = full_zone(4, era, reserve=True)
    top = 3 * PB
    for pfn in range(top, top + PB):
        z.free(pfn)
    huge = z.register_owner("huge", C.KIND_THP)
    assert z.alloc(huge, C.PAGEBLOCK_ORDER - 1, ALLOC_NO_WATERMARKS) == top
    reached, held, _ = compaction.isolate_freepages_block(z.a, z.a.cc, top, top + PB, z.a.cc_free, 0, PB, 1)
    assert (reached, held) == (top + PB, PB // 2)
    assert vm(z, "compact_free_scanned") == counted
    release(z, held)
    z.check()


@pytest.mark.parametrize("era, found", [("6.x", 0), ("3.8", 1)])
def test_after_an_empty_block_even_a_sync_scan_samples_in_6x_only(era, found):
    """The top block gives nothing, so 6.x doubles the stride to 2 for the
    next block and steps over its lone free page at offset 1; 3.8 scans
    every pfn."""
    z = full_zone(4, era, reserve=True)
    z.free(2 * PB + 1)
    compaction.init_cc(z.a, -1, MIGRATE_SYNC, 1, 1, 0, 0)
    held = compaction.isolate_freepages(z.a, z.a.cc, z.a.cc_free, 32)
    assert held == found
    release(z, held)
    z.check()


@pytest.mark.parametrize("era, skipped", [("6.x", 1), ("3.8", 0)])
def test_a_free_block_scanned_to_its_end_is_skipped_in_6x_even_when_it_gave_pages(era, skipped):
    z = full_zone(4, era, reserve=True)
    top = 3 * PB
    for pfn in range(top, top + 16, 2):  # 8 lone free pages: fewer than asked for
        z.free(pfn)
    compaction.init_cc(z.a, -1, MIGRATE_SYNC, 1, 1, 0, 0)  # no fast search, stride 1
    held = compaction.isolate_freepages(z.a, z.a.cc, z.a.cc_free, 32)
    assert held == 8
    assert int(z.a.pb_skip[3]) == skipped
    release(z, held)
    z.check()


def block_with_an_unmovable_page(offset):
    """Block 0 of a full zone holds one kernel page at `offset` (stolen
    without claiming the block, which stays Movable)."""
    z = full_zone(8)
    z.free(offset)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    assert z.alloc(kernel, 0, ALLOC_NO_WATERMARKS) == offset
    assert z.a.pb_mt[0] == C.MIGRATE_MOVABLE
    return z


@pytest.mark.parametrize("mode, isolated", [(MIGRATE_ASYNC, 0), (MIGRATE_SYNC_LIGHT, 32)])
def test_async_direct_compaction_skips_a_block_it_cannot_empty(mode, isolated):
    z = block_with_an_unmovable_page(10)
    compaction.init_cc(z.a, 9, mode, 0, 0, 1, 0)
    nr = compaction.isolate_migratepages(z.a, z.a.cc, z.a.cc_migrate, False)
    assert nr == isolated
    if mode == MIGRATE_ASYNC:
        # the ten pages isolated before the unmovable one went back; the scan left the block
        assert int(z.a.cc[compaction.CC_MIGRATE_PFN]) == PB
        assert int(z.a.pb_skip[0]) == 1
        assert int(z.a.zs[C.ZS_ISOLATED_LRU]) == 0
    else:
        for i in range(nr):
            compaction.putback_movable_page(z.a, int(z.a.cc_migrate[i]))
    z.check()


def test_the_fast_free_search_takes_a_page_from_the_free_list_without_the_linear_scan():
    z = full_zone(8, reserve=True)
    target = 7 * PB + 300  # in the top quarter of the scan space
    z.free(target)
    compaction.init_cc(z.a, 9, MIGRATE_ASYNC, 0, 0, 1, 0)
    held = compaction.isolate_freepages(z.a, z.a.cc, z.a.cc_free, 32)
    assert held == 1 and int(z.a.cc_free[0]) == target
    assert vm(z, "compact_free_scanned") == 1  # one free-list entry, no pfn walked
    assert vm(z, "compact_isolated") == 1
    assert int(z.a.cc[compaction.CC_FREE_PFN]) == 7 * PB  # the linear scanner did not move
    release(z, held)
    z.check()


def test_the_fast_migrate_search_moves_the_scanner_past_the_block_it_found_as_61_does():
    z = full_zone(16)
    for pfn in range(2 * PB + 64, 2 * PB + 72):  # an order-3 free buddy in block 2
        z.free(pfn)
    assert z.a.nr_free[3, C.MIGRATE_MOVABLE] == 1
    compaction.init_cc(z.a, 9, MIGRATE_ASYNC, 0, 0, 1, 0)
    nr = compaction.isolate_migratepages(z.a, z.a.cc, z.a.cc_migrate, False)
    assert nr == 0
    assert int(z.a.cc[compaction.CC_MIGRATE_PFN]) == 3 * PB  # blocks 0 and 1 were never scanned
    assert np.flatnonzero(z.a.pb_skip).tolist() == [2]
    assert vm(z, "compact_isolated") == 0
    z.check()


def test_when_the_scanners_meet_the_next_run_starts_anew():
    z = full_zone(8)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    for block in range(8):  # an unmovable page in every block: none can be emptied
        z.free(block * PB + 1)
        assert z.alloc(kernel, 0, ALLOC_NO_WATERMARKS) == block * PB + 1
    z.free(5 * PB + 7)
    compaction.init_cc(z.a, 9, MIGRATE_ASYNC, 0, 0, 1, 0)
    result = compaction.compact_zone(z.a)
    assert result == compaction.COMPACT_PARTIAL_SKIPPED
    assert int(z.a.zs[C.ZS_CACHED_MIGRATE_PFN]) == 0 and int(z.a.zs[C.ZS_CACHED_FREE_PFN]) == 0
    z.check()


def test_skip_bits_are_flushed_only_when_a_woken_kswapd_goes_back_to_sleep():
    """6.x's flush samples every 8th page: the lower blocks' anon pages are
    LRU pages; in the upper half a block needs a sampled free page until the
    first one is found (block 6's at offset 8), so block 7, whose only free
    page sits at offset 3, stays skipped; the scanners restart at block 0
    and block 6."""
    z = full_zone(8)
    z.free(6 * PB + 8)
    z.free(7 * PB + 3)
    z.a.pb_skip[:] = 1
    z.a.zs[C.ZS_BLOCKSKIP_FLUSH] = 1
    z.run_daemons()  # kswapd was not woken: it slept throughout
    assert np.count_nonzero(z.a.pb_skip) == 8
    z.a.zs[C.ZS_KSWAPD_WAKE] = 1  # woken for order 0
    z.run_daemons()
    assert z.a.pb_skip.tolist() == [0, 0, 0, 0, 0, 0, 0, 1] and int(z.a.zs[C.ZS_BLOCKSKIP_FLUSH]) == 0
    assert (int(z.a.zs[C.ZS_CACHED_MIGRATE_PFN]), int(z.a.zs[C.ZS_CACHED_FREE_PFN])) == (0, 6 * PB)


def test_a_flush_leaves_blocks_of_balloon_pages_skipped_they_are_not_lru_pages():
    z = Zone(4 * PB, era="6.x", rng=new_rng(1, 0), thp=False, pcp=False, balloon_compaction=True)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, PB, ALLOC_NO_WATERMARKS) == PB
    while z.balloon_pages() < 2 * PB:
        assert z.inflate(2 * PB - z.balloon_pages()) > 0
    balloon = z.balloon_owner
    layout = [set(z.a.owner[b * PB : (b + 1) * PB].tolist()) for b in range(4)]
    assert layout == [{anon}, {balloon}, {balloon}, {C.OWNER_NONE}]
    z.a.pb_skip[:] = 1
    z.a.zs[C.ZS_BLOCKSKIP_FLUSH] = 1
    compaction.reset_isolation_suitable(z.a)
    assert z.a.pb_skip.tolist() == [0, 1, 1, 0]
    z.check()


@pytest.mark.parametrize("era, flush, flushed", [("6.x", 0, False), ("6.x", 1, True), ("3.8", 0, True)])
def test_compaction_restarting_after_the_longest_deferral_flushes_skip_bits_only_as_its_era_does(era, flush, flushed):
    """try_to_compact_pages at compact_defer_shift 6 with 64 attempts
    considered: 3.8's compact_zone flushes unconditionally; 6.x's
    __reset_isolation_suitable returns unless compact_blockskip_flush says
    a direct compaction's scanners met since the last flush (5.1+)."""
    z = full_zone(8, era)
    for pfn in [*range(1, 5 * PB, 2), 7 * PB + 8]:  # headroom, no free block; a target up top
        z.free(pfn)
    z.a.pb_skip[:] = 1
    z.a.zs[C.ZS_BLOCKSKIP_FLUSH] = flush
    z.a.zs[C.ZS_CACHED_MIGRATE_PFN], z.a.zs[C.ZS_CACHED_FREE_PFN] = 6 * PB, 7 * PB
    z.a.zs[C.ZS_COMPACT_DEFER_SHIFT], z.a.zs[C.ZS_COMPACT_CONSIDERED] = 6, 63
    z.a.zs[C.ZS_COMPACT_ORDER_FAILED] = 9
    z.a.zs[C.ZS_EXTFRAG_THRESHOLD] = -1  # memory is scarce; compaction_suitable must still pass
    z.a.zs[C.ZS_WMARK_LOW] = 0
    try_to_compact_pages(z.a, 9, MIGRATE_SYNC_LIGHT)
    # Kept: the run resumes at the cached pfn, in a skipped block next to the
    # free scanner, and scans nothing. Flushed: it starts at the zone's start.
    assert (vm(z, "compact_migrate_scanned") > 0) == flushed
    z.check()


@pytest.mark.parametrize("era, left", [("3.8", 0), ("6.x", 8)])
def test_compact_memory_at_the_longest_deferral_flushes_in_38_only(era, left):
    """3.8's compact_zone flushes at compact_defer_shift 6 for every caller;
    6.x's compaction_restarting never holds for compact_memory's order -1."""
    z = full_zone(8, era, reserve=True)
    z.a.pb_skip[:] = 1
    z.a.zs[C.ZS_COMPACT_DEFER_SHIFT], z.a.zs[C.ZS_COMPACT_CONSIDERED] = 6, 64
    compaction.init_cc(z.a, -1, MIGRATE_SYNC, 1, 1, 0, 0)  # what compact_memory starts with
    assert np.count_nonzero(z.a.pb_skip) == left
    z.check()


def test_a_compaction_that_let_the_allocation_succeed_keeps_the_skip_bits():
    """__alloc_pages_direct_compact clears compact_blockskip_flush on a
    success (3.8 and 6.x): the next restart keeps its skip bits."""
    z = full_zone(8)
    for pfn in [*range(0, 4 * PB, 2), *range(7 * PB, 8 * PB)]:
        z.free(pfn)  # headroom, and a whole free block: the request succeeds
    z.a.zs[C.ZS_BLOCKSKIP_FLUSH] = 1
    thp = z.register_owner("thp", C.KIND_THP)
    z.a.zs[C.ZS_WMARK_MIN] = z.a.zs[C.ZS_WMARK_LOW] = 0
    pfn, _ = alloc_pages_direct_compact(z.a, 9, thp, MIGRATE_ASYNC)
    assert pfn >= 0 and vm(z, "compact_success") == 1
    assert int(z.a.zs[C.ZS_BLOCKSKIP_FLUSH]) == 0
    z.check()


@pytest.mark.parametrize("gfp, defer_shift", [(C.GFP_DIRECT_RECLAIM | C.GFP_NORETRY, 0), (C.GFP_DIRECT_RECLAIM, 1)])
def test_a_costly_noretry_request_compacts_async_after_reclaim_and_so_never_defers(gfp, defer_shift):
    """Every block holds an unmovable page, so no compaction can succeed;
    only a failed attempt above async priority defers (try_to_compact_pages)."""
    z = Zone(32 * PB, era="6.x", rng=new_rng(2, 0), thp=False, pcp=False)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for block in range(32):
        z.free(block * PB)
        assert z.alloc(kernel, 0, ALLOC_NO_WATERMARKS) == block * PB
        for pfn in range(block * PB + 4, (block + 1) * PB, 4):  # lone free pages: memory enough
            z.free(pfn)
    thp = z.register_owner("thp", C.KIND_THP)
    assert alloc_pages_gfp(z.a, 9, thp, gfp, z.rng) < 0
    assert vm(z, "compact_stall") == 2 and vm(z, "compact_success") == 0
    assert int(z.a.zs[C.ZS_COMPACT_DEFER_SHIFT]) == defer_shift
    z.check()
