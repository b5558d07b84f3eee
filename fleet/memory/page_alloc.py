"""The buddy allocator (mm/page_alloc.c): free lists per order and migratetype,
`__rmqueue_smallest`, the fallback and pageblock-stealing rules of the 3.8 and
6.x eras, `__free_one_page` with buddy merging, and the allocation entry point.

The per-cpu page lists of each era sit between the buddy lists and every
allocation and free that may use them (see "per-cpu lists" below). The file
is long (about 700 lines) for the reason mm/page_alloc.c is: the buddy
lists, the per-cpu lists and the entry points call one another, and split
into modules they would import one another.

Compiled kernels over the zone's arrays (state.ZoneArrays). Simplifications,
both eras: one zone, no CMA, no highatomic reserve and, in 3.8, no
MIGRATE_RESERVE blocks; ALLOC_NOFRAGMENT never applies (it needs a Normal
zone above a DMA32 zone).
"""

import numpy as np

from . import constants as C
from .jit import hot_kernel, kernel
from .lists import list_link, list_unlink
from .owner import PICK_RANDOM, owner_is_sparse, owner_list_add, owner_list_del, pick_allocation
from .rng import randbelow
from .watermark import ALLOC_NO_WATERMARKS, boost_watermark, wmark_pages, zone_watermark_ok

_FALLBACKS = np.array(C.FALLBACKS_6X, dtype=np.int64)

# ---------------------------------------------------------------- free lists


@kernel
def add_to_free_list(z, pfn, order, mt, to_tail):
    """`add_to_free_list` / `add_to_free_list_tail`: make `pfn` a free buddy head."""
    z.pflags[pfn] = np.uint16(C.PF_BUDDY | order | (mt << C.PF_LIST_MT_SHIFT))
    list_link(z.lru_next, z.lru_prev, z.fl_head[order], z.fl_tail[order], mt, pfn, to_tail)
    z.nr_free[order, mt] += 1


@kernel
def free_list_mt(z, pfn):
    """The migratetype of the free list a free buddy head is on."""
    return (z.pflags[pfn] & C.PF_LIST_MT_MASK) >> C.PF_LIST_MT_SHIFT


@kernel
def del_page_from_free_list(z, pfn, order):
    """`del_page_from_free_list`: unlink a free buddy head and clear PageBuddy."""
    mt = free_list_mt(z, pfn)
    list_unlink(z.lru_next, z.lru_prev, z.fl_head[order], z.fl_tail[order], mt, pfn)
    z.nr_free[order, mt] -= 1
    z.pflags[pfn] = 0


@kernel
def move_to_free_list(z, pfn, order, mt, to_tail):
    """`move_to_free_list`: 6.x moves to the tail (list_move_tail), 3.8's
    move_freepages used list_move (head)."""
    del_page_from_free_list(z, pfn, order)
    add_to_free_list(z, pfn, order, mt, to_tail)


@kernel
def page_is_buddy(z, pfn, order):
    """`page_is_buddy`: `pfn` is in the zone and heads a free block of `order`."""
    if pfn < 0 or pfn >= z.pflags.shape[0]:
        return False
    flags = z.pflags[pfn]
    return (flags & C.PF_BUDDY) != 0 and (flags & C.PF_ORDER_MASK) == order


# ---------------------------------------------------------------- allocation


