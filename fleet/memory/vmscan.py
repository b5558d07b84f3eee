"""Page reclaim (mm/vmscan.c): kswapd and direct reclaim.

What can be reclaimed: page cache (clean: dropped), reclaimable slab (freed by
the shrinkers) and, only when swap is on, anonymous order-0 memory. Victims are
drawn owner by owner in proportion to their reclaimable pages (slab shrunk in
proportion to LRU scanning); within an LRU owner the oldest allocation goes
first (the inactive tail), within a slab owner a random one (a slab page is
freed when its last object goes, which the model does not track). The
active/inactive split and swappiness are not modelled.

kswapd (balance_pgdat) wakes below the low watermark and reclaims until the
zone is above high (plus the watermark boost in 6.x), then clears the boost.
Direct reclaim (try_to_free_pages) reclaims SWAP_CLUSTER_MAX = 32 pages, and
for costly orders goes on as reclaim/compaction does (`compaction_ready`,
`should_continue_reclaim`; the 3.8 and 6.x rules differ).
"""

from . import constants as C
from .compaction import COMPACT_SKIPPED, compaction_deferred, compaction_suitable
from .jit import kernel
from .owner import PICK_OLDEST, PICK_RANDOM, pick_allocation
from .page_alloc import free_pages, wakeup_kswapd  # noqa: F401 (the reclaim API)
from .rng import randbelow
from .watermark import WMARK_HIGH, wmark_pages, zone_watermark_ok

SWAP_CLUSTER_MAX = 32


@kernel
def _reclaimable(z, o, may_swap):
    kind = z.own_kind[o]
    if kind == C.KIND_FILE or kind == C.KIND_SLAB_RECLAIMABLE:
        return z.own_pages[o]
    if kind == C.KIND_ANON and z.zs[C.ZS_SWAP] and may_swap:
        return z.own_pages[o]
    return 0


@kernel
def reclaimable_pages(z, may_swap=True):
    total = 0
    for o in range(1, C.MAX_OWNERS):
        total += _reclaimable(z, o, may_swap)
    return total


@kernel
def shrink_zone(z, nr_to_reclaim, kswapd, rng, may_swap=True):
    """Reclaim about `nr_to_reclaim` pages (anonymous ones only when swap is
    on and `may_swap`, scan_control's may_swap); returns pages reclaimed."""
    reclaimed = 0
    while reclaimed < nr_to_reclaim:
        total = reclaimable_pages(z, may_swap)
        if total == 0:
            break
        r = randbelow(rng, total)
        o = 1
        while o < C.MAX_OWNERS:
            r -= _reclaimable(z, o, may_swap)
            if r < 0:
                break
            o += 1
        how = PICK_RANDOM if z.own_kind[o] == C.KIND_SLAB_RECLAIMABLE else PICK_OLDEST
        pfn = pick_allocation(z, o, how, rng)
        if pfn < 0:
            break
        if z.own_kind[o] == C.KIND_ANON:
            z.vm[C.VM_PSWPOUT] += 1
        reclaimed += free_pages(z, pfn)
    if kswapd:
        z.vm[C.VM_PGSCAN_KSWAPD] += reclaimed
        z.vm[C.VM_PGSTEAL_KSWAPD] += reclaimed
    else:
        z.vm[C.VM_PGSCAN_DIRECT] += reclaimed
        z.vm[C.VM_PGSTEAL_DIRECT] += reclaimed
    return reclaimed


