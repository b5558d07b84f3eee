"""Memory compaction (mm/compaction.c): the migrate scanner walks up from the
bottom of the zone isolating movable pages, the free scanner walks down from
the top isolating free pages, pages move from low to high until the scanners
meet or a free block of the requested order exists.

Modelled after 6.5 with the 3.8 differences the era switch selects:
`compaction_suitable` (3.8 tests the fragmentation index at every order,
6.x only above PAGE_ALLOC_COSTLY_ORDER), `compact_finished` (3.8 also wants the
low watermark), `suitable_migration_target` (3.8 takes free pageblocks as
targets, 6.x leaves them alone) and the free-page isolation watermark (low in
3.8, min in 6.x).

What moves: order-0 LRU pages (anon and page cache) and, with balloon
compaction on, balloon pages (the seed's non-LRU path). Compound pages (THP,
and every allocation of order > 0) are skipped whole, as
isolate_migratepages_block does unless alloc_contig: migrating them needs a
free block of their own order, which compaction exists to create. Unmovable
and reclaimable pages fail isolation. 6.x has the 5.1+ fast scanners
(fast_find_migrateblock, fast_isolate_freepages), the async free scanner's
stride and async direct compaction's skip-on-failure. Simplified away:
isolation throttling, lock contention, capture (compaction_capture).

A run keeps its state in a `cc` array (compact_control) so it can stop when the
host notification stream fills and resume after the caller drains it; between
calls no free page is left isolated.

The file is long (about 960 lines) for the reason mm/compaction.c is: the two
scanners, the suitability and finish tests, deferral and the daemons
(kcompactd, proactive compaction) share compact_control and call one another.
"""

from . import constants as C
from .balloon import balloon_page_isolate, stream_room
from .jit import hot_kernel, kernel
from .lists import list_rotate
from .migrate import isolate_lru_page, migrate_page, putback_movable_page
from .page_alloc import can_steal_fallback_6x, del_page_from_free_list, drain_pages_zone, free_the_page
from .watermark import WMARK_LOW, wmark_pages, zone_watermark_ok

COMPACT_CLUSTER_MAX = C.COMPACT_CLUSTER_MAX
COMPACT_MAX_DEFER_SHIFT = 6
# kcompactd's proactive check interval, HPAGE_FRAG_CHECK_INTERVAL_MSEC, and
# its wait after a run that did not lower the score (<< COMPACT_MAX_DEFER_SHIFT).
HPAGE_FRAG_CHECK_INTERVAL_MS = 500
PROACTIVE_DEFER_MS = HPAGE_FRAG_CHECK_INTERVAL_MS << COMPACT_MAX_DEFER_SHIFT

MIGRATE_ASYNC = 0
MIGRATE_SYNC_LIGHT = 1
MIGRATE_SYNC = 2

# Results (enum compact_result, simplified).
COMPACT_CONTINUE = 0
COMPACT_SKIPPED = 1
COMPACT_DEFERRED = 2
COMPACT_COMPLETE = 3
COMPACT_PARTIAL_SKIPPED = 4
COMPACT_SUCCESS = 5
COMPACT_CONTENDED = 6
COMPACT_SUSPENDED = 7  # the model's: the host stream is full, drain and resume
COMPACT_YIELDED = 8  # the model's: the run used its CPU share (CC_BUDGET), resume later

# compact_control fields.
CC_ORDER = 0
CC_MODE = 1
CC_WHOLE_ZONE = 2
CC_IGNORE_SKIP = 3
CC_DIRECT = 4
CC_DAEMON = 5
CC_MIGRATE_PFN = 6
CC_FREE_PFN = 7
CC_NR_MIGRATED = 8
CC_PROACTIVE = 9  # proactive compaction: run until the score is low enough
CC_LAST_MIGRATED = 10  # last_migrated_pfn + 1 (0: nothing migrated since the last drain)
CC_SEARCH_ORDER = 11  # the free-list order fast_isolate_freepages starts at
CC_FAST_SEARCH_FAIL = 12  # fast searches that found nothing (shortens the next)
CC_FAST_START_PFN = 13  # lowest block the fast migrate search found (0: none, -1: used)
CC_BUDGET = 14  # CC_NR_MIGRATED at which the run yields the CPU (0: never)
# A yielded run's place (COMPACT_YIELDED): the batch of isolated pages in
# cc_migrate and how far it got, the isolated free pages in cc_free and the
# next one to use.
CC_BATCH_NR = 15
CC_BATCH_DONE = 16
CC_FREE_NR = 17
CC_FREE_HEAD = 18
NR_CC = C.NR_CC


@kernel
def init_cc(z, order, mode, whole_zone, ignore_skip, direct, daemon):
    """Set up the zone's compact_control for a compact_zone run, starting
    where the cached scanner positions say (or at the zone's ends for a
    whole-zone run), after flushing the skip bits if compaction is
    restarting (6.x flushes before it reads the cached positions, 3.8
    after: its run starts where the last one stopped)."""
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    restarting = compaction_restarting(z, order)
    if restarting and not era38:
        reset_isolation_suitable(z)
    cc = z.cc
    cc[:] = 0
    n = z.zs[C.ZS_NR_PAGES]
    cc[CC_ORDER], cc[CC_MODE], cc[CC_WHOLE_ZONE] = order, mode, whole_zone
    cc[CC_IGNORE_SKIP], cc[CC_DIRECT], cc[CC_DAEMON] = ignore_skip, direct, daemon
    cc[CC_SEARCH_ORDER] = order
    last_block = n - C.PAGEBLOCK_NR_PAGES
    if whole_zone or z.zs[C.ZS_CACHED_FREE_PFN] <= 0:
        cc[CC_MIGRATE_PFN], cc[CC_FREE_PFN] = 0, last_block
    else:
        cc[CC_MIGRATE_PFN] = z.zs[C.ZS_CACHED_MIGRATE_PFN]
        cc[CC_FREE_PFN] = z.zs[C.ZS_CACHED_FREE_PFN]
    if restarting and era38:
        reset_isolation_suitable(z)


