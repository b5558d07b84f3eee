"""Reclaim (vmscan.py): direct reclaim for costly orders (compaction_ready,
should_continue_reclaim) and kswapd under a watermark boost (balance_pgdat,
wakeup_kcompactd), each rule tested on its own."""

import pytest

from fleet.memory import compaction, vmscan
from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import (
    ALLOC_NO_WATERMARKS,
)
from fleet.memory.zone import Zone
from tests.memory.zones import cache_zone, vm

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


# ------------------------------------------------ direct reclaim for costly orders


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


# ------------------------------------------------ wakeup_kswapd with ZONE_DMA below


def _under_low(era, other_zone_pages):
    """A 1 GiB zone filled with page cache to below its low watermark."""
    z = Zone(GIB, era=era, rng=new_rng(3, 0), other_zone_pages=other_zone_pages, pcp=False)
    cache = z.register_owner("file", C.KIND_FILE)
    z.alloc_bulk(cache, 0, z.nr_free - z.watermark(1) + 64, ALLOC_NO_WATERMARKS)
    assert z.nr_free < z.watermark(1)
    return z, cache


@pytest.mark.parametrize(
    "era, dma, boost, woken",
    [
        ("6.x", 3840, 0, False),  # ZONE_DMA above high + lowmem_reserve: the node is balanced
        ("6.x", 3840, 64, True),  # ... but boosted
        ("6.x", 0, 0, True),  # no zone below
        ("3.8", 3840, 0, True),  # 3.8 asks the zone it allocates from
    ],
)
def test_an_allocation_under_low_wakes_kswapd_unless_a_lower_zone_balances_the_node(era, dma, boost, woken):
    """6.x wakeup_kswapd returns when pgdat_balanced (any zone the request
    may use meets high + lowmem_reserve) and the node is not boosted; 3.8's
    tests the zone itself against low."""
    z, cache = _under_low(era, dma)
    z.a.zs[C.ZS_WATERMARK_BOOST] = boost
    assert z.alloc_gfp(cache, 0, 1) == 1
    assert (int(z.a.zs[C.ZS_KSWAPD_WAKE]) == 1) == woken


def test_a_lower_zone_balances_the_node_only_above_its_high_watermark_plus_its_reserve():
    """lowmem_reserve of ZONE_DMA against requests that may use the zone
    above is that zone's managed pages / 256: a 16 MiB DMA zone (3840
    pages) balances a 1 GiB guest, not a 4 GiB one (reserve 4096)."""
    assert Zone(GIB, other_zone_pages=3840).a.zs[C.ZS_LOWER_ZONE_BALANCED] == 1
    assert Zone(4 * GIB, other_zone_pages=3840).a.zs[C.ZS_LOWER_ZONE_BALANCED] == 0
    assert Zone(GIB).a.zs[C.ZS_LOWER_ZONE_BALANCED] == 0


def test_a_request_that_cannot_reclaim_wakes_kcompactd_when_the_node_is_balanced():
    """A THP fault under defrag `defer` (__GFP_KSWAPD_RECLAIM only) in a
    balanced node: `wakeup_kcompactd(pgdat, order)` instead of kswapd."""
    z, _ = _under_low("6.x", 3840)
    thp = z.register_owner("thp", C.KIND_ANON)
    z.alloc_gfp(thp, C.HPAGE_PMD_ORDER, 1, C.GFP_KSWAPD_RECLAIM)  # fails at low, then is served at min
    assert int(z.a.zs[C.ZS_KSWAPD_WAKE]) == 0
    assert int(z.a.zs[C.ZS_KCOMPACTD_WAKE]) == C.HPAGE_PMD_ORDER + 1