@kernel
def balance_pgdat(z, rng):
    """kswapd's run (`balance_pgdat`): reclaim until free pages exceed the
    high watermark (with the boost), then reset the boost and go back to
    sleep. A boosted run (6.x) first reclaims the boost itself, balanced or
    not (nr_boost_reclaim; without swapping, may_swap = 0), and falls back
    to ordinary reclaim if the zone is not balanced; it ends with
    `wakeup_kcompactd(pgdat, pageblock_order)`, since there is now likely
    space to defragment pageblocks: it asks kcompactd (ZS_KCOMPACTD_WAKE)
    for that order. While it runs the zone is ZONE_RECLAIM_ACTIVE (6.x),
    which caps the per-cpu lists at 4 * batch (page_alloc.nr_pcp_high).
    Returns pages reclaimed."""
    if z.zs[C.ZS_KSWAPD_WAKE] == 0:
        return 0
    z.vm[C.VM_PAGEOUTRUN] += 1
    nr_boost_reclaim = z.zs[C.ZS_WATERMARK_BOOST]
    if nr_boost_reclaim > 0 and z.zs[C.ZS_KCOMPACTD_WAKE] < C.PAGEBLOCK_ORDER + 1:
        z.zs[C.ZS_KCOMPACTD_WAKE] = C.PAGEBLOCK_ORDER + 1
    reclaimed = 0
    z.zs[C.ZS_RECLAIM_ACTIVE] = 1
    while True:
        balanced = z.zs[C.ZS_NR_FREE] > wmark_pages(z, WMARK_HIGH)
        if not balanced and nr_boost_reclaim:
            nr_boost_reclaim = 0  # `goto restart` as ordinary reclaim
        if not nr_boost_reclaim and balanced:
            break
        got = shrink_zone(z, SWAP_CLUSTER_MAX, True, rng, nr_boost_reclaim == 0)
        if got == 0:
            break
        reclaimed += got
        nr_boost_reclaim -= min(nr_boost_reclaim, got)
    z.zs[C.ZS_RECLAIM_ACTIVE] = 0
    z.zs[C.ZS_WATERMARK_BOOST] = 0
    z.zs[C.ZS_KSWAPD_WAKE] = 0
    return reclaimed


KSWAPD_ZONE_BALANCE_GAP_RATIO = 100  # 3.x


@kernel
def compaction_ready(z, order):
    """`compaction_ready` (shrink_zones): a costly request's direct reclaim
    skips a zone that already has the order-0 headroom compaction needs.
    6.x: free above high + compact_gap (2 << order). 3.8: above high + the
    balance gap (min(low, present / 100)) + compact_gap, and, unless
    compaction is deferred, only if compaction_suitable says it may run."""
    gap = 2 << order
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    if era38:
        gap += min(z.zs[C.ZS_WMARK_LOW], -(-z.zs[C.ZS_NR_PAGES] // KSWAPD_ZONE_BALANCE_GAP_RATIO))
    ok = zone_watermark_ok(z, 0, wmark_pages(z, WMARK_HIGH) + gap)
    if era38 and not compaction_deferred(z, order) and compaction_suitable(z, order) == COMPACT_SKIPPED:
        return False
    return ok


@kernel
def should_continue_reclaim(z, order, reclaimed_now, reclaimed_total):
    """`should_continue_reclaim`: only costly orders are in reclaim/compaction
    mode (in_reclaim_compaction at DEF_PRIORITY; the model has no scan
    priorities), and the last round must have reclaimed something.
    6.x: go on until compaction_suitable lets compaction run, while the
    reclaimable pages exceed compact_gap (2 << order).
    3.8: go on until 2 << order pages are reclaimed (while more than that are
    reclaimable), then until compaction_suitable lets compaction run."""
    if order <= C.PAGE_ALLOC_COSTLY_ORDER or reclaimed_now == 0:
        return False
    gap = 2 << order
    if z.zs[C.ZS_ERA] == C.ERA_3_8 and reclaimed_total < gap and reclaimable_pages(z) > gap:
        return True
    if compaction_suitable(z, order) != COMPACT_SKIPPED:
        return False
    return z.zs[C.ZS_ERA] == C.ERA_3_8 or reclaimable_pages(z) > gap


@kernel
def try_to_free_pages(z, order, rng):
    """Direct reclaim for a request of `order` (allocstall counted): nothing
    when compaction_ready, else SWAP_CLUSTER_MAX batches while
    should_continue_reclaim. Returns pages reclaimed."""
    z.vm[C.VM_ALLOCSTALL] += 1
    if order > C.PAGE_ALLOC_COSTLY_ORDER and compaction_ready(z, order):
        return 0
    total = 0
    while True:
        got = shrink_zone(z, SWAP_CLUSTER_MAX, False, rng)
        total += got
        if not should_continue_reclaim(z, order, got, total):
            return total
