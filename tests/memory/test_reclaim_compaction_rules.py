"""Kernel rules on the path that decides on − off, each tested on its own:
THP's min_free_kbytes (set_recommended_min_free_kbytes), direct reclaim for
costly orders (compaction_ready, should_continue_reclaim), compaction
deferral and its stall counting, the watermark boost waking kswapd and a
boosted kswapd waking kcompactd, and the lru_lock gate of balloon isolation
in Linux 3.8-3.17."""

import numpy as np
import pytest

from fleet.memory import compaction, vmscan
from fleet.memory import constants as C
from fleet.memory.alloc import alloc_pages_direct_compact
from fleet.memory.compaction import MIGRATE_ASYNC
from fleet.memory.rng import new_rng
from fleet.memory.watermark import (
    ALLOC_NO_WATERMARKS,
    WMARK_MIN,
    guest_zones,
    min_free_kbytes,
    recommended_min_free_kbytes,
    zone_watermarks,
)
from fleet.memory.zone import Zone

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


def vm(z, name):
    return int(z.a.vm[C.VM[name]])


# ------------------------------------------------ set_recommended_min_free_kbytes


@pytest.mark.parametrize(
    "pages, zones, kb",
    [
        (GIB, 2, 45056),  # (2 + 3 * 3) * 512 pages * 2 zones * 4 KB: the real 6.1 guest's /proc value
        (2 * GIB, 2, 45056),
        (4 * GIB, 3, 67584),  # DMA, DMA32 and Normal
        (128 << 8, 2, 6444),  # 128 MiB: capped at 5% of (lowmem - high) = 1611 pages
    ],
)
@pytest.mark.parametrize("era", [C.ERA_3_8, C.ERA_6_X])
def test_thp_raises_min_free_kbytes(pages, zones, kb, era):
    assert guest_zones(pages) == zones
    high = zone_watermarks(pages, era)[2]
    assert recommended_min_free_kbytes(pages, era, zones) == max(kb, min_free_kbytes(pages, era))
    assert kb == min(PB * zones * 11, (pages - high) // 20) * 4


def test_a_left_out_zone_takes_its_share_of_min():
    """__setup_per_zone_wmarks: min = pages_min * managed / lowmem. The 1 GiB
    validation guest's DMA32 (249,857 managed, DMA 3,840) gets 11,093 of
    11,264 pages, as its /proc/zoneinfo says."""
    assert zone_watermarks(249857, C.ERA_6_X, 10, 45056, 249857 + 3840)[:3] == (11093, 13866, 16639)
    z = Zone(GIB)
    assert int(z.a.zs[C.ZS_MIN_FREE_KBYTES]) == 45056 and z.watermark(0) == 11264
    assert Zone(GIB, thp=False).watermark(0) == 1024


# ------------------------------------------------ direct reclaim for costly orders


def cache_zone(era, free_pages):
    """A 64 MiB zone full of page cache except `free_pages` free pages at the
    top; no per-cpu lists, so reclaimed pages count as free at once."""
    z = Zone(32 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    o = z.register_owner("file", C.KIND_FILE)
    assert z.alloc_bulk(o, 0, z.nr_pages - free_pages, ALLOC_NO_WATERMARKS) == z.nr_pages - free_pages
    return z


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_order0_direct_reclaim_takes_one_cluster(era):
    z = cache_zone(era, 0)
    assert vmscan.try_to_free_pages(z.a, 0, z.rng) == vmscan.SWAP_CLUSTER_MAX
    assert vm(z, "allocstall_normal") == 1


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_costly_direct_reclaim_goes_on_until_compaction_may_run(era):
    z = cache_zone(era, 0)
    got = vmscan.try_to_free_pages(z.a, 9, z.rng)
    assert got > vmscan.SWAP_CLUSTER_MAX
    assert compaction.compaction_suitable(z.a, 9) == compaction.COMPACT_CONTINUE
    if era == "3.8":
        assert got >= 2 << 9  # 3.8 first reclaims compact_gap pages, whatever the watermarks
    else:  # 6.x stops at the first cluster after which compaction may run
        assert z.nr_free - vmscan.SWAP_CLUSTER_MAX <= z.watermark(1) + (2 << 9) < z.nr_free


def test_costly_direct_reclaim_is_skipped_when_compaction_is_ready():
    z = cache_zone("6.x", 0)
    target = z.watermark(2) + (2 << 9)  # compaction_ready: above high + compact_gap
    z2 = cache_zone("6.x", target + 64)
    assert vmscan.try_to_free_pages(z2.a, 9, z2.rng) == 0
    assert vm(z2, "allocstall_normal") == 1
    assert vmscan.try_to_free_pages(z.a, 9, z.rng) > 0


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


# ------------------------------------------------ watermark boost -> kswapd -> kcompactd


def test_a_boosting_steal_wakes_kswapd_and_boosted_kswapd_wakes_kcompactd_at_pageblock_order():
    """6.x steal_suitable_fallback boosts below pageblock order and sets
    ZONE_BOOSTED_WATERMARK; rmqueue then wakes kswapd, and balance_pgdat's
    boosted run ends with wakeup_kcompactd(pgdat, pageblock_order)."""
    z = Zone(16 * PB, era="6.x", rng=new_rng(2, 0))
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for pfn in range(0, 16 * PB, 2):  # holes only: every free block is order 0
        z.free(pfn)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    assert z.alloc(kernel, 0) >= 0  # an Unmovable request steals a Movable hole
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) > 0
    assert int(z.a.zs[C.ZS_KSWAPD_WAKE]) == 1  # woken for order 0
    vmscan.balance_pgdat(z.a, z.rng)
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0
    assert int(z.a.zs[C.ZS_KCOMPACTD_WAKE]) == C.PAGEBLOCK_ORDER + 1
    z.run_daemons()
    assert vm(z, "compact_daemon_wake") == 1 and int(z.a.zs[C.ZS_KCOMPACTD_WAKE]) == 0


@pytest.mark.parametrize("swap", [False, True])
def test_boosted_kswapd_reclaims_the_boost_although_the_zone_is_balanced(swap):
    """6.x balance_pgdat: with a boost, kswapd reclaims nr_boost_reclaim
    pages even when free memory is above high + boost, and without swapping
    (may_swap = 0): page cache goes, anon stays."""
    z = Zone(64 * PB, era="6.x", rng=new_rng(6, 0), swap=swap, pcp=False)
    cache = z.register_owner("file", C.KIND_FILE)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(cache, 0, 8 * PB, ALLOC_NO_WATERMARKS) == 8 * PB
    assert z.alloc_bulk(anon, 0, 8 * PB, ALLOC_NO_WATERMARKS) == 8 * PB
    boost = 2 * PB
    z.a.zs[C.ZS_WATERMARK_BOOST] = boost
    z.a.zs[C.ZS_KSWAPD_WAKE] = 1
    assert z.nr_free > z.watermark(2) + boost  # balanced
    got = vmscan.balance_pgdat(z.a, z.rng)
    assert boost <= got < boost + vmscan.SWAP_CLUSTER_MAX
    assert z.owner_pages(anon) == 8 * PB and z.owner_pages(cache) == 8 * PB - got
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0


def test_unboosted_kswapd_stops_at_a_balanced_zone():
    z = Zone(64 * PB, era="6.x", rng=new_rng(6, 0), pcp=False)
    cache = z.register_owner("file", C.KIND_FILE)
    assert z.alloc_bulk(cache, 0, 8 * PB, ALLOC_NO_WATERMARKS) == 8 * PB
    z.a.zs[C.ZS_KSWAPD_WAKE] = 1
    assert vmscan.balance_pgdat(z.a, z.rng) == 0


def test_3_8_never_boosts():
    z = Zone(16 * PB, era="3.8", rng=new_rng(2, 0))
    anon = z.register_owner("anon", C.KIND_ANON)
    z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS)
    for pfn in range(0, 16 * PB, 2):
        z.free(pfn)
    z.alloc(z.register_owner("kernel", C.KIND_KERNEL), 0)
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0 and int(z.a.zs[C.ZS_KSWAPD_WAKE]) == 0


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


