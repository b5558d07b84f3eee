"""The allocator's slow path (alloc.py) in the 3.8 era: compaction before
reclaim for every order, THP giving up when compaction is deferred, and
3.x kswapd compacting for its wake order (compact_pgdat)."""

import pytest

from fleet.memory import constants as C
from fleet.memory import vmscan
from fleet.memory.rng import new_rng
from fleet.memory.watermark import (
    ALLOC_NO_WATERMARKS,
)
from fleet.memory.zone import Zone
from tests.memory.zones import vm

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


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
        vmscan.wakeup_kswapd(z.a, 9, True)
        z.run_daemons()
        if era == "3.8":
            assert vm(z, "compact_migrate_scanned") > 0 and vm(z, "pgmigrate_success") > 0
            assert vm(z, "compact_daemon_wake") == 0
        else:
            assert vm(z, "compact_daemon_wake") == 1 and vm(z, "compact_daemon_migrate_scanned") > 0
        z.check()