@kernel
def expand(z, pfn, low, high, mt):
    """`expand`: split a block of order `high` down to `low`, putting each upper
    half on the head of `mt`'s list at its order."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        add_to_free_list(z, pfn + size, high, mt, False)


@kernel
def rmqueue_smallest(z, order, mt):
    """`__rmqueue_smallest`: the head of the smallest non-empty list of `mt`."""
    for current in range(order, C.NR_PAGE_ORDERS):
        pfn = z.fl_head[current, mt]
        if pfn < 0:
            continue
        del_page_from_free_list(z, pfn, current)
        expand(z, pfn, order, current, mt)
        return pfn
    return -1


@kernel
def set_pageblock_migratetype(z, pfn, mt):
    """`set_pageblock_migratetype`; counts a pageblock changing type."""
    block = pfn >> C.PAGEBLOCK_ORDER
    if z.pb_mt[block] != mt:
        z.pb_mt[block] = mt
        z.vm[C.VM_PAGEBLOCK_STEAL] += 1


@kernel
def change_pageblock_range(z, pfn, order, mt):
    """`change_pageblock_range`: retype every pageblock a block covers."""
    nr_blocks = 1 << (order - C.PAGEBLOCK_ORDER)
    for i in range(nr_blocks):
        set_pageblock_migratetype(z, pfn + i * C.PAGEBLOCK_NR_PAGES, mt)


@kernel
def move_freepages_block(z, pfn, mt, to_tail):
    """`move_freepages_block`: move every free buddy of `pfn`'s pageblock to
    `mt`'s lists. Returns (free pages moved, movable pages seen); movable pages
    are those of a Movable owner not isolated (PageLRU or __PageMovable)."""
    start = pfn & ~(C.PAGEBLOCK_NR_PAGES - 1)
    end = start + C.PAGEBLOCK_NR_PAGES
    moved = 0
    movable = 0
    p = start
    while p < end:
        flags = z.pflags[p]
        if flags & C.PF_BUDDY:
            order = flags & C.PF_ORDER_MASK
            move_to_free_list(z, p, order, mt, to_tail)
            p += 1 << order
            moved += 1 << order
            continue
        o = z.owner[p]
        if o != C.OWNER_NONE and z.own_mt[o] == C.MIGRATE_MOVABLE and not flags & C.PF_ISOLATED:
            movable += 1
        p += 1
    return moved, movable


@kernel
def find_suitable_fallback(z, order, start_mt):
    """`find_suitable_fallback(only_stealable=false)`: the first fallback type
    with a free block at `order`, or -1."""
    for i in range(_FALLBACKS.shape[1]):
        fmt = _FALLBACKS[start_mt, i]
        if z.fl_head[order, fmt] >= 0:
            return fmt
    return -1


@kernel
def can_steal_fallback_6x(order, start_mt, mobility_disabled):
    """`can_steal_fallback` (6.x): whole-block stealing for big blocks, for
    unmovable and reclaimable requests, or when grouping is disabled."""
    if order >= C.PAGEBLOCK_ORDER:
        return True
    return (
        order >= C.PAGEBLOCK_ORDER // 2
        or start_mt == C.MIGRATE_RECLAIMABLE
        or start_mt == C.MIGRATE_UNMOVABLE
        or mobility_disabled
    )


@kernel
def wakeup_kswapd(z, order, direct_reclaim):
    """`wakeup_kswapd` (mm/vmscan.c): remember the highest order a sleeping
    kswapd is asked for. Here because rmqueue wakes kswapd for a boosted
    zone.

    6.x does not wake kswapd when the node is balanced (pgdat_balanced: any
    zone the request may use meets its high watermark plus lowmem_reserve)
    and not boosted; a request that cannot reclaim itself then wakes
    kcompactd for its order instead. Alone, the model's zone has just missed
    its low watermark at the request's order when this is called, so it is
    not balanced; a guest zone below it (ZONE_DMA, not modelled page by
    page) is taken as it is at boot, all free, in blocks up to MAX_ORDER
    (ZS_LOWER_ZONE_BALANCED, set by the Zone). Simplified: the order a
    sleeping kswapd is asked for is not remembered when it is not woken.
    3.8 wakes kswapd when the zone it allocates from misses low."""
    zs = z.zs
    if zs[C.ZS_ERA] == C.ERA_6_X and zs[C.ZS_LOWER_ZONE_BALANCED] and zs[C.ZS_WATERMARK_BOOST] == 0:
        if not direct_reclaim and order > 0 and zs[C.ZS_KCOMPACTD_WAKE] < order + 1:
            zs[C.ZS_KCOMPACTD_WAKE] = order + 1
        return
    if zs[C.ZS_KSWAPD_WAKE] < order + 1:
        zs[C.ZS_KSWAPD_WAKE] = order + 1


@kernel
def steal_suitable_fallback_6x(z, pfn, current, start_mt, whole_block):
    """`steal_suitable_fallback` (6.5): claim the pageblock when its free pages
    plus the pages compatible with the request reach half a pageblock.

    The free pages move to the request's lists even when the block is not
    claimed, as in 6.5 (6.10+ moves them only on claim). A steal below
    pageblock order boosts the watermark, and the boosted zone wakes kswapd
    (ZONE_BOOSTED_WATERMARK, tested in rmqueue; the model's requests all
    carry __GFP_KSWAPD_RECLAIM except THP's, which only take whole
    pageblocks and never boost)."""
    old_mt = z.pb_mt[pfn >> C.PAGEBLOCK_ORDER]
    if current >= C.PAGEBLOCK_ORDER:
        change_pageblock_range(z, pfn, current, start_mt)
        move_to_free_list(z, pfn, current, start_mt, True)
        return True
    if boost_watermark(z):
        wakeup_kswapd(z, 0, True)
    if not whole_block:
        move_to_free_list(z, pfn, current, start_mt, True)
        return False
    free_pages, movable = move_freepages_block(z, pfn, start_mt, True)
    if start_mt == C.MIGRATE_MOVABLE:
        alike = movable
    elif old_mt == C.MIGRATE_MOVABLE:
        alike = C.PAGEBLOCK_NR_PAGES - (free_pages + movable)
    else:
        alike = 0
    if free_pages + alike >= (1 << (C.PAGEBLOCK_ORDER - 1)) or z.zs[C.ZS_MOBILITY_DISABLED]:
        set_pageblock_migratetype(z, pfn, start_mt)
        return True
    return False


@kernel
def rmqueue_fallback_6x(z, order, start_mt):
    """`__rmqueue_fallback` (6.5): steal from the largest fallback block, except
    that a movable request that may not steal the whole block takes the
    smallest one instead. Returns True if a block was moved to `start_mt`."""
    disabled = z.zs[C.ZS_MOBILITY_DISABLED] != 0
    found = -1
    current = C.MAX_PAGE_ORDER
    while current >= order:
        fmt = find_suitable_fallback(z, current, start_mt)
        if fmt >= 0:
            found = fmt
            break
        current -= 1
    if found < 0:
        return False
    can_steal = can_steal_fallback_6x(current, start_mt, disabled)
    if not can_steal and start_mt == C.MIGRATE_MOVABLE and current > order:
        for smaller in range(order, C.NR_PAGE_ORDERS):
            fmt = find_suitable_fallback(z, smaller, start_mt)
            if fmt >= 0:
                current = smaller
                found = fmt
                break
        can_steal = can_steal_fallback_6x(current, start_mt, disabled)
    pfn = z.fl_head[current, found]
    claimed = steal_suitable_fallback_6x(z, pfn, current, start_mt, can_steal)
    z.vm[C.VM_EXTFRAG] += 1
    if claimed:
        z.vm[C.VM_EXTFRAG_CLAIM] += 1
    return True


@kernel
def rmqueue_fallback_38(z, order, start_mt):
    """`__rmqueue_fallback` (3.8): from the largest order down, take the head of
    the first fallback list; for big blocks (order >= pageblock_order/2) or a
    reclaimable request, move the pageblock's free pages and claim it if at
    least half of it is free. The remainder of the split goes to the requested
    type's lists either way. Returns the allocated pfn or -1."""
    disabled = z.zs[C.ZS_MOBILITY_DISABLED] != 0
    current = C.MAX_PAGE_ORDER
    while current >= order:
        fmt = find_suitable_fallback(z, current, start_mt)
        if fmt < 0:
            current -= 1
            continue
        pfn = z.fl_head[current, fmt]
        claimed = False
        if current >= C.PAGEBLOCK_ORDER // 2 or start_mt == C.MIGRATE_RECLAIMABLE or disabled:
            moved, _ = move_freepages_block(z, pfn, start_mt, False)
            if moved >= (1 << (C.PAGEBLOCK_ORDER - 1)) or disabled:
                set_pageblock_migratetype(z, pfn, start_mt)
            claimed = True
        del_page_from_free_list(z, pfn, current)
        if current >= C.PAGEBLOCK_ORDER:
            change_pageblock_range(z, pfn, current, start_mt)
        expand(z, pfn, order, current, start_mt)
        z.vm[C.VM_EXTFRAG] += 1
        if claimed:
            z.vm[C.VM_EXTFRAG_CLAIM] += 1
        return pfn
    return -1


