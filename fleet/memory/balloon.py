"""The virtio balloon driver and balloon compaction: drivers/virtio/virtio_balloon.c
and mm/balloon_compaction.c.

The balloon is an owner whose list is `vb_dev_info->pages`; the young end of
the list is the kernel's list head. Inflate allocates order-0 pages with the
balloon's gfp mask and puts them at the head; deflate takes them from the head,
so deflate is LIFO (balloon_page_enqueue / balloon_page_dequeue, 3.8 to 6.x).
Every page given to or taken from the host is appended to the zone's host
notification stream, in order.

The switch `balloon_compaction` chooses the world:
- off (before the seed): pages are GFP_HIGHUSER, hence Unmovable; compaction
  never isolates them;
- on (the seed, Linux 3.8): pages are GFP_HIGHUSER_MOVABLE and the migrate
  scanner may isolate them under the seed's rules (balloon_page_isolate).
"""

import numpy as np

from . import constants as C
from .jit import kernel
from .owner import owner_list_add, owner_list_del
from .page_alloc import alloc_pages, free_pages
from .vmscan import try_to_free_pages, wakeup_kswapd
from .watermark import WMARK_MIN

BALLOON_BATCH = 256  # VIRTIO_BALLOON_ARRAY_PFNS_MAX: pages per tell_host


@kernel
def stream_push(z, pfn, order, op):
    """Append one notification for the host (tell_host / prdev->report)."""
    n = z.zs[C.ZS_STREAM_LEN]
    z.stream[n] = (np.int64(pfn) << 8) | (order << 4) | op
    z.zs[C.ZS_STREAM_LEN] = n + 1


@kernel
def stream_room(z):
    return C.STREAM_CAPACITY - z.zs[C.ZS_STREAM_LEN]


@kernel
def balloon_pages(z):
    o = z.zs[C.ZS_BALLOON_OWNER]
    return z.own_pages[o] if o > 0 else 0


@kernel
def fill_balloon(z, nr_pages):
    """`fill_balloon`: allocate up to `nr_pages` (at most one batch of 256)
    with __GFP_NORETRY | __GFP_NOMEMALLOC: the min watermark is respected and
    there is no retry; the caller's slow path may reclaim once first. Each page
    lowers managed pages unless DEFLATE_ON_OOM. Returns pages inflated; fewer
    than asked is the driver's "Out of puff!"."""
    o = z.zs[C.ZS_BALLOON_OWNER]
    done = 0
    while done < nr_pages and stream_room(z) > 0:
        pfn = alloc_pages(z, 0, o, WMARK_MIN)
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
def fill_balloon_reclaiming(z, nr_pages, rng):
    """One `fill_balloon` batch, with one round of direct reclaim if memory is
    short (the allocation's __GFP_NORETRY slow path: kswapd woken,
    try_to_free_pages once, no retry after it). Returns pages inflated."""
    done = fill_balloon(z, nr_pages)
    if done < nr_pages:
        wakeup_kswapd(z, 0)
        try_to_free_pages(z, rng)
        done += fill_balloon(z, nr_pages - done)
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
        got = fill_balloon_reclaiming(z, n, rng) if diff > 0 else leak_balloon(z, n)
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


@kernel
def balloon_page_isolate(z, pfn):
    """The seed's `isolate_balloon_page`: refuse a locked page (it may be a new
    page being migrated into) and a page whose reference count says it is
    already isolated (count 2: here PF_ISOLATED); otherwise take it off the
    balloon list. Only called when balloon compaction is on."""
    flags = z.pflags[pfn]
    if flags & (C.PF_LOCKED | C.PF_ISOLATED):
        return False
    o = z.owner[pfn]
    owner_list_del(z, o, pfn)
    z.own_allocs[o] -= 1
    z.pflags[pfn] = flags | C.PF_ISOLATED
    z.zs[C.ZS_BALLOON_ISOLATED] += 1
    z.vm[C.VM_COMPACT_BALLOON_ISOLATED] += 1
    return True


@kernel
def balloon_page_putback(z, pfn):
    """`putback_balloon_page`: a failed migration returns the page to the head
    of the balloon list."""
    o = z.owner[pfn]
    z.pflags[pfn] &= ~np.uint16(C.PF_ISOLATED)
    owner_list_add(z, o, pfn)
    z.own_allocs[o] += 1
    z.zs[C.ZS_BALLOON_ISOLATED] -= 1
    z.vm[C.VM_COMPACT_BALLOON_RETURNED] += 1


@kernel
def balloon_page_migrate(z, old, new):
    """`virtballoon_migratepage`: the new page joins the balloon list head and
    the host is told inflate(new) and then deflate(old); the old page is
    released to the buddy allocator (balloon_page_free). `new` is a free page
    the free scanner isolated, already stamped with the balloon owner."""
    o = z.owner[old]
    owner_list_add(z, o, new)
    z.own_allocs[o] += 1
    stream_push(z, new, 0, C.STREAM_INFLATE)
    stream_push(z, old, 0, C.STREAM_DEFLATE)
    z.zs[C.ZS_BALLOON_ISOLATED] -= 1
    z.vm[C.VM_BALLOON_MIGRATE] += 1
    z.vm[C.VM_COMPACT_BALLOON_MIGRATED] += 1
    free_pages(z, old)
    z.vm[C.VM_COMPACT_BALLOON_RELEASED] += 1