# ------------------------------------------------ the 3.8 slow path and kswapd's compaction


def holes_zone(era):
    """A 16-pageblock zone of anon with every other page free: plenty of free
    memory, no free block above order 0, nothing reclaimable."""
    z = Zone(16 * PB, era=era, rng=new_rng(5, 0), thp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS)
    for pfn in range(0, 16 * PB, 2):
        z.free(pfn)
    return z, anon


@pytest.mark.parametrize("era, allocstalls", [("3.8", 0), ("6.x", 1)])
def test_3_8_compacts_before_reclaiming_for_every_order(era, allocstalls):
    """3.8 runs async compaction for any order > 0 before direct reclaim; 6.x
    only for costly or non-movable requests, so an order-2 movable request
    reclaims first. (Order 2: with only order-0 holes an order-1 request has
    a fragmentation index just under 500, lack of memory, which 3.8's
    compaction_suitable refuses at every order.)"""
    z, anon = holes_zone(era)
    assert z.alloc_gfp(anon, 2, 1, C.GFP_DIRECT_RECLAIM | C.GFP_KSWAPD_RECLAIM) == 1
    assert vm(z, "allocstall_normal") == allocstalls
    assert vm(z, "compact_stall") == 1


@pytest.mark.parametrize("gfp, reclaims", [(C.GFP_DIRECT_RECLAIM, 0), (C.GFP_DIRECT_RECLAIM | C.GFP_KSWAPD_RECLAIM, 1)])
def test_3_8_thp_gives_up_when_compaction_is_deferred(gfp, reclaims):
    """GFP_TRANSHUGE carries __GFP_NO_KSWAPD: with compaction deferred it
    fails before direct reclaim; other costly requests go on to reclaim. A
    deferred attempt is not a stall in 3.8."""
    z, anon = holes_zone("3.8")
    z.a.zs[C.ZS_COMPACT_DEFER_SHIFT] = 6
    z.a.zs[C.ZS_COMPACT_ORDER_FAILED] = 9
    assert z.alloc_gfp(anon, 9, 1, gfp) == 0
    assert vm(z, "allocstall_normal") == reclaims
    assert vm(z, "compact_stall") == 0


