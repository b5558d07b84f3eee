"""Taking a pageblock-aligned range of memory out of the page allocator and
giving it back (mm/memory_hotplug.c, mm/page_alloc.c): what virtio-mem's
driver does to unplug and plug its blocks (fleet/memory/virtio_mem.py).

Offlining follows `alloc_contig_range` as virtio_mem_fake_offline calls it
(and `offline_pages` in its test for unmovable pages):
- `has_unmovable_pages`: any allocated page of the range that is not a
  movable order-0 page (an Unmovable or Reclaimable owner, balloon pages
  without balloon compaction among them, a page isolated by someone else,
  a compound page) makes it fail with -EBUSY, and nothing changes;
- the per-cpu lists are drained (drain_all_pages) and the movable pages are
  migrated out, each to a free page outside the range taken from the buddy
  lists as alloc_migration_target would; if there are fewer free pages
  outside the range above the min watermark than pages to move, direct
  reclaim runs for the difference first, and if that is not enough it
  fails with -ENOMEM before anything moved;
- the range's free blocks leave the free lists (a free block straddling an
  end of the range is split and its outer part stays free), so neither a
  migration nor anyone else can allocate inside the range meanwhile;
- the range becomes the caller's allocation, one order-9 block per
  pageblock (virtio-mem's fake-offline pages, PageOffline), its pageblocks
  Movable again (undo_isolate_page_range), and its pages leave the zone's
  managed pages (adjust_managed_page_count). The host is told to discard
  each pageblock (QEMU's ram_block_discard_range, the same as for a free
  page report: a STREAM_REPORT of order 9), and the pageblocks' touch marks
  are cleared: the host must not fault them back in.
Onlining (`online_pages` / virtio_mem_fake_online) gives each pageblock back
to the buddy allocator whole and Movable, at the list tail
(__free_pages_core with FPI_TO_TAIL), and the managed pages return.

Both then recompute min_free_kbytes, the watermarks and the per-cpu list
sizes from the managed pages (Zone.init_per_zone_wmark_min), as
online_pages and offline_pages do with init_per_zone_wmark_min and
zone_pcp_update. The kernel's virtio-mem in Sub Block Mode adjusts only
the managed pages per subblock and recomputes the watermarks when a whole
128 MiB memory block goes offline; the model treats every range as such a
block. Simplified away: migrating compound pages (alloc_contig_range can
move a THP; here it blocks), the five retries of virtio_mem_fake_offline
(nothing in the model changes between them) and MIGRATE_ISOLATE itself
(the range is handled within one call, so nothing else runs meanwhile).
"""

import numpy as np

from . import constants as C
from .balloon import balloon_page_isolate, stream_push
from .jit import kernel
from .migrate import isolate_lru_page, migrate_page
from .owner import owner_list_add, owner_list_del
from .page_alloc import (
    del_page_from_free_list,
    drain_pages_zone,
    free_list_mt,
    free_one_page,
    order_to_pindex,
    page_is_buddy,
    pcp_list_del,
    rmqueue,
)
from .vmscan import shrink_zone

OFFLINE_OK = 0
OFFLINE_BUSY = 1  # -EBUSY: a page of the range cannot be moved
OFFLINE_NOMEM = 2  # -ENOMEM: no room outside the range to move its pages to

PB = C.PAGEBLOCK_NR_PAGES


@kernel
def scan_range(z, start, end):
    """has_unmovable_pages over [start, end), and the counts alloc_contig_range
    needs: (blocked, movable order-0 pages, free pages) of the range."""
    movable = 0
    free = 0
    p = start
    while p < end:
        flags = z.pflags[p]
        o = z.owner[p]
        if o == C.OWNER_NONE:
            step = 1
            if flags & (C.PF_BUDDY | C.PF_PCP):  # a free block's head: skip its pages in the range
                step = min(1 << (flags & C.PF_ORDER_MASK), end - p)
            free += step
            p += step
            continue
        if flags & (C.PF_ORDER_MASK | C.PF_ISOLATED | C.PF_LOCKED) or z.own_mt[o] != C.MIGRATE_MOVABLE:
            return True, movable, free
        movable += 1
        p += 1
    return False, movable, free


@kernel
def withdraw_free_block(z, head, order, start, end):
    """Take the free buddy `head` of `order` off its list; the pageblocks of
    it outside [start, end) go back to the free lists (its outer part of a
    block straddling an end of the range)."""
    mt = free_list_mt(z, head)
    del_page_from_free_list(z, head, order)
    z.zs[C.ZS_NR_FREE] -= 1 << order
    for q in range(head, head + (1 << order), PB):
        if q < start or q >= end:
            free_one_page(z, q, C.PAGEBLOCK_ORDER, mt, False)
            z.zs[C.ZS_NR_FREE] += PB


@kernel
def withdraw_free(z, start, end):
    """Every free page of [start, end) off the free lists (the per-cpu lists
    were drained)."""
    for order in range(C.PAGEBLOCK_ORDER + 1, C.NR_PAGE_ORDERS):
        head = start & ~((1 << order) - 1)
        if head < start and page_is_buddy(z, head, order):
            withdraw_free_block(z, head, order, start, end)
    p = start
    while p < end:
        flags = z.pflags[p]
        if z.owner[p] == C.OWNER_NONE and flags & C.PF_BUDDY:
            order = flags & C.PF_ORDER_MASK
            withdraw_free_block(z, p, order, start, end)
            p += min(1 << order, end - p)
        else:
            p += 1