@hot_kernel
def rmqueue(z, order, mt):
    """`__rmqueue`: the requested type's lists first, then the fallback."""
    pfn = rmqueue_smallest(z, order, mt)
    if pfn >= 0:
        return pfn
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        return rmqueue_fallback_38(z, order, mt)
    while rmqueue_fallback_6x(z, order, mt):
        pfn = rmqueue_smallest(z, order, mt)
        if pfn >= 0:
            return pfn
    return -1


# ---------------------------------------------------------------- per-cpu lists
#
# One CPU's lists per zone. 6.x (6.1): orders 0..PAGE_ALLOC_COSTLY_ORDER and
# pageblock order (THP) go through them; a free goes to the head of its list
# and, once pcp->count reaches high, free_pcppages_bulk returns the oldest
# pages (list tails) to the buddy lists; an empty list is refilled by
# rmqueue_bulk with batch >> order blocks. 3.8: order 0 only, high = 6 *
# batch, `batch` pages spilled at a time. Pages on the lists are not in
# NR_FREE_PAGES nor in /proc/buddyinfo, and cannot merge with their buddies.
# Simplification: a guest's vCPUs share one list whose high is the one-CPU
# value, i.e. all the CPUs' lists together (6.1 splits the low watermark
# between the CPUs); no vmstat expiry (it drains remote nodes only); 3.8's
# cold frees (to the list tail) are freed hot.


