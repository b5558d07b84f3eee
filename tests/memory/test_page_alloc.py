"""The anti-fragmentation fallback rules of the two eras (kernel-facts 2).

Each test builds the same memory in both eras and makes one allocation that
must fall back; the kernels' rules decide whether the pageblock changes type.
"""

import pytest

from fleet.memory import constants as C
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone

NR_BLOCKS = 16
BLOCK = 5  # the pageblock the fallback lands in


def full_zone(era):
    """A zone whose every page is order-0 anon, so every pageblock is Movable;
    no per-cpu lists, so that the test's frees reach the buddy lists."""
    zone = Zone(NR_BLOCKS * C.PAGEBLOCK_NR_PAGES, era=era, pcp=False)
    anon = zone.register_owner("anon", C.KIND_ANON)
    pfns = [zone.alloc(anon, 0, ALLOC_NO_WATERMARKS) for _ in range(zone.nr_pages)]
    assert min(pfns) >= 0 and zone.nr_free == 0
    return zone, anon


def free_in_block(zone, offsets):
    base = BLOCK * C.PAGEBLOCK_NR_PAGES
    for off in offsets:
        zone.free(base + off)


@pytest.mark.parametrize("era, claimed", [("6.x", True), ("3.8", False)])
def test_unmovable_order0_fallback_claims_only_in_6x(era, claimed):
    """300 free pages in small blocks (order <= 1) of a Movable pageblock.

    6.x: can_steal_fallback() is true for every UNMOVABLE request and 300 free
    pages are over half a pageblock, so the block becomes Unmovable. 3.8: an
    UNMOVABLE request steals whole blocks only from blocks of order >=
    pageblock_order/2, so only one page is taken and the block stays Movable.
    """
    zone, _ = full_zone(era)
    free_in_block(zone, [off for off in range(400) if off % 4 != 3])
    kernel = zone.register_owner("kernel", C.KIND_KERNEL)
    pfn = zone.alloc(kernel, 0, ALLOC_NO_WATERMARKS)
    assert pfn >> C.PAGEBLOCK_ORDER == BLOCK
    want = C.MIGRATE_UNMOVABLE if claimed else C.MIGRATE_MOVABLE
    assert zone.a.pb_mt[BLOCK] == want
    assert zone.a.vm[C.VM_EXTFRAG] == 1
    zone.check()


@pytest.mark.parametrize("era, claimed", [("6.x", True), ("3.8", False)])
def test_alike_pages_count_toward_the_claim_only_in_6x(era, claimed):
    """A Movable pageblock holding 100 unmovable pages and 200 free pages in one
    order-7 and one order-6 block (free blocks of order >= 4, so 3.8 also tries
    to steal the whole block).

    6.x (4.12+ alike accounting): free 200 + unmovable 100 >= 256, the block is
    claimed. 3.8 counts free pages only: 200 < 256, the block stays Movable,
    although its free pages moved to the Unmovable lists.
    """
    zone, anon = full_zone(era)
    base = BLOCK * C.PAGEBLOCK_NR_PAGES
    # Put 100 unmovable pages into the block: free them, then let an unmovable
    # owner take them back with mobility grouping bypassed.
    kernel = zone.register_owner("kernel", C.KIND_KERNEL)
    zone.a.own_mt[kernel] = C.MIGRATE_MOVABLE
    free_in_block(zone, range(400, 500))
    taken = [zone.alloc(kernel, 0, ALLOC_NO_WATERMARKS) for _ in range(100)]
    assert sorted(taken) == list(range(base + 400, base + 500))
    zone.a.own_mt[kernel] = C.MIGRATE_UNMOVABLE
    free_in_block(zone, range(0, 192))  # order-7 (0..127) and order-6 (128..191)
    free_in_block(zone, range(192, 200))  # and an order-3 block: 200 free pages
    pfn = zone.alloc(kernel, 0, ALLOC_NO_WATERMARKS)
    assert pfn >> C.PAGEBLOCK_ORDER == BLOCK
    want = C.MIGRATE_UNMOVABLE if claimed else C.MIGRATE_MOVABLE
    assert zone.a.pb_mt[BLOCK] == want
    # Either way the block's remaining free pages now sit on Unmovable lists.
    unmovable_free = sum(int(zone.a.nr_free[o, C.MIGRATE_UNMOVABLE]) << o for o in range(C.NR_PAGE_ORDERS))
    assert unmovable_free == 199
    zone.check()


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_fallback_from_a_whole_free_pageblock_retypes_it(era):
    """Stealing a free block of order >= pageblock_order retypes every pageblock
    it covers (change_pageblock_range), in both eras."""
    zone = Zone(NR_BLOCKS * C.PAGEBLOCK_NR_PAGES, era=era, pcp=False)
    kernel = zone.register_owner("kernel", C.KIND_KERNEL)
    pfn = zone.alloc(kernel, 0, ALLOC_NO_WATERMARKS)
    block = pfn >> C.PAGEBLOCK_ORDER
    pair = block & ~1  # the order-10 block covers two pageblocks
    assert list(zone.a.pb_mt[pair : pair + 2]) == [C.MIGRATE_UNMOVABLE] * 2
    assert (zone.a.pb_mt == C.MIGRATE_UNMOVABLE).sum() == 2
    zone.check()


def test_boot_order_differs_between_eras():
    """6.x frees boot memory to the list tails (FPI_TO_TAIL) and allocates from
    the bottom of memory; 3.8 adds to the heads and allocates from the top."""
    firsts = {}
    for era in ("6.x", "3.8"):
        zone = Zone(NR_BLOCKS * C.PAGEBLOCK_NR_PAGES, era=era, pcp=False)
        anon = zone.register_owner("anon", C.KIND_ANON)
        firsts[era] = zone.alloc(anon, 0)
    assert firsts["6.x"] == 0
    assert firsts["3.8"] == NR_BLOCKS * C.PAGEBLOCK_NR_PAGES - 1024
