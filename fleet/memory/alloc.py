"""The allocation entry point with its slow path: `__alloc_pages` and
`__alloc_pages_slowpath` (mm/page_alloc.c), each era with its own.

6.x: fast path at the low watermark; then wake kswapd (__GFP_KSWAPD_RECLAIM)
and retry at min; then, for callers that may block (__GFP_DIRECT_RECLAIM):
async direct compaction first for costly or non-movable high-order requests,
direct reclaim, compaction at SYNC_LIGHT (async again for a costly
__GFP_NORETRY request), and for non-costly requests without
__GFP_NORETRY up to MAX_RECLAIM_RETRIES = 16 further reclaim rounds while
reclaim makes progress.

3.8 (direct_reclaim_compact_38): async compaction for every order > 0; a THP
request (__GFP_NO_KSWAPD, here: no __GFP_KSWAPD_RECLAIM) whose compaction
was deferred gives up before reclaim; then direct reclaim; should_alloc_retry
loops non-costly requests without __GFP_NORETRY back to compaction, now
sync; every other request compacts once more, sync, and gives up.

There is no OOM killer: a request that fails all of that returns -1.
"""

from . import constants as C
from .compaction import (
    COMPACT_COMPLETE,
    COMPACT_DEFERRED,
    COMPACT_PARTIAL_SKIPPED,
    COMPACT_SKIPPED,
    MIGRATE_ASYNC,
    MIGRATE_SYNC_LIGHT,
    compact_zone,
    compaction_defer_reset,
    compaction_deferred,
    compaction_suitable,
    defer_compaction,
    init_cc,
)
from .jit import kernel
from .page_alloc import alloc_pages, drain_pages_zone
from .vmscan import try_to_free_pages, wakeup_kswapd
from .watermark import WMARK_LOW, WMARK_MIN

MAX_RECLAIM_RETRIES = 16


@kernel
def try_to_compact_pages(z, order, mode):
    """`try_to_compact_pages` / `compact_zone_order` for direct compaction;
    returns the compact_result. Deferral is checked for every attempt the
    model makes (async and sync-light): 6.x skips a deferred zone when
    `prio > MIN_COMPACT_PRIORITY`, 3.8 checks `compaction_deferred` in
    __alloc_pages_direct_compact before both the async and the sync attempt."""
    if compaction_deferred(z, order):
        return COMPACT_DEFERRED
    if compaction_suitable(z, order) == COMPACT_SKIPPED:
        return COMPACT_SKIPPED
    init_cc(z, order, mode, 0, 0, 1, 0)
    return compact_zone(z)


@kernel
def alloc_pages_direct_compact(z, order, o, mode):
    """`__alloc_pages_direct_compact`: compact, then try to allocate; counts
    compact_stall / compact_success / compact_fail and handles deferral. In
    6.x a deferred zone still counts a stall (try_to_compact_pages returns
    COMPACT_DEFERRED, which is not COMPACT_SKIPPED) and the free lists are
    tried; in 3.8 a deferred attempt returns before compact_stall is counted
    (in try_to_compact_pages). 3.8 drains the per-cpu lists before it
    tries the free lists; 6.x drains inside compact_zone instead. A success
    clears compact_blockskip_flush (3.8 and 6.x), so the skip bits stay."""
    result = try_to_compact_pages(z, order, mode)
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    if result == COMPACT_SKIPPED or (result == COMPACT_DEFERRED and era38):
        return -1, result
    z.vm[C.VM_COMPACT_STALL] += 1
    if era38:
        drain_pages_zone(z)  # "Page migration frees to the PCP lists but we want merging"
    pfn = alloc_pages(z, order, o, WMARK_MIN)
    if pfn >= 0:
        z.vm[C.VM_COMPACT_SUCCESS] += 1
        z.zs[C.ZS_BLOCKSKIP_FLUSH] = 0  # both eras: the skip bits earned their keep
        compaction_defer_reset(z, order, True)
        return pfn, result
    z.vm[C.VM_COMPACT_FAIL] += 1
    if mode != MIGRATE_ASYNC and (result == COMPACT_COMPLETE or result == COMPACT_PARTIAL_SKIPPED):
        defer_compaction(z, order)
    return -1, result


@kernel
def alloc_pages_direct_reclaim(z, order, o, rng):
    """`__alloc_pages_direct_reclaim` (3.8 and 6.x): reclaim; if that made
    progress, try the free lists at min, and when that fails drain the
    per-cpu lists (drain_all_pages) and try once more. Returns (pfn,
    pages reclaimed)."""
    progress = try_to_free_pages(z, order, rng)
    if progress == 0:
        return -1, progress
    pfn = alloc_pages(z, order, o, WMARK_MIN)
    if pfn < 0:
        drain_pages_zone(z)
        pfn = alloc_pages(z, order, o, WMARK_MIN)
    return pfn, progress


