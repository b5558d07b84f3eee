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
Direct reclaim (try_to_free_pages) reclaims SWAP_CLUSTER_MAX = 32 pages.
"""

from . import constants as C
from .jit import kernel
from .owner import PICK_OLDEST, PICK_RANDOM, pick_allocation
from .page_alloc import free_pages
from .rng import randbelow
from .watermark import WMARK_HIGH, wmark_pages

SWAP_CLUSTER_MAX = 32


@kernel
def _reclaimable(z, o):
    kind = z.own_kind[o]
    if kind == C.KIND_FILE or kind == C.KIND_SLAB_RECLAIMABLE:
        return z.own_pages[o]
    if kind == C.KIND_ANON and z.zs[C.ZS_SWAP]:
        return z.own_pages[o]
    return 0


@kernel
def reclaimable_pages(z):
    total = 0
    for o in range(1, C.MAX_OWNERS):
        total += _reclaimable(z, o)
    return total


@kernel
def shrink_zone(z, nr_to_reclaim, kswapd, rng):
    """Reclaim about `nr_to_reclaim` pages; returns pages reclaimed."""
    reclaimed = 0
    while reclaimed < nr_to_reclaim:
        total = reclaimable_pages(z)
        if total == 0:
            break
        r = randbelow(rng, total)
        o = 1
        while o < C.MAX_OWNERS:
            r -= _reclaimable(z, o)
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
def wakeup_kswapd(z, order):
    """`wakeup_kswapd`: remember the highest order a sleeping kswapd is asked for."""
    if z.zs[C.ZS_KSWAPD_WAKE] < order + 1:
        z.zs[C.ZS_KSWAPD_WAKE] = order + 1


@kernel
def balance_pgdat(z, rng):
    """kswapd's run: reclaim until free pages exceed the high watermark (with
    the boost), then reset the boost and go back to sleep. Returns pages
    reclaimed."""
    if z.zs[C.ZS_KSWAPD_WAKE] == 0:
        return 0
    z.vm[C.VM_PAGEOUTRUN] += 1
    reclaimed = 0
    while z.zs[C.ZS_NR_FREE] <= wmark_pages(z, WMARK_HIGH):
        got = shrink_zone(z, SWAP_CLUSTER_MAX, True, rng)
        if got == 0:
            break
        reclaimed += got
    z.zs[C.ZS_WATERMARK_BOOST] = 0
    z.zs[C.ZS_KSWAPD_WAKE] = 0
    return reclaimed


@kernel
def try_to_free_pages(z, rng):
    """Direct reclaim: one SWAP_CLUSTER_MAX batch (allocstall counted)."""
    z.vm[C.VM_ALLOCSTALL] += 1
    return shrink_zone(z, SWAP_CLUSTER_MAX, False, rng)