@kernel
def compaction_restarting(z, order):
    """Whether a compact_zone run flushes the skip bits first, whoever runs
    it. 3.8: at the longest deferral (compact_defer_shift ==
    COMPACT_MAX_DEFER_SHIFT, "numerous alloc failures"), compact_memory and
    kswapd's compaction included. 6.x (`compaction_restarting`): also only
    once the deferred attempts reached the limit, and only for an order at
    or above compact_order_failed, so never for compact_memory or
    proactive compaction (order -1)."""
    shift = z.zs[C.ZS_COMPACT_DEFER_SHIFT]
    if shift != COMPACT_MAX_DEFER_SHIFT:
        return False
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        return True
    return order >= z.zs[C.ZS_COMPACT_ORDER_FAILED] and z.zs[C.ZS_COMPACT_CONSIDERED] >= 1 << shift


# ---------------------------------------------------------------- indices


@kernel
def fragmentation_index(z, order):
    """`__fragmentation_index` over the zone's free lists (see stats.py)."""
    free_pages = 0
    total = 0
    suitable = 0
    for o in range(C.NR_PAGE_ORDERS):
        blocks = 0
        for mt in range(C.NR_MIGRATETYPES):
            blocks += z.nr_free[o, mt]
        total += blocks
        free_pages += blocks << o
        if o >= order:
            suitable += blocks << (o - order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


@kernel
def fragmentation_score(z):
    """`fragmentation_score_zone`: extfrag_for_order(COMPACTION_HPAGE_ORDER),
    the percent of free memory in blocks below order 9 (5.9+)."""
    free_pages = 0
    suitable = 0
    for o in range(C.NR_PAGE_ORDERS):
        for mt in range(C.NR_MIGRATETYPES):
            free_pages += z.nr_free[o, mt] << o
            if o >= C.HPAGE_PMD_ORDER:
                suitable += z.nr_free[o, mt] << (o - C.HPAGE_PMD_ORDER)
    if free_pages == 0:
        return 0
    return (free_pages - (suitable << C.HPAGE_PMD_ORDER)) * 100 // free_pages


@kernel
def compaction_suitable(z, order):
    """`compaction_suitable`: enough order-0 headroom (compact_gap = 2 << order
    above min, or low for costly orders in 6.x; above low in 3.8) and a
    fragmentation index above extfrag_threshold, i.e. failure would be due to
    fragmentation, not to lack of memory."""
    if order < 0:
        return COMPACT_CONTINUE
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    if era38 or order > C.PAGE_ALLOC_COSTLY_ORDER:
        mark = z.zs[C.ZS_WMARK_LOW]
    else:
        mark = z.zs[C.ZS_WMARK_MIN]
    mark += 2 << order
    if not zone_watermark_ok(z, 0, mark):
        return COMPACT_SKIPPED
    if era38 or order > C.PAGE_ALLOC_COSTLY_ORDER:
        fragindex = fragmentation_index(z, order)
        if 0 <= fragindex <= z.zs[C.ZS_EXTFRAG_THRESHOLD]:
            return COMPACT_SKIPPED
    return COMPACT_CONTINUE


# ---------------------------------------------------------------- deferral


@kernel
def defer_compaction(z, order):
    """`defer_compaction`: back off exponentially after a failure."""
    z.zs[C.ZS_COMPACT_CONSIDERED] = 0
    z.zs[C.ZS_COMPACT_DEFER_SHIFT] = min(z.zs[C.ZS_COMPACT_DEFER_SHIFT] + 1, COMPACT_MAX_DEFER_SHIFT)
    if order < z.zs[C.ZS_COMPACT_ORDER_FAILED]:
        z.zs[C.ZS_COMPACT_ORDER_FAILED] = order


@kernel
def compaction_deferred(z, order):
    """`compaction_deferred`: skip this attempt unless enough were skipped."""
    if order < z.zs[C.ZS_COMPACT_ORDER_FAILED]:
        return False
    z.zs[C.ZS_COMPACT_CONSIDERED] += 1
    limit = 1 << z.zs[C.ZS_COMPACT_DEFER_SHIFT]
    if z.zs[C.ZS_COMPACT_CONSIDERED] >= limit:
        z.zs[C.ZS_COMPACT_CONSIDERED] = limit
        return False
    return True


@kernel
def compaction_defer_reset(z, order, alloc_success):
    """`compaction_defer_reset`: forget the back-off after a success."""
    if alloc_success:
        z.zs[C.ZS_COMPACT_CONSIDERED] = 0
        z.zs[C.ZS_COMPACT_DEFER_SHIFT] = 0
    if order >= z.zs[C.ZS_COMPACT_ORDER_FAILED]:
        z.zs[C.ZS_COMPACT_ORDER_FAILED] = order + 1


@kernel
def block_end_pfn(pfn, order):
    """`block_end_pfn`: the end of the order-aligned block holding `pfn`."""
    return ((pfn >> order) + 1) << order


@kernel
def pageblock_start_pfn(pfn):
    """`pageblock_start_pfn`: the first pfn of the pageblock holding `pfn`."""
    return pfn & ~(C.PAGEBLOCK_NR_PAGES - 1)


@kernel
def count_scanned(z, cc, nr, free_scanner):
    """Add `nr` to compact_{migrate,free}_scanned, as compact_zone counts
    every run's scanning (COMPACTMIGRATE_SCANNED, COMPACTFREE_SCANNED), and
    for a kcompactd_do_work run to their compact_daemon_* twins as well
    (6.x: KCOMPACTD_*_SCANNED). 6.1's proactive_compact_node counts in the
    first pair only, as the recorded 6.1 guests show: a proactive run adds
    to compact_migrate_scanned with no stall, no kcompactd wake and no
    compact_daemon_* scanning (the current kernel counts it there too)."""
    if free_scanner:
        z.vm[C.VM_COMPACT_FREE_SCANNED] += nr
        if cc[CC_DAEMON]:
            z.vm[C.VM_COMPACT_DAEMON_FREE_SCANNED] += nr
    else:
        z.vm[C.VM_COMPACT_MIGRATE_SCANNED] += nr
        if cc[CC_DAEMON]:
            z.vm[C.VM_COMPACT_DAEMON_MIGRATE_SCANNED] += nr


@kernel
def page_lru(z, pfn):
    """PageLRU: an allocated, not isolated page of an owner on the LRU (its
    pages are movable and it is not the balloon). Tail pages of a THP answer
    for their head, as PageLRU's PF_HEAD policy does."""
    o = z.owner[pfn]
    if o == C.OWNER_NONE or z.pflags[pfn] & C.PF_ISOLATED:
        return False
    return o != z.zs[C.ZS_BALLOON_OWNER] and z.own_mt[o] == C.MIGRATE_MOVABLE


@kernel
def reset_isolation_pfn(z, block, check_source, check_target):
    """`__reset_isolation_pfn` (5.1+): clear the block's skip bit if a sample
    of every 8th page (1 << PAGE_ALLOC_COSTLY_ORDER) finds an LRU page (a
    migration source) or a PageBuddy head (a target); a block whose bit is
    already clear counts once both are looked for, and the first target
    must be a Movable block. True when the block is usable."""
    if check_source and check_target and not z.pb_skip[block]:
        return True
    if not check_source and check_target and z.pb_mt[block] != C.MIGRATE_MOVABLE:
        return False
    start = block << C.PAGEBLOCK_ORDER
    for pfn in range(start, start + C.PAGEBLOCK_NR_PAGES, 1 << C.PAGE_ALLOC_COSTLY_ORDER):
        if (check_source and page_lru(z, pfn)) or (check_target and z.pflags[pfn] & C.PF_BUDDY):
            z.pb_skip[block] = 0
            return True
    return False


@kernel
def reset_isolation_suitable(z):
    """`__reset_isolation_suitable`: clear skip bits and send the cached
    scanner positions back towards the zone's ends.

    3.8 clears every bit and restarts both scanners at the ends, whenever it
    is called (kswapd's sleep checks compact_blockskip_flush first;
    compact_zone, at the maximum deferral, does not). 5.1+ moved the check
    inside ("Only flush if a full compaction finished recently"), so in 6.x
    nothing changes unless a direct compaction ran its scanners to their
    meeting point since the last flush or successful compaction; and it
    walks the blocks from both ends to the middle, clearing a lower block's
    bit only if a sample finds an LRU page and an upper one's only if it
    finds a free page (reset_isolation_pfn): balloon, slab and kernel pages
    are not LRU pages, so a block of only those stays skipped. The cached
    positions become the lowest source and the highest target it cleared
    (also compact_init_free_pfn, where the fast free search starts), or the
    middle, where the scanners meet at once, if it cleared neither."""
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        z.zs[C.ZS_BLOCKSKIP_FLUSH] = 0
        z.pb_skip[:] = 0
        z.zs[C.ZS_CACHED_MIGRATE_PFN] = 0
        z.zs[C.ZS_CACHED_FREE_PFN] = 0
        return
    if not z.zs[C.ZS_BLOCKSKIP_FLUSH]:
        return
    z.zs[C.ZS_BLOCKSKIP_FLUSH] = 0
    migrate_pfn = 0
    free_pfn = z.zs[C.ZS_NR_PAGES] - 1
    reset_migrate = free_pfn
    reset_free = migrate_pfn
    source_set = False
    free_set = False
    while migrate_pfn < free_pfn:
        mblock = migrate_pfn >> C.PAGEBLOCK_ORDER
        if reset_isolation_pfn(z, mblock, True, source_set) and migrate_pfn < reset_migrate:
            source_set = True
            reset_migrate = migrate_pfn
            z.zs[C.ZS_CACHED_MIGRATE_PFN] = migrate_pfn
        fblock = free_pfn >> C.PAGEBLOCK_ORDER
        if reset_isolation_pfn(z, fblock, free_set, True) and free_pfn > reset_free:
            free_set = True
            reset_free = free_pfn
            z.zs[C.ZS_COMPACT_INIT_FREE_PFN] = pageblock_start_pfn(free_pfn)
            z.zs[C.ZS_CACHED_FREE_PFN] = pageblock_start_pfn(free_pfn)
        migrate_pfn += C.PAGEBLOCK_NR_PAGES
        free_pfn -= C.PAGEBLOCK_NR_PAGES
    if reset_migrate >= reset_free:  # "Leave no distance if no suitable block was reset"
        z.zs[C.ZS_CACHED_MIGRATE_PFN] = migrate_pfn
        # A cached free pfn of 0 means "start anew" to init_cc: keep it above.
        z.zs[C.ZS_CACHED_FREE_PFN] = max(pageblock_start_pfn(free_pfn), C.PAGEBLOCK_NR_PAGES)


# ---------------------------------------------------------------- scanners


@kernel
def freelist_scan_limit(cc):
    """`freelist_scan_limit`: how many free-list entries a fast search may
    look at, halving with each fast search that found nothing."""
    return (COMPACT_CLUSTER_MAX >> min(63, cc[CC_FAST_SEARCH_FAIL])) + 1


@kernel
def move_freelist_tail(z, order, mt, pfn):
    """`move_freelist_tail`: rotate the list so `pfn` is its last entry."""
    after = z.lru_next[pfn]
    if after >= 0:
        list_rotate(z.lru_next, z.lru_prev, z.fl_head[order], z.fl_tail[order], mt, after)


@kernel
def fast_find_migrateblock(z, cc):
    """`fast_find_migrateblock` (5.1+, as in 6.1): for a costly order, look
    on the Movable free lists of orders order-1 down to 3 for a free page
    in the lower half of the scan space (an eighth once the scanner has
    moved) whose block is not skipped; such a block is nearly free, a cheap
    source. The entry moves to its list's tail, the block gets its skip
    bit, and the migrate scanner starts there. 6.1's
    isolate_migratepages_block then sees that skip bit and passes the block
    over (reported by Zhou Chuyi in 2022; the 6.2-rc fix was reverted), so
    in 6.1 the search moves the scanner past the block it found. When
    nothing is found the scan restarts at the lowest block found earlier
    in this run, once (reinit_migrate_pfn). Not for whole-zone runs that
    ignore skip bits, nor in the middle of a pageblock. Returns the pfn to
    scan from."""
    pfn = cc[CC_MIGRATE_PFN]
    if cc[CC_IGNORE_SKIP] or pfn & (C.PAGEBLOCK_NR_PAGES - 1) or cc[CC_ORDER] <= C.PAGE_ALLOC_COSTLY_ORDER:
        return pfn
    limit = freelist_scan_limit(cc)
    distance = (cc[CC_FREE_PFN] - pfn) >> 1
    if pfn != 0:
        distance >>= 2
    high_pfn = pageblock_start_pfn(pfn + distance)
    mt = C.MIGRATE_MOVABLE
    nr_scanned = 0
    found = False
    order = cc[CC_ORDER] - 1
    while order >= C.PAGE_ALLOC_COSTLY_ORDER and not found and nr_scanned < limit:
        page = z.fl_head[order, mt]
        while page >= 0:
            nr_scanned += 1
            if nr_scanned > limit:
                move_freelist_tail(z, order, mt, page)
                break
            after = z.lru_next[page]
            if page < high_pfn and not z.pb_skip[page >> C.PAGEBLOCK_ORDER]:
                move_freelist_tail(z, order, mt, page)
                if cc[CC_FAST_START_PFN] == 0:
                    cc[CC_FAST_START_PFN] = page
                elif cc[CC_FAST_START_PFN] > 0:
                    cc[CC_FAST_START_PFN] = min(cc[CC_FAST_START_PFN], page)
                pfn = pageblock_start_pfn(page)
                cc[CC_FAST_SEARCH_FAIL] = 0
                z.pb_skip[page >> C.PAGEBLOCK_ORDER] = 1
                found = True
                break
            page = after
        order -= 1
    count_scanned(z, cc, nr_scanned, False)
    if not found:
        cc[CC_FAST_SEARCH_FAIL] += 1
        if cc[CC_FAST_START_PFN] > 0:
            cc[CC_MIGRATE_PFN] = pageblock_start_pfn(cc[CC_FAST_START_PFN])
            cc[CC_FAST_START_PFN] = -1
        pfn = cc[CC_MIGRATE_PFN]
    return pfn


@kernel
def isolate_migratepages(z, cc, migratepages, rescan):
    """`isolate_migratepages` + `isolate_migratepages_block`: from the migrate
    pfn, scan the first suitable pageblock and isolate up to
    COMPACT_CLUSTER_MAX movable order-0 pages, or with `rescan` (6.1's
    cc->rescan, compact_zone's) the rest of the pageblock. Returns the
    number isolated.

    compact_migrate_scanned counts the pfns the scanner looks at: 6.1 counts
    a free block or compound page it steps over as one (6.4 added their
    other pages, Baolin Wang's "consider the number of scanning compound
    pages in isolate fail path", 2023); 3.8 visits every pfn one by one and
    counts it, except the tails of an LRU compound page (a THP), which it
    jumps without counting.

    6.x async direct compaction skips on failure (5.x+ `skip_on_failure`):
    a page that cannot be isolated (a compound page, an unmovable or
    already isolated page, a page on a per-cpu list, a balloon page that is
    not movable) means the cc->order aligned block around it cannot become
    free, so the pages isolated in it are put back and the scan goes on at
    the next order-aligned block; a call never isolates from two such
    blocks (it stops at the boundary to migrate what it holds).

    Balloon pages (with balloon compaction on) follow the zone's
    balloon_isolation rule. "seed": the 2012 series isolates any balloon page
    the scanner meets. "merged-3.8": Linux 3.8 to 3.17 isolate one only
    `if (locked && balloon_page_isolate(page))`: the lru_lock is taken by the
    first order-0 LRU page of the same isolate_migratepages_range call (one
    pageblock or one cluster of it), so a balloon page before any LRU page in
    that call is passed over; the 2014 fix (Cc stable v3.8) removed the
    gate. The model never drops the lock within a call (no contention,
    no need_resched)."""
    n = z.zs[C.ZS_NR_PAGES]
    low = cc[CC_MIGRATE_PFN]
    lock_gate = z.zs[C.ZS_BALLOON_ISOLATION] == C.BALLOON_ISOLATION_MERGED_38
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    async_mode = cc[CC_MODE] == MIGRATE_ASYNC
    skip_on_failure = async_mode and cc[CC_DIRECT] != 0 and not era38 and cc[CC_ORDER] > 0
    skip_order = max(cc[CC_ORDER], 0)
    balloon_movable = z.zs[C.ZS_BALLOON_COMPACTION] != 0
    balloon = z.zs[C.ZS_BALLOON_OWNER]
    fast_block = False
    if not era38:
        low = fast_find_migrateblock(z, cc)
        fast_block = low != cc[CC_MIGRATE_PFN] and cc[CC_FAST_SEARCH_FAIL] == 0
    nr = 0
    while low < n:
        block = low >> C.PAGEBLOCK_ORDER
        end = (block + 1) << C.PAGEBLOCK_ORDER
        if end > cc[CC_FREE_PFN]:
            break
        # suitable_migration_source: async runs only scan movable blocks (3.8:
        # every async run; 6.x: async direct compaction).
        unsuitable = async_mode and (era38 or cc[CC_DIRECT]) and z.pb_mt[block] != C.MIGRATE_MOVABLE
        if fast_block and not unsuitable:
            # 6.1: isolate_migratepages_block's skip test passes the block over.
            count_scanned(z, cc, 1, False)
            cc[CC_MIGRATE_PFN] = end
            return 0
        fast_block = False
        if unsuitable or (z.pb_skip[block] and not cc[CC_IGNORE_SKIP]):
            low = end
            continue
        start_low = low
        unscanned = 0
        locked = False
        next_skip = block_end_pfn(low, skip_order)
        limit = C.PAGEBLOCK_NR_PAGES if rescan else COMPACT_CLUSTER_MAX
        while low < end and nr < limit:
            if skip_on_failure and low >= next_skip:
                if nr:
                    break
                next_skip = block_end_pfn(low, skip_order)
            flags = z.pflags[low]
            order = flags & C.PF_ORDER_MASK
            if flags & C.PF_BUDDY:
                if not era38:
                    unscanned += (1 << order) - 1
                low += 1 << order
                continue
            o = z.owner[low]
            fail_pfn = low
            isolated = False
            if order > 0:  # compound page: skip it whole
                if not era38 or z.own_mt[o] == C.MIGRATE_MOVABLE:
                    unscanned += (1 << order) - 1
                low = (low | ((1 << order) - 1)) + 1
            else:
                if page_lru(z, low):
                    locked = True
                    isolate_lru_page(z, low)
                    isolated = True
                elif o == balloon and not flags & C.PF_ISOLATED:
                    if balloon_movable and (locked or not lock_gate) and balloon_page_isolate(z, low):
                        isolated = True
                if isolated:
                    migratepages[nr] = low
                    nr += 1
                low += 1
            if skip_on_failure and not isolated:
                for i in range(nr):
                    putback_movable_page(z, migratepages[i])
                nr = 0
                low = min(max(low, block_end_pfn(fail_pfn, skip_order)), end)
                next_skip = block_end_pfn(low, skip_order)
        count_scanned(z, cc, low - start_low - unscanned, False)
        if low >= end and (nr == 0 or rescan) and start_low == (block << C.PAGEBLOCK_ORDER):
            z.pb_skip[block] = 1
        cc[CC_MIGRATE_PFN] = low
        z.vm[C.VM_COMPACT_ISOLATED] += nr
        return nr
    cc[CC_MIGRATE_PFN] = low
    return 0


@kernel
def suitable_migration_target(z, cc, start):
    """`suitable_migration_target`: 6.x leaves free pageblocks alone and takes
    Movable blocks; 3.8 also takes a free pageblock (a buddy of order >=
    pageblock_order at its start)."""
    flags = z.pflags[start]
    big_free = (flags & C.PF_BUDDY) != 0 and (flags & C.PF_ORDER_MASK) >= C.PAGEBLOCK_ORDER
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        return big_free or z.pb_mt[start >> C.PAGEBLOCK_ORDER] == C.MIGRATE_MOVABLE
    if big_free:
        return False
    return z.pb_mt[start >> C.PAGEBLOCK_ORDER] == C.MIGRATE_MOVABLE


@kernel
def isolate_free_page(z, pfn, order):
    """`__isolate_free_page` (6.x; `split_free_page` in 3.8): take a free buddy
    if the zone stays above min (3.8: low) + 2**order, split it into order-0
    pages, and retype its pageblock(s) Movable if order >= pageblock_order - 1."""
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        mark = z.zs[C.ZS_WMARK_LOW]
    else:
        mark = z.zs[C.ZS_WMARK_MIN]
    if not zone_watermark_ok(z, 0, mark + (1 << order)):
        return False
    del_page_from_free_list(z, pfn, order)
    z.zs[C.ZS_NR_FREE] -= 1 << order
    if order >= C.PAGEBLOCK_ORDER - 1:
        first = pfn >> C.PAGEBLOCK_ORDER
        last = (pfn + (1 << order) - 1) >> C.PAGEBLOCK_ORDER
        for b in range(first, last + 1):
            if z.pb_mt[b] != C.MIGRATE_MOVABLE:
                z.pb_mt[b] = C.MIGRATE_MOVABLE
                z.vm[C.VM_PAGEBLOCK_STEAL] += 1
    return True


@kernel
def isolate_freepages_block(z, cc, pfn, end, freepages, nr_free, need, stride):
    """`isolate_freepages_block` from `pfn` to `end` (one pageblock), looking
    at every `stride`th pfn and past each buddy it takes: isolate the free
    buddies into `freepages` after `nr_free` held. 6.x stops once `need`
    are held or at a buddy the watermark refuses; 3.8 takes every free page
    of the block and skips a refused buddy. compact_free_scanned counts,
    in 6.1, the pfns looked at plus the other pages of each buddy taken
    (William Lam's "include compound page count for scanning", 6.0) and a
    compound page jumped as one (6.4 counts its pages); in 3.8, the pfns
    passed. compact_isolated counts the pages taken (COMPACTISOLATED counts
    both scanners' isolations). Returns (the pfn reached, pages held,
    stopped early)."""
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    scan_start = pfn
    held_before = nr_free
    scanned = 0
    stopped = False
    while pfn < end:
        flags = z.pflags[pfn]
        scanned += 1
        order = flags & C.PF_ORDER_MASK
        if flags & C.PF_BUDDY:
            if nr_free + (1 << order) > freepages.shape[0]:
                stopped = True
                break
            if not isolate_free_page(z, pfn, order):
                if era38:
                    pfn += 1 << order
                    continue
                stopped = True
                break
            for i in range(1 << order):
                freepages[nr_free] = pfn + i
                nr_free += 1
            scanned += (1 << order) - 1
            if nr_free >= need and not era38:
                pfn += 1 << order
                stopped = True
                break
            pfn += (1 << order) - 1 + stride
        elif flags & C.PF_HEAD and z.owner[pfn] != C.OWNER_NONE:
            pfn += (1 << order) - 1 + stride
        else:
            pfn += stride
    count_scanned(z, cc, pfn - scan_start if era38 else scanned, True)
    z.vm[C.VM_COMPACT_ISOLATED] += nr_free - held_before
    return pfn, nr_free, stopped


@kernel
def next_search_order(cc, order):
    """`next_search_order`: the next lower order, wrapping to order-1; -1
    (and the start order one lower) once the search is back where it began."""
    order -= 1
    if order < 0:
        order = cc[CC_ORDER] - 1
    if order == cc[CC_SEARCH_ORDER]:
        cc[CC_SEARCH_ORDER] -= 1
        if cc[CC_SEARCH_ORDER] < 0:
            cc[CC_SEARCH_ORDER] = cc[CC_ORDER] - 1
        return -1
    return order


@kernel
def fast_isolate_freepages(z, cc, freepages, need):
    """`fast_isolate_freepages` (5.1+, 6.1): for a sized request, before the
    linear free scanner, search the Movable free lists from the last order
    that gave a page (below the request's order) downwards, oldest entries
    first, for a free page in the top quarter of the scan space (or the
    highest in the top half, the search shortening once one is found); the
    list is rotated so the next search starts past it. One page found is
    isolated whatever its pageblock's type or skip bit. A search at the
    start of a scan looks deeper and, finding nothing, moves the free
    scanner to the highest block it saw (direct compaction: to the half
    mark). Except for async direct compaction, the block of the page found
    is then scanned whole (fast_isolate_around) and marked skipped if
    scanned to its end. A scan starts at or above compact_init_free_pfn,
    0 until the first skip-bit flush (so every search is a start until
    then). Simplified: the zone's cached free pfn is not raised to the
    highest block seen. Returns the pages isolated."""
    order = cc[CC_ORDER]
    if order <= 0:
        return 0
    mt = C.MIGRATE_MOVABLE
    limit = max(1, freelist_scan_limit(cc) >> 1)
    scan_start = cc[CC_FREE_PFN] >= z.zs[C.ZS_COMPACT_INIT_FREE_PFN]
    if scan_start:
        limit = C.PAGEBLOCK_NR_PAGES >> 1
    distance = cc[CC_FREE_PFN] - cc[CC_MIGRATE_PFN]
    low_pfn = pageblock_start_pfn(cc[CC_FREE_PFN] - (distance >> 2))
    min_pfn = pageblock_start_pfn(cc[CC_FREE_PFN] - (distance >> 1))
    cc[CC_SEARCH_ORDER] = min(order - 1, cc[CC_SEARCH_ORDER])
    nr_free = 0
    nr_scanned = 0
    highest = -1
    page = -1
    o = cc[CC_SEARCH_ORDER]
    while page < 0 and o >= 0:
        order_scanned = 0
        high_pfn = -1
        cursor = -1
        entry = z.fl_tail[o, mt]
        while entry >= 0:
            order_scanned += 1
            nr_scanned += 1
            if entry >= highest:
                highest = pageblock_start_pfn(entry)
            if entry >= low_pfn:
                cc[CC_FAST_SEARCH_FAIL] = 0
                cc[CC_SEARCH_ORDER] = o
                page = entry
                break
            if entry >= min_pfn and entry > high_pfn:
                high_pfn = entry
                limit >>= 1
            if order_scanned >= limit:
                cursor = entry
                break
            entry = z.lru_prev[entry]
        if page < 0 and high_pfn >= 0:
            page = high_pfn
        if page >= 0:
            cursor = page
        if cursor >= 0:
            list_rotate(z.lru_next, z.lru_prev, z.fl_head[o], z.fl_tail[o], mt, cursor)
        if page >= 0:
            if nr_free + (1 << o) <= freepages.shape[0] and isolate_free_page(z, page, o):
                for i in range(1 << o):
                    freepages[nr_free] = page + i
                    nr_free += 1
                nr_scanned += (1 << o) - 1
                z.vm[C.VM_COMPACT_ISOLATED] += 1 << o
            else:
                o = cc[CC_SEARCH_ORDER] + 1
                page = -1
        if nr_free >= need:
            break
        if order_scanned >= limit:
            limit = max(1, limit >> 1)
        o = next_search_order(cc, o)
    if page < 0:
        cc[CC_FAST_SEARCH_FAIL] += 1
        if scan_start:
            if highest >= min_pfn:
                page = highest
                cc[CC_FREE_PFN] = highest
            elif cc[CC_DIRECT]:
                page = min_pfn
                cc[CC_FREE_PFN] = min_pfn
    count_scanned(z, cc, nr_scanned, True)
    if page >= 0 and nr_free < need and not (cc[CC_DIRECT] and cc[CC_MODE] == MIGRATE_ASYNC):
        start = pageblock_start_pfn(page)
        end = start + C.PAGEBLOCK_NR_PAGES
        reached, nr_free, _ = isolate_freepages_block(z, cc, start, end, freepages, nr_free, need, 1)
        if reached >= end:
            z.pb_skip[start >> C.PAGEBLOCK_ORDER] = 1
    return nr_free


@kernel
def isolate_freepages(z, cc, freepages, need):
    """`isolate_freepages`: 6.x first tries the fast search; then, from the
    free pfn down to the migrate scanner's block, isolate free buddies in
    suitable target blocks until `need` pages are held.

    6.x stops inside a block once enough are held and resumes at that exact
    pfn next time (cc->free_pfn = isolate_start_pfn); a buddy the watermark
    refuses ends the scan ("if isolation failed early, do not continue
    needlessly"). The scanner samples (5.1+ stride): an async run looks at
    every 32nd pfn (COMPACT_CLUSTER_MAX) at first, a sync run at every pfn;
    in both the stride falls to 1 after a block that gave pages and doubles
    (up to 32) after one that gave none, so a lone free page between the
    samples is not seen. A block scanned to its end gets its skip bit
    whether or not it gave pages (update_pageblock_skip).

    3.8 scans every pfn, restarts the next call at the highest block it
    isolated from (high_pfn), and skips only a block scanned whole without
    a page isolated. Returns the number of free pages isolated into
    `freepages`."""
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    nr_free = 0
    if not era38:
        nr_free = fast_isolate_freepages(z, cc, freepages, need)
        if nr_free:
            return nr_free
    stride = COMPACT_CLUSTER_MAX if cc[CC_MODE] == MIGRATE_ASYNC and not era38 else 1
    low_block = (cc[CC_MIGRATE_PFN] >> C.PAGEBLOCK_ORDER) + 1
    pfn = cc[CC_FREE_PFN]
    block = pfn >> C.PAGEBLOCK_ORDER
    high_block = -1
    while block >= low_block and nr_free < need:
        start = block << C.PAGEBLOCK_ORDER
        if (z.pb_skip[block] and not cc[CC_IGNORE_SKIP]) or not suitable_migration_target(z, cc, start):
            block -= 1
            pfn = block << C.PAGEBLOCK_ORDER
            continue
        end = start + C.PAGEBLOCK_NR_PAGES
        scan_start = pfn
        held = nr_free
        pfn, nr_free, stopped = isolate_freepages_block(z, cc, pfn, end, freepages, nr_free, need, stride)
        got = nr_free - held
        if got and high_block < 0:
            high_block = block
        if era38:
            if not stopped and got == 0 and scan_start == start:
                z.pb_skip[block] = 1
        elif pfn >= end:
            z.pb_skip[block] = 1
        if stopped:
            if pfn >= end:  # the block ended with the last page taken
                pfn = start - C.PAGEBLOCK_NR_PAGES
            break
        if not era38:
            stride = 1 if got else min(COMPACT_CLUSTER_MAX, stride << 1)
        block -= 1
        pfn = block << C.PAGEBLOCK_ORDER
    if era38 and high_block >= 0:
        pfn = high_block << C.PAGEBLOCK_ORDER
    cc[CC_FREE_PFN] = pfn
    return nr_free


@kernel
def release_freepages(z, freepages, nr_free, first):
    """`release_freepages` (3.8 and 6.1): the isolated free pages the run did
    not use are order-0 pages by now (split_free_page / split_map_pages), and
    each goes back through `__free_page`, so onto the per-cpu lists (3.8's
    free_hot_cold_page, 6.1's free_unref_page), not straight to the buddy
    lists."""
    for i in range(first, nr_free):
        free_the_page(z, freepages[i], 0)


# ---------------------------------------------------------------- the run


@kernel
def scanners_met(cc):
    return (cc[CC_FREE_PFN] >> C.PAGEBLOCK_ORDER) <= (cc[CC_MIGRATE_PFN] >> C.PAGEBLOCK_ORDER)


@kernel
def compact_finished(z, cc):
    """`__compact_finished`: COMPLETE when the scanners meet; for a sized
    request, SUCCESS once a free block of the order exists on the Movable list
    or a stealable fallback list (3.8: also above the low watermark), checked
    at pageblock boundaries only (6.x). Scanners that met ask for the skip
    bits to be flushed when the run was a direct compaction (6.x; 3.8 asks
    for any run not from kswapd, compact_memory too, which the model does
    not tell apart from kswapd's). A proactive run ends, PARTIAL_SKIPPED,
    while kswapd is awake (6.1: kswapd_is_running), else once the score is
    down to its target."""
    order = cc[CC_ORDER]
    if scanners_met(cc):
        z.zs[C.ZS_CACHED_MIGRATE_PFN] = 0
        z.zs[C.ZS_CACHED_FREE_PFN] = 0
        if cc[CC_DIRECT]:
            z.zs[C.ZS_BLOCKSKIP_FLUSH] = 1
        return COMPACT_COMPLETE if cc[CC_WHOLE_ZONE] else COMPACT_PARTIAL_SKIPPED
    if cc[CC_PROACTIVE]:
        if z.zs[C.ZS_KSWAPD_WAKE] > 0:  # kswapd_is_running: a proactive run gives way
            return COMPACT_PARTIAL_SKIPPED
        return COMPACT_SUCCESS if fragmentation_score(z) <= cc[CC_PROACTIVE] else COMPACT_CONTINUE
    if order < 0:
        return COMPACT_CONTINUE
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        if not zone_watermark_ok(z, order, wmark_pages(z, WMARK_LOW) + (1 << order)):
            return COMPACT_CONTINUE
        for o in range(order, C.NR_PAGE_ORDERS):
            if z.nr_free[o, C.MIGRATE_MOVABLE] > 0:
                return COMPACT_SUCCESS
            if (
                order >= C.PAGEBLOCK_ORDER
                and z.nr_free[o, C.MIGRATE_UNMOVABLE] + z.nr_free[o, C.MIGRATE_RECLAIMABLE] > 0
            ):
                return COMPACT_SUCCESS
        return COMPACT_CONTINUE
    if cc[CC_MIGRATE_PFN] & (C.PAGEBLOCK_NR_PAGES - 1):
        return COMPACT_CONTINUE
    for o in range(order, C.NR_PAGE_ORDERS):
        if z.nr_free[o, C.MIGRATE_MOVABLE] > 0:
            return COMPACT_SUCCESS
        if can_steal_fallback_6x(o, C.MIGRATE_MOVABLE, False):
            if z.nr_free[o, C.MIGRATE_RECLAIMABLE] > 0 or z.nr_free[o, C.MIGRATE_UNMOVABLE] > 0:
                return COMPACT_SUCCESS
    return COMPACT_CONTINUE


@kernel
def drain_after_block(z, cc):
    """compact_zone's `check_drain` (6.x): once the migrate scanner has left
    the cc->order aligned block it last migrated from, drain the per-cpu
    lists (lru_add_drain_cpu_zone) so the freed pages merge and
    compact_finished can see the free block. Not for order -1 runs
    (compact_memory, proactive), nor in 3.8, which drains in
    __alloc_pages_direct_compact instead."""
    order = cc[CC_ORDER]
    if order <= 0 or cc[CC_LAST_MIGRATED] == 0 or z.zs[C.ZS_ERA] != C.ERA_6_X:
        return
    if cc[CC_LAST_MIGRATED] - 1 < (cc[CC_MIGRATE_PFN] & ~((1 << order) - 1)):
        drain_pages_zone(z)
        cc[CC_LAST_MIGRATED] = 0


@hot_kernel
def budget_spent(cc):
    """A run with a CPU share (CC_BUDGET > 0) has migrated all of it."""
    return cc[CC_BUDGET] > 0 and cc[CC_NR_MIGRATED] >= cc[CC_BUDGET]


@kernel
def compact_zone(z):
    """`compact_zone` from the state in `cc` until finished, or until the host
    stream lacks room for another batch (COMPACT_SUSPENDED: drain and call
    again), or until the run has migrated CC_BUDGET pages (COMPACT_YIELDED: a
    daemon's run that gives the vCPU back to the task beside it, within a
    batch if need be; call again with the cc and lists saved and a new
    budget). A yielded run keeps its isolated pages, both lists, as a
    preempted kcompactd keeps them; a run that ends or is suspended (always
    between batches) releases its unused free pages. Returns the
    compact_result.

    6.x batches as 6.1 does (cc->rescan, 5.1-6.1; finish_pageblock from 6.2):
    a migrate scan that starts in the pageblock the last batch came from
    isolates the rest of that pageblock in one batch, so a block's movable
    pages move in COMPACT_CLUSTER_MAX, then all the others. The free scanner
    isolates for the whole batch whenever the isolated free pages run out
    (compaction_alloc: until cc->nr_freepages >= cc->nr_migratepages), the
    unused ones kept for the next batch. 3.8 batches COMPACT_CLUSTER_MAX
    pages always."""
    cc, freepages, migratepages = z.cc, z.cc_free, z.cc_migrate
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    # Isolated free pages are used first-isolated first (cc->freepages).
    head, nr_free = cc[CC_FREE_HEAD], cc[CC_FREE_NR]
    nr, done = cc[CC_BATCH_NR], cc[CC_BATCH_DONE]
    result = COMPACT_CONTINUE
    while True:
        if done == nr:
            if budget_spent(cc):
                result = COMPACT_YIELDED
                break
            result = compact_finished(z, cc)
            if result != COMPACT_CONTINUE:
                break
            if stream_room(z) < 2 * C.PAGEBLOCK_NR_PAGES:
                result = COMPACT_SUSPENDED
                break
            iteration_start = cc[CC_MIGRATE_PFN]
            last = cc[CC_LAST_MIGRATED] - 1
            rescan = not era38 and last >= 0 and pageblock_start_pfn(last) == pageblock_start_pfn(iteration_start)
            nr = isolate_migratepages(z, cc, migratepages, rescan)
            done = 0
            if nr == 0:
                drain_after_block(z, cc)
                continue
            cc[CC_LAST_MIGRATED] = iteration_start + 1
        while done < nr and not budget_spent(cc):
            if head == nr_free:
                head = 0
                nr_free = isolate_freepages(z, cc, freepages, nr)
                if nr_free == 0:
                    break
            migrate_page(z, migratepages[done], freepages[head])
            head += 1
            done += 1
            cc[CC_NR_MIGRATED] += 1
        if done < nr and budget_spent(cc):
            result = COMPACT_YIELDED
            break
        if done < nr:
            # No free page left for the batch (compaction_alloc returned NULL):
            # migrate_pages stops at -ENOMEM and the caller puts the rest back.
            # 6.1 counts the one page it failed in pgmigrate_fail, 3.8 none.
            for i in range(done, nr):
                putback_movable_page(z, migratepages[i])
            if not era38:
                z.vm[C.VM_PGMIGRATE_FAIL] += 1
            done = nr
            if not scanners_met(cc):
                result = COMPACT_CONTENDED
                break
        drain_after_block(z, cc)
    if result == COMPACT_YIELDED:
        cc[CC_BATCH_NR], cc[CC_BATCH_DONE], cc[CC_FREE_NR], cc[CC_FREE_HEAD] = nr, done, nr_free, head
    else:
        release_freepages(z, freepages, nr_free, head)
        cc[CC_BATCH_NR] = cc[CC_BATCH_DONE] = cc[CC_FREE_NR] = cc[CC_FREE_HEAD] = 0
    paused = result == COMPACT_SUSPENDED or result == COMPACT_YIELDED
    # The run's positions become the zone's cached ones (update_cached_migrate,
    # update_pageblock_skip), unless the scanners met and compact_finished
    # reset them so that the next run starts anew.
    if not paused and not cc[CC_WHOLE_ZONE] and not scanners_met(cc):
        z.zs[C.ZS_CACHED_MIGRATE_PFN] = cc[CC_MIGRATE_PFN]
        z.zs[C.ZS_CACHED_FREE_PFN] = cc[CC_FREE_PFN]
    return result


@kernel
def kcompactd_do_work(z, order, budget):
    """`kcompactd_do_work` (6.x) for a wake-up at `order`: skip if deferred,
    if the order is already available above min, or if unsuitable; otherwise
    start compacting at SYNC_LIGHT. `budget` > 0: yield after that many
    migrations (COMPACT_YIELDED). Returns the compact_result (the caller
    resumes a COMPACT_SUSPENDED or COMPACT_YIELDED run, then calls
    kcompactd_done)."""
    z.vm[C.VM_COMPACT_DAEMON_WAKE] += 1
    if compaction_deferred(z, order):
        return COMPACT_DEFERRED
    if zone_watermark_ok(z, order, z.zs[C.ZS_WMARK_MIN]):
        return COMPACT_SKIPPED
    if compaction_suitable(z, order) == COMPACT_SKIPPED:
        return COMPACT_SKIPPED
    init_cc(z, order, MIGRATE_SYNC_LIGHT, 0, 0, 0, 1)
    z.cc[CC_BUDGET] = budget
    return compact_zone(z)


@kernel
def kcompactd_done(z, order, result):
    """The end of kcompactd_do_work's run: a success resets the deferral; a
    run that ends without one drains the per-cpu lists ("buddy pages may
    become stranded on pcps") and defers, as sync direct compaction does."""
    if result == COMPACT_SUCCESS:
        compaction_defer_reset(z, order, False)
    elif result == COMPACT_COMPLETE or result == COMPACT_PARTIAL_SKIPPED:
        drain_pages_zone(z)
        defer_compaction(z, order)


@kernel
def kswapd_compact_38(z, order):
    """3.x kswapd's compaction after a higher-order balance_pgdat
    (`compact_pgdat(pgdat, order)`, async): when no zone meets the low
    watermark at `order`, compact unless deferred or unsuitable; async
    compaction is never deferred, but a success raises compact_order_failed.
    Counted in compact_migrate_scanned (3.8 has no compact_daemon_*
    counters). Returns the compact_result or COMPACT_SKIPPED."""
    if zone_watermark_ok(z, order, z.zs[C.ZS_WMARK_LOW]):
        return COMPACT_SKIPPED
    if compaction_deferred(z, order):
        return COMPACT_DEFERRED
    if compaction_suitable(z, order) == COMPACT_SKIPPED:
        return COMPACT_SKIPPED
    init_cc(z, order, MIGRATE_ASYNC, 0, 0, 0, 0)
    result = compact_zone(z)
    if zone_watermark_ok(z, order, z.zs[C.ZS_WMARK_LOW]) and order >= z.zs[C.ZS_COMPACT_ORDER_FAILED]:
        z.zs[C.ZS_COMPACT_ORDER_FAILED] = order + 1
    return result


@kernel
def proactive_compact(z, proactiveness, budget):
    """Proactive compaction (5.9+, `proactive_compact_node`): when the score
    is above wmark_high = min(wmark_low + 10, 100), with wmark_low =
    max(100 - proactiveness, 5), compact the whole zone at SYNC_LIGHT until the
    score is at most wmark_low. Not a kcompactd wake (KCOMPACTD_WAKE counts
    kcompactd_do_work only) and, in 6.1, not counted in compact_daemon_*
    (count_scanned). `budget` > 0: yield after that many migrations
    (COMPACT_YIELDED; the caller resumes the run with compact_zone).
    Returns the compact_result or COMPACT_SKIPPED."""
    wmark_low = max(100 - proactiveness, 5)
    wmark_high = min(wmark_low + 10, 100)
    if proactiveness == 0 or fragmentation_score(z) <= wmark_high:
        return COMPACT_SKIPPED
    init_cc(z, -1, MIGRATE_SYNC_LIGHT, 1, 1, 0, 0)
    z.cc[CC_PROACTIVE] = wmark_low
    z.cc[CC_BUDGET] = budget
    return compact_zone(z)