@kernel
def alloc_pages_gfp(z, order, o, gfp, rng):
    """Allocate a block of `order` for owner `o` under the gfp bits `gfp`
    (constants.GFP_*). Returns the head pfn or -1 (counted as pgalloc_fail)."""
    pfn = alloc_pages_slowpath(z, order, o, gfp, rng)
    if pfn < 0:
        z.vm[C.VM_ALLOC_FAIL] += 1
    return pfn


@kernel
def alloc_pages_slowpath(z, order, o, gfp, rng):
    """Both eras: the fast path at low, kswapd woken, a try at min; then the
    era's own reclaim and compaction for callers that may block."""
    pfn = alloc_pages(z, order, o, WMARK_LOW)
    if pfn >= 0:
        return pfn
    if gfp & C.GFP_KSWAPD_RECLAIM:
        wakeup_kswapd(z, order, gfp & C.GFP_DIRECT_RECLAIM)
    pfn = alloc_pages(z, order, o, WMARK_MIN)
    if pfn >= 0 or not gfp & C.GFP_DIRECT_RECLAIM:
        return pfn
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        return direct_reclaim_compact_38(z, order, o, gfp, rng)
    return direct_reclaim_compact_6x(z, order, o, gfp, rng)


@kernel
def direct_reclaim_compact_6x(z, order, o, gfp, rng):
    """The blocking part of 6.x's `__alloc_pages_slowpath`."""
    costly = order > C.PAGE_ALLOC_COSTLY_ORDER
    # DEF_COMPACT_PRIORITY after reclaim; a costly __GFP_NORETRY request
    # (a THP fault outside MADV_HUGEPAGE under defrag "always") stays at
    # INIT_COMPACT_PRIORITY: "sync compaction could be very expensive".
    mode = MIGRATE_ASYNC if costly and gfp & C.GFP_NORETRY else MIGRATE_SYNC_LIGHT
    if order > 0 and (costly or z.own_mt[o] != C.MIGRATE_MOVABLE):
        pfn, result = alloc_pages_direct_compact(z, order, o, MIGRATE_ASYNC)
        if pfn >= 0:
            return pfn
        if costly and gfp & C.GFP_NORETRY and (result == COMPACT_SKIPPED or result == COMPACT_DEFERRED):
            return -1
    retries = 0
    while True:
        pfn, progress = alloc_pages_direct_reclaim(z, order, o, rng)
        if pfn >= 0:
            return pfn
        if order > 0:
            pfn, _ = alloc_pages_direct_compact(z, order, o, mode)
            if pfn >= 0:
                return pfn
        if costly or gfp & C.GFP_NORETRY:
            return -1
        retries += 1
        if progress == 0 or retries >= MAX_RECLAIM_RETRIES:
            return -1


@kernel
def direct_reclaim_compact_38(z, order, o, gfp, rng):
    """The blocking part of Linux 3.8's `__alloc_pages_slowpath` (the
    `rebalance` loop, with should_alloc_retry: retry only non-costly
    requests without __GFP_NORETRY, here while reclaim makes progress, at
    most MAX_RECLAIM_RETRIES times)."""
    mode = MIGRATE_ASYNC
    retries = 0
    while True:
        if order > 0:
            pfn, result = alloc_pages_direct_compact(z, order, o, mode)
            if pfn >= 0:
                return pfn
            if mode == MIGRATE_ASYNC and result == COMPACT_DEFERRED and not gfp & C.GFP_KSWAPD_RECLAIM:
                return -1
        mode = MIGRATE_SYNC_LIGHT
        pfn, progress = alloc_pages_direct_reclaim(z, order, o, rng)
        if pfn >= 0:
            return pfn
        retries += 1
        if order <= C.PAGE_ALLOC_COSTLY_ORDER and not gfp & C.GFP_NORETRY:
            if progress > 0 and retries < MAX_RECLAIM_RETRIES:
                continue
            return -1
        if order == 0:
            return -1
        pfn, _ = alloc_pages_direct_compact(z, order, o, MIGRATE_SYNC_LIGHT)
        return pfn


@kernel
def alloc_pages_gfp_bulk(z, o, order, count, gfp, rng):
    """`count` allocations under `gfp`; stops at the first failure."""
    for i in range(count):
        if alloc_pages_gfp(z, order, o, gfp, rng) < 0:
            return i
    return count