def zone_batchsize(era: int, managed: int, present: int) -> int:
    """`zone_batchsize`: about 0.1% of the zone, at most 1 MiB (6.1: of the
    managed pages; 3.8: of the present pages, at most 512 KiB), a quarter of
    it rounded to 2**n - 1, at least 1 as both eras' callers make it
    (pcp->batch)."""
    if era == C.ERA_3_8:
        batch = min(present // 1024, (512 * 1024) // C.PAGE_SIZE)
    else:
        batch = min(managed >> 10, (1 << 20) // C.PAGE_SIZE)
    batch = max(batch // 4, 1)
    batch += batch // 2
    return max((1 << (batch.bit_length() - 1)) - 1, 1)


def zone_highsize(era: int, batch: int, low_wmark: int, managed: int = 0, high_fraction: int = 0) -> int:
    """pcp->high: 6.1's `zone_highsize`: with percpu_pagelist_high_fraction
    0 (the default) low_wmark_pages(zone), which includes the watermark
    boost of the moment, else managed pages / fraction; split between the
    node's CPUs (here one list for all of them), at least 4 * batch. 3.8's
    setup_pageset: 6 * batch."""
    if era == C.ERA_3_8:
        return 6 * batch
    total = low_wmark if high_fraction == 0 else managed // high_fraction
    return max(total, batch << 2)


@kernel
def pcp_allowed_order(z, order):
    """`pcp_allowed_order` (6.1 with THP: order <= PAGE_ALLOC_COSTLY_ORDER or
    pageblock order; 3.8: order 0), and the zone has lists (high > 0)."""
    if z.zs[C.ZS_PCP_HIGH] == 0:
        return False
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        return order == 0
    return order <= C.PAGE_ALLOC_COSTLY_ORDER or order == C.PAGEBLOCK_ORDER


@kernel
def order_to_pindex(mt, order):
    """`order_to_pindex` (6.1): the list of a migratetype and order."""
    if order > C.PAGE_ALLOC_COSTLY_ORDER:
        return C.NR_LOWORDER_PCP_LISTS + (1 if mt == C.MIGRATE_MOVABLE else 0)
    return C.NR_MIGRATETYPES * order + mt


@kernel
def pcp_list_add(z, pfn, order, mt, pindex, to_tail):
    """Put the free block `pfn` on per-cpu list `pindex`, remembering the
    migratetype it returns to the buddy lists with."""
    z.pflags[pfn] = np.uint16(C.PF_PCP | order | (mt << C.PF_LIST_MT_SHIFT))
    list_link(z.lru_next, z.lru_prev, z.pcp_head, z.pcp_tail, pindex, pfn, to_tail)
    z.zs[C.ZS_PCP_COUNT] += 1 << order


@kernel
def pcp_list_del(z, pfn, pindex):
    """Unlink `pfn` from per-cpu list `pindex`; returns its order."""
    order = z.pflags[pfn] & C.PF_ORDER_MASK
    list_unlink(z.lru_next, z.lru_prev, z.pcp_head, z.pcp_tail, pindex, pfn)
    z.pflags[pfn] = 0
    z.zs[C.ZS_PCP_COUNT] -= 1 << order
    return order


@kernel
def pcp_free_tail(z, pindex):
    """Give the oldest block of list `pindex` to the buddy lists, on the
    migratetype it was listed with; returns its pages."""
    pfn = z.pcp_tail[pindex]
    mt = free_list_mt(z, pfn)
    order = pcp_list_del(z, pfn, pindex)
    free_one_page(z, pfn, order, mt, False)
    z.zs[C.ZS_NR_FREE] += 1 << order
    return 1 << order


@kernel
def free_pcppages_bulk(z, count, pindex):
    """`free_pcppages_bulk`: return `count` pages from the list tails.
    6.1 drains one list at a time, round robin from the list last freed to
    (the caller puts it first); 3.8 takes one page per list and turn, more
    (batch_free) from the fuller lists as it meets empty ones."""
    count = min(count, z.zs[C.ZS_PCP_COUNT])
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        # 3.8's `++migratetype` from 0 in its own enum (UNMOVABLE,
        # RECLAIMABLE, MOVABLE) visits Reclaimable, Movable, Unmovable.
        mt = 0
        batch_free = 0
        while count > 0:
            while True:
                batch_free += 1
                mt = (mt + 2) % C.NR_MIGRATETYPES
                if z.pcp_head[mt] >= 0:
                    break
            if batch_free == C.NR_MIGRATETYPES:
                batch_free = count
            while True:
                count -= pcp_free_tail(z, mt)
                batch_free -= 1
                if count <= 0 or batch_free == 0 or z.pcp_head[mt] < 0:
                    break
        return
    pindex -= 1
    while count > 0:
        while True:
            pindex = (pindex + 1) % C.NR_PCP_LISTS
            if z.pcp_head[pindex] >= 0:
                break
        while count > 0 and z.pcp_head[pindex] >= 0:
            count -= pcp_free_tail(z, pindex)


@kernel
def drain_pages_zone(z):
    """`drain_pages_zone` (6.1: chunks of batch << CONFIG_PCP_BATCH_SCALE_MAX
    from list 0; 3.8's drain_pages: all at once): every per-cpu page back
    to the buddy lists."""
    while z.zs[C.ZS_PCP_COUNT] > 0:
        chunk = z.zs[C.ZS_PCP_COUNT]
        if z.zs[C.ZS_ERA] == C.ERA_6_X:
            chunk = min(chunk, z.zs[C.ZS_PCP_BATCH] << C.PCP_BATCH_SCALE_MAX)
        free_pcppages_bulk(z, chunk, 0)


@kernel
def nr_pcp_high(z, free_high):
    """`nr_pcp_high` (6.1): 0 when batch-freeing high-order pages; while
    kswapd balances the zone (ZONE_RECLAIM_ACTIVE) at most 4 * batch."""
    high = z.zs[C.ZS_PCP_HIGH]
    if free_high:
        return 0
    if z.zs[C.ZS_RECLAIM_ACTIVE]:
        return min(z.zs[C.ZS_PCP_BATCH] << 2, high)
    return high


@kernel
def nr_pcp_free(z, high, free_high):
    """`nr_pcp_free` (6.1): batch << free_factor, the factor growing with
    each spill without an allocation in between, kept within [batch, high -
    batch]; everything when batch-freeing high-order pages."""
    batch = z.zs[C.ZS_PCP_BATCH]
    if free_high:
        return z.zs[C.ZS_PCP_COUNT]
    if high < batch:
        return 1
    max_nr_free = high - batch
    factor = z.zs[C.ZS_PCP_FREE_FACTOR]
    n = batch << factor
    if n < max_nr_free and factor < C.PCP_BATCH_SCALE_MAX:
        z.zs[C.ZS_PCP_FREE_FACTOR] = factor + 1
    return min(max(n, batch), max_nr_free)


@kernel
def free_unref_page(z, pfn, order, mt):
    """`free_unref_page` + `free_unref_page_commit` (6.1) and
    `free_hot_cold_page` (3.8, hot): the block goes to the head of its
    per-cpu list; at pcp->high the lists spill to the buddy lists."""
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        pcp_list_add(z, pfn, order, mt, mt, False)
        if z.zs[C.ZS_PCP_COUNT] >= z.zs[C.ZS_PCP_HIGH]:
            free_pcppages_bulk(z, z.zs[C.ZS_PCP_BATCH], 0)
        return
    pindex = order_to_pindex(mt, order)
    pcp_list_add(z, pfn, order, mt, pindex, False)
    free_high = z.zs[C.ZS_PCP_FREE_FACTOR] > 0 and 0 < order <= C.PAGE_ALLOC_COSTLY_ORDER
    high = nr_pcp_high(z, free_high)
    if z.zs[C.ZS_PCP_COUNT] >= high:
        free_pcppages_bulk(z, nr_pcp_free(z, high, free_high), pindex)


@kernel
def rmqueue_bulk(z, order, count, mt, pindex):
    """`rmqueue_bulk`: refill list `pindex` with up to `count` blocks from
    the buddy allocator, in the order __rmqueue returns them (physical order
    within a split block); they leave NR_FREE_PAGES now. Returns blocks."""
    for i in range(count):
        pfn = rmqueue(z, order, mt)
        if pfn < 0:
            return i
        z.zs[C.ZS_NR_FREE] -= 1 << order
        pcp_list_add(z, pfn, order, mt, pindex, True)
    return count


@kernel
def rmqueue_pcplist(z, order, mt):
    """`rmqueue_pcplist` / `__rmqueue_pcplist` (6.1) and 3.8's order-0 part
    of buffered_rmqueue: the head of the list, refilled when empty (6.1
    with max(batch >> order, 2) blocks, 3.8 with batch pages). An
    allocation halves 6.1's free_factor. Returns the pfn or -1."""
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        pindex = mt
        batch = z.zs[C.ZS_PCP_BATCH]
    else:
        z.zs[C.ZS_PCP_FREE_FACTOR] >>= 1
        pindex = order_to_pindex(mt, order)
        batch = z.zs[C.ZS_PCP_BATCH]
        if batch > 1:
            batch = max(batch >> order, 2)
    if z.pcp_head[pindex] < 0:
        rmqueue_bulk(z, order, batch, mt, pindex)
        if z.pcp_head[pindex] < 0:
            return -1
    pfn = z.pcp_head[pindex]
    pcp_list_del(z, pfn, pindex)
    return pfn


# ---------------------------------------------------------------- entry points


@kernel
def prep_new_page(z, pfn, order, o):
    """Stamp an allocated block with its owner and order and list its head."""
    n = 1 << order
    for i in range(n):
        z.pflags[pfn + i] = np.uint16(order)
        z.owner[pfn + i] = o
    z.pflags[pfn] = np.uint16(order | C.PF_HEAD)
    z.pb_dirty[pfn >> C.PAGEBLOCK_ORDER] = 1
    owner_list_add(z, o, pfn)
    z.own_pages[o] += n
    z.own_allocs[o] += 1
    z.vm[C.VM_PGALLOC] += n


@hot_kernel
def alloc_pages(z, order, o, wmark):
    """Allocate a block of `order` for owner `o` (get_page_from_freelist and
    rmqueue: the per-cpu lists for the orders they serve, else the buddy
    lists).

    `wmark` is the watermark to respect (WMARK_MIN/LOW/HIGH) or
    ALLOC_NO_WATERMARKS; it is checked against NR_FREE_PAGES, which leaves
    out the per-cpu lists, as zone_watermark_fast does. The owner's
    migratetype selects the lists. Returns the head pfn, or -1 if the
    watermark check or the lists refuse (the caller's slow path decides
    about reclaim and compaction).
    """
    if wmark != ALLOC_NO_WATERMARKS and not zone_watermark_ok(z, order, wmark_pages(z, wmark)):
        return -1
    mt = z.own_mt[o]
    if pcp_allowed_order(z, order):
        pfn = rmqueue_pcplist(z, order, mt)
    else:
        pfn = rmqueue(z, order, mt)
        if pfn >= 0:
            z.zs[C.ZS_NR_FREE] -= 1 << order
    if pfn < 0:
        return -1
    prep_new_page(z, pfn, order, o)
    return pfn


# ---------------------------------------------------------------- freeing


@kernel
def free_one_page(z, pfn, order, mt, to_tail):
    """`__free_one_page`: merge with free buddies up to MAX_PAGE_ORDER, then
    list the block at the head, or at the tail when `to_tail` (FPI_TO_TAIL) or
    when the buddy of the next order is free (`buddy_merge_likely`).

    At pageblock order and above 6.x refuses to merge blocks whose types are
    not mergeable (isolate, CMA, highatomic); the three modelled types always
    merge, so both eras merge alike. The block joins `mt`'s list.
    """
    while order < C.MAX_PAGE_ORDER:
        buddy = pfn ^ (1 << order)
        if not page_is_buddy(z, buddy, order):
            break
        del_page_from_free_list(z, buddy, order)
        pfn &= buddy
        order += 1
    if not to_tail and order < C.MAX_PAGE_ORDER - 1:
        parent = pfn & ~(1 << order)
        to_tail = page_is_buddy(z, parent ^ (1 << (order + 1)), order + 1)
    add_to_free_list(z, pfn, order, mt, to_tail)


@hot_kernel
def free_pages(z, pfn):
    """Free the allocation headed by `pfn` (`__free_pages`): unlist it from its
    owner, clear its pages and give the block, typed by its pageblock, to
    the per-cpu lists if its order may go there, else to the buddy lists.
    Returns the number of pages freed."""
    flags = z.pflags[pfn]
    order = flags & C.PF_ORDER_MASK
    o = z.owner[pfn]
    n = 1 << order
    if not flags & C.PF_ISOLATED:
        owner_list_del(z, o, pfn)
        z.own_allocs[o] -= 1
    z.own_pages[o] -= n
    for i in range(n):
        z.pflags[pfn + i] = 0
        z.owner[pfn + i] = C.OWNER_NONE
    free_the_page(z, pfn, order)
    return n


@hot_kernel
def free_the_page(z, pfn, order):
    """`free_the_page` (6.1; 3.8's __free_pages): a block nobody holds any
    more, typed by its pageblock, goes to the per-cpu lists if its order
    may go there (free_unref_page), else to the buddy lists; either way it
    counts in pgfree."""
    z.vm[C.VM_PGFREE] += 1 << order
    mt = z.pb_mt[pfn >> C.PAGEBLOCK_ORDER]
    if pcp_allowed_order(z, order):
        free_unref_page(z, pfn, order, mt)
    else:
        free_one_page(z, pfn, order, mt, False)
        z.zs[C.ZS_NR_FREE] += 1 << order


# ---------------------------------------------------------------- batches


@kernel
def alloc_pages_bulk(z, o, order, count, wmark):
    """Allocate `count` blocks of `order` for owner `o`; stops at the first
    refusal. Returns the number of blocks allocated."""
    for i in range(count):
        if alloc_pages(z, order, o, wmark) < 0:
            z.vm[C.VM_ALLOC_FAIL] += 1
            return i
    return count


@kernel
def free_random_subset(z, o, m, rng):
    """Free a uniformly random `m` of owner `o`'s listed allocations in one
    walk of its list (selection sampling, Knuth's Algorithm S), in list order.
    Returns pages freed."""
    n = z.own_allocs[o]
    freed = 0
    pfn = z.own_head[o]
    while m > 0 and pfn >= 0:
        nxt = z.lru_next[pfn]
        if randbelow(rng, n) < m:
            freed += free_pages(z, pfn)
            m -= 1
        n -= 1
        pfn = nxt
    return freed


@kernel
def free_every_nth(z, o, n):
    """Free every `n`th allocation of owner `o` in list order, starting with
    the oldest: for anon memory faulted in address order this is an
    `madvise(MADV_DONTNEED)` of every nth page of the mapping (zap_pte_range
    frees each page in address order). Returns pages freed."""
    freed = 0
    i = 0
    pfn = z.own_head[o]
    while pfn >= 0:
        nxt = z.lru_next[pfn]
        if i % n == 0:
            freed += free_pages(z, pfn)
        i += 1
        pfn = nxt
    return freed


@hot_kernel
def free_owner_pages(z, o, nr_pages, how, rng):
    """Free allocations of owner `o`, picked by `how` (owner.PICK_*), until at
    least `nr_pages` pages are freed or the owner has none. Random picks from
    a sparse owner of order-0 pages take one walk of its list for the whole
    batch instead of a walk per page. Returns pages freed."""
    order0 = z.own_pages[o] == z.own_allocs[o]
    freed = 0
    while freed < nr_pages:
        if how == PICK_RANDOM and order0 and nr_pages - freed > 1 and owner_is_sparse(z, o):
            return freed + free_random_subset(z, o, min(nr_pages - freed, z.own_allocs[o]), rng)
        pfn = pick_allocation(z, o, how, rng)
        if pfn < 0:
            break
        freed += free_pages(z, pfn)
    return freed