@kernel
def withdraw_page(z, pfn):
    """Take the order-0 free page `pfn` a migration just freed off the
    per-cpu or buddy list it went to (its buddies in the range are not free,
    so it merged with none)."""
    if z.pflags[pfn] & C.PF_PCP:
        pcp_list_del(z, pfn, order_to_pindex(free_list_mt(z, pfn), 0))
    else:
        del_page_from_free_list(z, pfn, 0)
        z.zs[C.ZS_NR_FREE] -= 1


@kernel
def migrate_out(z, pfn):
    """Move the movable order-0 page `pfn` to a free page outside the range
    (alloc_migration_target: the buddy lists, Movable first), then keep the
    old page out of the allocator."""
    if z.owner[pfn] == z.zs[C.ZS_BALLOON_OWNER]:
        balloon_page_isolate(z, pfn)
    else:
        isolate_lru_page(z, pfn)
    new = rmqueue(z, 0, C.MIGRATE_MOVABLE)
    z.zs[C.ZS_NR_FREE] -= 1
    migrate_page(z, pfn, new)
    withdraw_page(z, pfn)


@kernel
def offline_pages(z, start, nr_pages, o, rng):
    """alloc_contig_range over [start, start + nr_pages) (pageblock-aligned)
    for owner `o`, then the range leaves managed memory. Returns
    OFFLINE_OK, OFFLINE_BUSY or OFFLINE_NOMEM; only OFFLINE_OK changes the
    range (a failed attempt may have reclaimed). The caller drains the host
    stream first: a range of m movable balloon pages in k pageblocks needs
    2m + k entries."""
    end = start + nr_pages
    blocked, movable, free = scan_range(z, start, end)
    if blocked:
        return OFFLINE_BUSY
    drain_pages_zone(z)
    blocked, movable, free = scan_range(z, start, end)
    room = z.zs[C.ZS_NR_FREE] - free - z.zs[C.ZS_WMARK_MIN]
    if room < movable:
        shrink_zone(z, movable - room, False, rng)
        drain_pages_zone(z)
        blocked, movable, free = scan_range(z, start, end)
        if z.zs[C.ZS_NR_FREE] - free - z.zs[C.ZS_WMARK_MIN] < movable:
            return OFFLINE_NOMEM
    withdraw_free(z, start, end)
    for pfn in range(start, end):
        if z.owner[pfn] != C.OWNER_NONE:
            migrate_out(z, pfn)
    for q in range(start, end, PB):
        for i in range(q, q + PB):
            z.pflags[i] = np.uint16(C.PAGEBLOCK_ORDER)
            z.owner[i] = o
        z.pflags[q] = np.uint16(C.PAGEBLOCK_ORDER | C.PF_HEAD)
        owner_list_add(z, o, q)
        z.own_pages[o] += PB
        z.own_allocs[o] += 1
        z.pb_mt[q >> C.PAGEBLOCK_ORDER] = C.MIGRATE_MOVABLE
        z.pb_dirty[q >> C.PAGEBLOCK_ORDER] = 0
        stream_push(z, q, C.PAGEBLOCK_ORDER, C.STREAM_REPORT)
    z.zs[C.ZS_MANAGED] -= nr_pages
    return OFFLINE_OK


@kernel
def online_pages(z, start, nr_pages, o):
    """online_pages of a range `offline_pages` gave owner `o`: each
    pageblock back to the buddy allocator, Movable, at the list tail."""
    for q in range(start, start + nr_pages, PB):
        owner_list_del(z, o, q)
        z.own_pages[o] -= PB
        z.own_allocs[o] -= 1
        for i in range(q, q + PB):
            z.pflags[i] = 0
            z.owner[i] = C.OWNER_NONE
        z.pb_mt[q >> C.PAGEBLOCK_ORDER] = C.MIGRATE_MOVABLE
        free_one_page(z, q, C.PAGEBLOCK_ORDER, C.MIGRATE_MOVABLE, True)
        z.zs[C.ZS_NR_FREE] += PB
    z.zs[C.ZS_MANAGED] += nr_pages


def offline(zone, start: int, nr_pages: int, owner: int) -> int:
    """`offline_pages` on a Zone (fleet/memory/zone.py), its host stream
    drained around it and its watermarks recomputed on success."""
    _check_range(zone, start, nr_pages)
    zone.drain_stream()
    rc = int(offline_pages(zone.a, start, nr_pages, owner, zone.rng))
    zone.drain_stream()
    if rc == OFFLINE_OK:
        zone.init_per_zone_wmark_min()
    return rc


def online(zone, start: int, nr_pages: int, owner: int) -> None:
    """`online_pages` on a Zone: the range must be one `offline` gave `owner`."""
    _check_range(zone, start, nr_pages)
    heads = zone.a.pflags[start : start + nr_pages : PB]
    if (zone.a.owner[start : start + nr_pages] != owner).any() or not (heads & C.PF_HEAD).all():
        raise ValueError(f"pfns {start}+{nr_pages} are not an offline range of owner {owner}")
    online_pages(zone.a, start, nr_pages, owner)
    zone.init_per_zone_wmark_min()


def _check_range(zone, start: int, nr_pages: int) -> None:
    if start % PB or nr_pages <= 0 or nr_pages % PB or start < 0 or start + nr_pages > zone.nr_pages:
        raise ValueError(f"range {start}+{nr_pages} is not whole pageblocks of the zone")
