"""The virtio balloon driver (drivers/virtio/virtio_balloon.c): inflate and
deflate in batches toward the host's target.

Inflate allocates order-0 pages with the balloon's gfp mask and puts them at
the head of the balloon list; deflate takes them from the head, so deflate is
LIFO (balloon_page_enqueue / balloon_page_dequeue, 3.8 to 6.x). The balloon
pages, their host stream and their migration are balloon.py
(mm/balloon_compaction.c).
"""

from . import constants as C
from .alloc import alloc_pages_gfp
from .balloon import balloon_pages, stream_push, stream_room
from .jit import kernel
from .page_alloc import free_pages

BALLOON_BATCH = 256  # VIRTIO_BALLOON_ARRAY_PFNS_MAX: pages per tell_host
BALLOON_GFP = C.GFP_USER | C.GFP_NORETRY  # GFP_HIGHUSER[_MOVABLE] | __GFP_NORETRY | __GFP_NOMEMALLOC


@kernel
def fill_balloon(z, nr_pages, rng):
    """`fill_balloon`: allocate up to `nr_pages` (at most one batch of 256),
    each page through the allocator's slow path with __GFP_NORETRY (3.8 and
    6.x): the fast path at low, kswapd woken, then at most one round of
    direct reclaim with its per-cpu drain, never OOM (__GFP_NOMEMALLOC keeps
    it above min). The first page that fails ends the batch, "Out of
    puff!"; the driver's 200 ms sleep before it requeues is the caller's
    next tick. Each page lowers managed pages unless DEFLATE_ON_OOM.
    Returns pages inflated."""
    o = z.zs[C.ZS_BALLOON_OWNER]
    done = 0
    while done < nr_pages and stream_room(z) > 0:
        pfn = alloc_pages_gfp(z, 0, o, BALLOON_GFP, rng)
        if pfn < 0:
            z.vm[C.VM_BALLOON_INFLATE_FAIL] += 1
            break
        stream_push(z, pfn, 0, C.STREAM_INFLATE)
        if not z.zs[C.ZS_DEFLATE_ON_OOM]:
            z.zs[C.ZS_MANAGED] -= 1
        z.vm[C.VM_BALLOON_INFLATE] += 1
        done += 1
    return done


@kernel
def update_balloon_size(z, target, budget, rng):
    """`update_balloon_size_func`: fill or leak batches of BALLOON_BATCH toward
    `target` balloon pages until it is met, `budget` pages are spent or a
    batch falls short ("Out of puff!"). Returns (budget left, done); done is
    False when it stopped only because the host stream has no room for
    another batch: drain the stream and call again."""
    while budget > 0:
        diff = target - balloon_pages(z)
        if diff == 0:
            break
        if stream_room(z) < BALLOON_BATCH:
            return budget, False
        n = min(abs(diff), BALLOON_BATCH, budget)
        got = fill_balloon(z, n, rng) if diff > 0 else leak_balloon(z, n)
        budget -= n
        if got < n:
            break
    return budget, True


@kernel
def leak_balloon(z, nr_pages):
    """`leak_balloon`: take up to `nr_pages` from the list head (the young end),
    tell the host, then free them (MUST_TELL_HOST order). Isolated pages are
    not on the list and are skipped, as balloon_page_dequeue does."""
    o = z.zs[C.ZS_BALLOON_OWNER]
    done = 0
    while done < nr_pages and stream_room(z) > 0:
        pfn = z.own_tail[o]
        if pfn < 0:
            break
        stream_push(z, pfn, 0, C.STREAM_DEFLATE)
        free_pages(z, pfn)
        if not z.zs[C.ZS_DEFLATE_ON_OOM]:
            z.zs[C.ZS_MANAGED] += 1
        z.vm[C.VM_BALLOON_DEFLATE] += 1
        done += 1
    return done
