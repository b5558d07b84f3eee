"""The per-cpu page lists of each era (page_alloc.py): their sizes, where a
free goes and what an allocation takes, when they spill, and who drains
them. Hand-computed from the 6.1 and 3.8 sources."""

import pytest

from fleet.memory import alloc, compaction, page_alloc
from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS, WMARK_MIN
from fleet.memory.zone import Zone
from tests.lists import walk

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


def pcp(z):
    return int(z.a.zs[C.ZS_PCP_COUNT])


def list_pfns(z, pindex):
    return walk(z, z.a.pcp_head[pindex])


def full_zone(era, nr_blocks=16, kind=C.KIND_ANON):
    """Every page allocated to one owner, the lists empty."""
    z = Zone(nr_blocks * PB, era=era, rng=new_rng(1, 0))
    o = z.register_owner("anon", kind)
    assert z.alloc_bulk(o, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    z.drain_pcp()
    assert pcp(z) == 0
    return z, o


# ------------------------------------------------------------------ sizes


def test_batch_and_high_of_a_1gib_zone():
    """6.1: batch = rounddown_pow_of_two(64 + 32) - 1 = 63 (min(262144 >> 10,
    256) / 4 = 64); high = the low watermark (one CPU), here raised by THP.
    3.8: min(262144 / 1024, 128) / 4 = 32 -> 31; high = 6 * 31 = 186."""
    z = Zone(GIB, era="6.x")
    assert int(z.a.zs[C.ZS_PCP_BATCH]) == 63
    assert int(z.a.zs[C.ZS_PCP_HIGH]) == z.watermark(1)
    z = Zone(GIB, era="3.8")
    assert (int(z.a.zs[C.ZS_PCP_BATCH]), int(z.a.zs[C.ZS_PCP_HIGH])) == (31, 186)


def test_small_zones_keep_a_batch_of_one_and_high_of_four_batches():
    assert page_alloc.zone_batchsize(C.ERA_6_X, 1024, 1024) == 1
    assert page_alloc.zone_highsize(C.ERA_6_X, 1, 0) == 4
    assert page_alloc.zone_batchsize(C.ERA_3_8, 1 << 20, 1 << 20) == 31  # 512 KiB cap


def test_pcp_off_frees_straight_to_the_buddy_lists():
    z = Zone(16 * PB, pcp=False)
    o = z.register_owner("anon", C.KIND_ANON)
    pfn = z.alloc(o)
    free = z.nr_free
    z.free(pfn)
    assert pcp(z) == 0 and z.nr_free == free + 1


# ------------------------------------------------------- free, allocate, refill


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_a_free_goes_to_the_list_head_and_the_next_allocation_takes_it(era):
    z, o = full_zone(era)
    free = z.nr_free
    for pfn in (100, 200, 300):
        z.free(pfn)
    assert pcp(z) == 3 and z.nr_free == free  # outside NR_FREE_PAGES
    assert list_pfns(z, C.MIGRATE_MOVABLE) == [300, 200, 100]
    assert z.free_2mib_blocks() == 0
    assert z.alloc(o, 0, ALLOC_NO_WATERMARKS) == 300  # LIFO
    z.check()


def test_an_empty_list_is_refilled_with_a_batch_in_physical_order():
    """6.1 rmqueue_bulk: batch (63) order-0 pages, or max(63 >> 9, 2) = 2
    pageblock-order blocks; they leave NR_FREE_PAGES when they are listed."""
    z = Zone(GIB, era="6.x", rng=new_rng(1, 0))
    o = z.register_owner("anon", C.KIND_ANON)
    thp = z.register_owner("thp", C.KIND_THP)
    free = z.nr_free
    first = z.alloc(o, 0, WMARK_MIN)
    assert pcp(z) == 62 and z.nr_free == free - 63
    assert list_pfns(z, C.MIGRATE_MOVABLE) == list(range(first + 1, first + 63))
    huge = z.alloc(thp, C.HPAGE_PMD_ORDER, WMARK_MIN)
    assert huge >= 0 and pcp(z) == 62 + PB
    assert list_pfns(z, C.NR_LOWORDER_PCP_LISTS + 1) == [huge + PB]
    z.check()


def test_6x_spills_the_oldest_pages_at_high_and_doubles_the_spill():
    """free_unref_page_commit: at count >= high, free_pcppages_bulk(nr_pcp_free)
    from the tails: batch << free_factor pages, the factor growing by one per
    spill without an allocation in between; an allocation halves it."""
    z, o = full_zone("6.x")
    high, batch = int(z.a.zs[C.ZS_PCP_HIGH]), int(z.a.zs[C.ZS_PCP_BATCH])
    for pfn in range(high):
        z.free(pfn)
    assert pcp(z) == high - batch
    assert list_pfns(z, C.MIGRATE_MOVABLE)[-1] == batch  # pfns 0..62 went back
    assert int(z.a.zs[C.ZS_PCP_FREE_FACTOR]) == 1
    for pfn in range(high, high + batch):
        z.free(pfn)
    assert pcp(z) == high - 2 * batch and int(z.a.zs[C.ZS_PCP_FREE_FACTOR]) == 2
    z.alloc(o, 0, ALLOC_NO_WATERMARKS)
    assert int(z.a.zs[C.ZS_PCP_FREE_FACTOR]) == 1
    z.check()


def test_3x_spills_a_batch_at_high():
    z, _ = full_zone("3.8", nr_blocks=GIB // PB)
    for pfn in range(186):
        z.free(pfn)
    assert pcp(z) == 186 - 31
    z.check()


def test_3x_spill_takes_from_each_list_in_turn():
    """3.8 free_pcppages_bulk: round robin from Reclaimable (its enum
    order); each empty list met adds one page to the next list's turn
    (batch_free). With Reclaimable empty, 10 pages go as Movable 2,
    Unmovable 1, Movable 2, Unmovable 1, Movable 2, Unmovable 1, Movable 1."""
    z = Zone(GIB, era="3.8", rng=new_rng(1, 0))
    owners = {
        mt: z.register_owner(f"o{mt}", kind)
        for mt, kind in ((C.MIGRATE_UNMOVABLE, C.KIND_KERNEL), (C.MIGRATE_MOVABLE, C.KIND_ANON))
    }
    pages = {mt: [z.alloc(o, 0, ALLOC_NO_WATERMARKS) for _ in range(100)] for mt, o in owners.items()}
    z.drain_pcp()
    for mt in owners:
        for pfn in pages[mt][:50]:
            z.free(pfn)
    page_alloc.free_pcppages_bulk(z.a, 10, 0)
    assert len(list_pfns(z, C.MIGRATE_MOVABLE)) == 43 and len(list_pfns(z, C.MIGRATE_UNMOVABLE)) == 47
    z.check()


def test_reclaim_active_caps_the_lists_at_four_batches():
    """nr_pcp_high: while kswapd balances (ZONE_RECLAIM_ACTIVE), at most 4 * batch."""
    z, _ = full_zone("6.x")
    z.a.zs[C.ZS_RECLAIM_ACTIVE] = 1
    for pfn in range(1000):
        z.free(pfn)
    assert pcp(z) < 4 * int(z.a.zs[C.ZS_PCP_BATCH])
    z.check()


def test_a_high_order_free_after_a_spill_frees_the_whole_list():
    """free_high: an order 1..3 free while free_factor > 0 spills everything."""
    z = Zone(16 * PB, era="6.x", rng=new_rng(1, 0))
    o = z.register_owner("anon", C.KIND_ANON)
    pt = z.register_owner("pgd", C.KIND_PAGETABLE)
    pgd = z.alloc(pt, 1, ALLOC_NO_WATERMARKS)
    pfns = [z.alloc(o, 0, ALLOC_NO_WATERMARKS) for _ in range(z.nr_pages - 4 * PB)]
    for pfn in pfns[::2]:
        z.free(pfn)
    assert pcp(z) > 0 and int(z.a.zs[C.ZS_PCP_FREE_FACTOR]) > 0
    z.free(pgd)
    assert pcp(z) == 0
    z.check()


# ------------------------------------------------------------------ drains


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_drain_merges_the_listed_pages_and_the_drained_count_leaves_the_zone_alone(era):
    z, o = full_zone(era, nr_blocks=8)
    for pfn in range(0, PB):
        z.free(pfn)
    assert pcp(z) > 0
    held = pcp(z)
    assert z.free_2mib_blocks_drained() == 1 and pcp(z) == held
    z.drain_pcp()
    assert pcp(z) == 0 and z.free_2mib_blocks() == 1
    z.check()


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_direct_reclaim_drains_and_retries_when_its_pages_sit_on_the_lists(era):
    """__alloc_pages_direct_reclaim: freed and reclaimed page cache sits on
    the Movable list, outside NR_FREE_PAGES, so an Unmovable request fails
    at min; it drains (drain_all_pages) and then steals from the merged
    buddies. (Lists made large enough to hold it all.)"""
    z = Zone(16 * PB, era=era, rng=new_rng(1, 0))
    z.a.zs[C.ZS_PCP_HIGH] = z.nr_pages
    cache = z.register_owner("file", C.KIND_FILE)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    pfns = [z.alloc(cache, 0, ALLOC_NO_WATERMARKS) for _ in range(z.nr_pages)]
    for pfn in pfns[: z.watermark(WMARK_MIN) + 100]:
        z.free(pfn)
    assert z.nr_free == 0 and z.alloc(kernel, 0, WMARK_MIN) == -1
    pfn, progress = alloc.alloc_pages_direct_reclaim(z.a, 0, kernel, z.rng)
    assert progress > 0 and pfn >= 0 and z.a.owner[pfn] == kernel
    assert pcp(z) <= 1  # drained; the new page's refill may be listed
    z.check()


def test_direct_reclaim_without_progress_does_not_drain():
    z, o = full_zone("6.x")  # anon without swap: nothing to reclaim
    z.free(5)
    pfn, progress = alloc.alloc_pages_direct_reclaim(z.a, 0, o, z.rng)
    assert progress == 0 and pfn == -1 and pcp(z) == 1


def test_compaction_drains_once_it_leaves_the_block_it_migrated_from():
    """6.x compact_zone check_drain: for order > 0, after the migrate scanner
    passed the cc->order aligned block it last migrated from; never for
    order -1 (compact_memory) nor in 3.8."""
    for era, order, drained in (("6.x", 9, True), ("6.x", -1, False), ("3.8", 9, False)):
        z, _ = full_zone(era)
        z.free(7)
        cc = z.a.cc
        compaction.init_cc(z.a, order, compaction.MIGRATE_SYNC_LIGHT, 1, 1, 0, 0)
        cc[compaction.CC_LAST_MIGRATED] = 1  # migrated from pfn 0
        cc[compaction.CC_MIGRATE_PFN] = PB
        compaction.drain_after_block(z.a, cc)
        assert (pcp(z) == 0) == drained, (era, order)


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_free_pages_compaction_did_not_use_go_back_through_the_lists(era):
    """release_freepages frees each unused isolated page with __free_page:
    onto the per-cpu lists (6.1 free_unref_page, 3.8 free_hot_cold_page),
    counted in pgfree, out of NR_FREE_PAGES until the lists spill."""
    z, _ = full_zone(era)
    for pfn in [*range(2 * PB), *range(3 * PB, 3 * PB + 8)]:  # above low, for the isolation check
        z.free(pfn)
    z.drain_pcp()
    free, pgfree = z.nr_free, int(z.a.vm[C.VM_PGFREE])
    _, held, _ = compaction.isolate_freepages_block(z.a, z.a.cc, 3 * PB, 4 * PB, z.a.cc_free, 0, 8, 1)
    assert held == 8 and z.nr_free == free - 8
    compaction.release_freepages(z.a, z.a.cc_free, held, 3)  # the run used three
    assert pcp(z) == 5 and z.nr_free == free - 8
    assert int(z.a.vm[C.VM_PGFREE]) == pgfree + 5
    assert sorted(list_pfns(z, C.MIGRATE_MOVABLE)) == list(range(3 * PB + 3, 3 * PB + 8))
    compaction.release_freepages(z.a, z.a.cc_free, 3, 0)  # and the rest: nothing leaks
    assert z.nr_free + pcp(z) == free
    z.check()


def test_kcompactd_drains_after_a_run_without_success():
    z, _ = full_zone("6.x")
    z.free(7)
    compaction.kcompactd_done(z.a, 9, compaction.COMPACT_COMPLETE)
    assert pcp(z) == 0 and int(z.a.zs[C.ZS_COMPACT_DEFER_SHIFT]) == 1
    z.free(9)
    compaction.kcompactd_done(z.a, 9, compaction.COMPACT_SUCCESS)
    assert pcp(z) == 1


def test_the_checker_catches_a_broken_pcp_count():
    z, _ = full_zone("6.x")
    z.free(3)
    z.a.zs[C.ZS_PCP_COUNT] += 1
    with pytest.raises(AssertionError, match="per-cpu"):
        z.check()


def test_watermarks_leave_the_lists_out():
    """zone_watermark_fast counts NR_FREE_PAGES only: pages on the lists do not
    lift the zone over its watermark, so a request is refused with more free
    pages than the watermark asks for on the lists."""
    z, o = full_zone("6.x")
    mark = z.watermark(WMARK_MIN)
    assert mark + 10 < int(z.a.zs[C.ZS_PCP_HIGH])
    for pfn in range(mark + 10):
        z.free(pfn)
    assert z.nr_free == 0 and pcp(z) == mark + 10
    assert z.alloc(o, 0, WMARK_MIN) == -1
    assert z.alloc(o, 0, ALLOC_NO_WATERMARKS) == mark + 9


def test_high_fraction_sysctl_recomputes_batch_and_high_from_the_moment():
    """6.1's percpu_pagelist_high_fraction handler (zone_pcp_update): a
    fraction gives high = managed / fraction, at least 4 * batch; 0 gives the
    low watermark plus the boost of the moment; batch follows the managed
    pages a balloon has lowered (63 -> 31 below 174,080 managed pages, as in
    the real 1 GiB guest with a 300 MiB balloon). The lists keep their pages until a free spills them."""
    z = Zone(GIB, era="6.x", rng=new_rng(1, 0))
    o = z.register_owner("anon", C.KIND_ANON)
    pfns = [z.alloc(o) for _ in range(200)]
    for pfn in pfns:
        z.free(pfn)
    held = pcp(z)
    assert held >= 200  # the frees, and what the last refill left
    z.set_pcp_high_fraction(100000)
    assert int(z.a.zs[C.ZS_PCP_HIGH]) == 63 << 2  # 262144 // 100000 = 2 < 4 * batch
    assert pcp(z) == held
    z.free(z.alloc(o))  # the next free spills
    assert pcp(z) < 63 << 2
    z.a.zs[C.ZS_WATERMARK_BOOST] = 1000
    z.a.zs[C.ZS_MANAGED] -= 90000
    z.set_pcp_high_fraction(0)
    assert int(z.a.zs[C.ZS_PCP_BATCH]) == 31  # (172144 >> 10) / 4 = 42 -> rounddown_pow_of_two(63) - 1
    assert int(z.a.zs[C.ZS_PCP_HIGH]) == z.watermark(1) + 1000


def test_high_fraction_sysctl_refuses_what_the_kernel_refuses():
    with pytest.raises(ValueError, match="at least 8"):
        Zone(GIB, era="6.x").set_pcp_high_fraction(4)
    with pytest.raises(ValueError, match="6.x"):
        Zone(GIB, era="3.8").set_pcp_high_fraction(0)