def test_3_8_kswapd_compacts_for_its_wake_order():
    """3.x balance_pgdat ends a higher-order run with compact_pgdat (async,
    counted as compact_migrate_scanned: 3.8 has no daemon counters); 6.x
    hands the order to kcompactd instead."""
    for era in ("3.8", "6.x"):
        z, _ = holes_zone(era)
        vmscan.wakeup_kswapd(z.a, 9)
        z.run_daemons()
        if era == "3.8":
            assert vm(z, "compact_migrate_scanned") > 0 and vm(z, "pgmigrate_success") > 0
            assert vm(z, "compact_daemon_wake") == 0
        else:
            assert vm(z, "compact_daemon_wake") == 1 and vm(z, "compact_daemon_migrate_scanned") > 0
        z.check()


# ------------------------------------------------ fill_balloon under pressure


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_fill_balloon_reclaims_through_each_pages_slow_path(era):
    """fill_balloon allocates every page with __GFP_NORETRY: in a zone full
    of page cache with 100 pages above min, the batch completes: each page
    below low wakes kswapd, and each page that min refuses reclaims one
    round (SWAP_CLUSTER_MAX pages, an allocstall) and takes its page."""
    mark = Zone(32 * PB, era=era).watermark(WMARK_MIN)
    z = cache_zone(era, mark + 100)
    assert z.inflate(256) == 256
    stalls = vm(z, "allocstall_normal")
    assert (256 - 100) // vmscan.SWAP_CLUSTER_MAX <= stalls <= (256 - 100) // vmscan.SWAP_CLUSTER_MAX + 1
    assert int(z.a.zs[C.ZS_KSWAPD_WAKE]) > 0 and vm(z, "balloon_inflate_fail") == 0
    z.check()


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_fill_balloon_gives_up_at_the_first_page_reclaim_cannot_serve(era):
    """Nothing reclaimable (anon, no swap): one reclaim round without
    progress, no retry, and the batch ends ("Out of puff!")."""
    z = Zone(32 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    assert z.inflate(256) == 0
    assert vm(z, "balloon_inflate_fail") == 1 and vm(z, "allocstall_normal") == 1
