"""The arrays of one zone: all the state of a guest's physical memory.

One guest is modelled as one node with one zone ("Normal") of `nr_pages` page
frames; real x86-64 guests also have DMA and DMA32 zones, which the model folds
into this one (a simplification: no lowmem reserve, no zone fallback).

Per page frame (pfn) the model keeps 11 bytes, mirroring what `struct page`
keeps for the same purpose:

- `lru_next`, `lru_prev` (int32): the page's `lru` list links. Like the
  kernel's `page->lru` they are shared: the head page of a free block links its
  buddy free list, the head page of an allocation links its owner's list (the
  LRU for anon and page cache, the balloon's page list, ...). -1 ends a list.
- `pflags` (uint16): the order of the block the page belongs to and PG_* bits
  (see constants.PF_*).
- `owner` (uint8): which owner the page belongs to, 0 when free.

Per pageblock: the migratetype (`pb_mt`), the compaction skip bit
(`pb_skip`) and `pb_dirty`, set when a page of the block is allocated (or
migrated into) and cleared when the host model looks (not kernel state: it
lets the host find the guest's new touches without scanning every page).
Free lists are `fl_head`/`fl_tail`/`nr_free` per (order, migratetype), the
per-cpu lists `pcp_head`/`pcp_tail` (one CPU's, see page_alloc.py), owner
lists `own_head`/`own_tail` with page and allocation counts
and `own_lo`/`own_hi`, bounds of the pfns the owner's list has held since it
was last empty (so a random pick samples only that span).
`stream` buffers what the guest tells the host (balloon inflate and deflate,
free page reports) until the layer above drains it; `cc`, `cc_free` and
`cc_migrate` are the compaction run's compact_control and private lists.
"""

from collections import namedtuple

import numpy as np

from . import constants as C

ZoneArrays = namedtuple(
    "ZoneArrays",
    [
        "lru_next",
        "lru_prev",
        "pflags",
        "owner",
        "pb_mt",
        "pb_skip",
        "pb_dirty",
        "fl_head",
        "fl_tail",
        "nr_free",
        "pcp_head",
        "pcp_tail",
        "own_head",
        "own_tail",
        "own_lo",
        "own_hi",
        "own_pages",
        "own_allocs",
        "own_kind",
        "own_mt",
        "zs",
        "vm",
        "stream",
        "cc",
        "cc_free",
        "cc_migrate",
    ],
)


def empty_zone(nr_pages: int) -> ZoneArrays:
    """Allocate the arrays of a zone with every page allocated to nobody.

    The caller (zone.Zone) sets watermarks and frees the memory to the buddy
    allocator, as the kernel does at boot.
    """
    if nr_pages <= 0 or nr_pages % C.PAGEBLOCK_NR_PAGES:
        raise ValueError(f"zone size must be a positive multiple of {C.PAGEBLOCK_NR_PAGES} pages, got {nr_pages}")
    nr_blocks = nr_pages // C.PAGEBLOCK_NR_PAGES
    shape = (C.NR_PAGE_ORDERS, C.NR_MIGRATETYPES)
    return ZoneArrays(
        lru_next=np.full(nr_pages, -1, dtype=np.int32),
        lru_prev=np.full(nr_pages, -1, dtype=np.int32),
        pflags=np.zeros(nr_pages, dtype=np.uint16),
        owner=np.zeros(nr_pages, dtype=np.uint8),
        # memmap_init_zone() marks every pageblock MOVABLE at boot (3.8 and 6.x).
        pb_mt=np.full(nr_blocks, C.MIGRATE_MOVABLE, dtype=np.int8),
        pb_skip=np.zeros(nr_blocks, dtype=np.uint8),
        pb_dirty=np.zeros(nr_blocks, dtype=np.uint8),
        fl_head=np.full(shape, -1, dtype=np.int32),
        fl_tail=np.full(shape, -1, dtype=np.int32),
        nr_free=np.zeros(shape, dtype=np.int64),
        pcp_head=np.full(C.NR_PCP_LISTS, -1, dtype=np.int32),
        pcp_tail=np.full(C.NR_PCP_LISTS, -1, dtype=np.int32),
        own_head=np.full(C.MAX_OWNERS, -1, dtype=np.int32),
        own_tail=np.full(C.MAX_OWNERS, -1, dtype=np.int32),
        own_lo=np.full(C.MAX_OWNERS, nr_pages, dtype=np.int64),
        own_hi=np.full(C.MAX_OWNERS, -1, dtype=np.int64),
        own_pages=np.zeros(C.MAX_OWNERS, dtype=np.int64),
        own_allocs=np.zeros(C.MAX_OWNERS, dtype=np.int64),
        own_kind=np.full(C.MAX_OWNERS, -1, dtype=np.int8),
        own_mt=np.full(C.MAX_OWNERS, -1, dtype=np.int8),
        zs=np.zeros(C.NR_ZS, dtype=np.int64),
        vm=np.zeros(C.NR_VM, dtype=np.int64),
        stream=np.zeros(C.STREAM_CAPACITY, dtype=np.int64),
        cc=np.zeros(C.NR_CC, dtype=np.int64),
        cc_free=np.zeros(C.CC_FREE_CAPACITY, dtype=np.int64),
        cc_migrate=np.zeros(C.PAGEBLOCK_NR_PAGES, dtype=np.int64),
    )


def state_bytes(z: ZoneArrays) -> int:
    """Bytes held by the zone's arrays (the model state of one guest's memory)."""
    return sum(a.nbytes for a in z)


def copy_zone(z: ZoneArrays) -> ZoneArrays:
    """A deep copy (for checkpoints and tests)."""
    return ZoneArrays(*(a.copy() for a in z))


def zones_equal(a: ZoneArrays, b: ZoneArrays) -> bool:
    """True when every array of the two zones is identical."""
    return all(np.array_equal(x, y) for x, y in zip(a, b))
