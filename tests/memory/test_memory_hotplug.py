"""Offlining and onlining pageblock-aligned ranges (fleet/memory/memory_hotplug.py):
alloc_contig_range's rules as virtio-mem's fake-offline uses them, and
online_pages.

Rules checked:
- an unmovable page (slab, an unmovable balloon page, a THP) blocks the
  range and nothing changes;
- movable pages (anon, page cache, balloon pages with balloon compaction)
  are migrated out, their owners keep their page counts, none is left in
  the range;
- no room to migrate into: direct reclaim first, else -ENOMEM and nothing
  moved;
- managed pages drop by the range and the watermarks follow: they equal
  those of a zone booted with the range memblock-reserved (the same rule
  from the same managed pages); onlining restores the boot values;
- the host is told to discard every pageblock, and will not fault them in;
- no page leaks: after any sequence of allocations, frees, offlines and
  onlines the invariant checker passes and managed pages account for every
  offline range.

Zones are 64 MiB (32 pageblocks), fixed seeds.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.memory import constants as C
from fleet.memory import memory_hotplug as H
from fleet.memory.rng import new_rng
from fleet.memory.state import copy_zone, zones_equal
from fleet.memory.stream import decode_all
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone
from tests.memory.zones import PB, vm

NR_PAGES = 32 * PB
ERAS = ("3.8", "6.x")
TOP = 31 * PB  # the last pageblock


def make_zone(era="6.x", pcp=True, **kw):
    z = Zone(NR_PAGES, era=era, rng=new_rng(1, 0), pcp=pcp, **kw)
    return z, z.register_owner("vmem", C.KIND_KERNEL)


def fill(z, kind, pages):
    """An owner of `kind` holding `pages` order-0 pages."""
    o = z.register_owner(C.KIND_NAMES[kind], kind)
    assert z.alloc_bulk(o, 0, pages, ALLOC_NO_WATERMARKS) == pages
    return o


def free_total(z):
    return z.nr_free + z.pcp_pages


def managed(z):
    return int(z.a.zs[C.ZS_MANAGED])


def marks(z):
    return [int(z.a.zs[i]) for i in (C.ZS_MIN_FREE_KBYTES, C.ZS_WMARK_MIN, C.ZS_WMARK_LOW, C.ZS_WMARK_HIGH)]


def in_range(z, o, start=TOP, n=PB):
    return int((z.a.owner[start : start + n] == o).sum())


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("pcp", (False, True))
def test_a_free_range_goes_and_comes_back(era, pcp):
    z, vmem = make_zone(era, pcp)
    boot = marks(z)
    free0 = free_total(z)
    assert H.offline(z, TOP, PB, vmem) == H.OFFLINE_OK
    z.check()
    assert managed(z) == NR_PAGES - PB and free_total(z) == free0 - PB
    assert in_range(z, vmem) == PB and z.owner_pages(vmem) == PB
    reserved = Zone(NR_PAGES, era=era, rng=new_rng(1, 0), pcp=pcp, reserved=((TOP, PB),))
    assert marks(z) == marks(reserved) != boot
    assert int(z.a.zs[C.ZS_PCP_HIGH]) == int(reserved.a.zs[C.ZS_PCP_HIGH])
    H.online(z, TOP, PB, vmem)
    z.check()
    assert managed(z) == NR_PAGES and free_total(z) == free0 and marks(z) == boot
    assert z.owner_pages(vmem) == 0 and z.free_2mib_blocks() >= 2  # the block merged back into an order-10 one


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("kind", (C.KIND_SLAB, C.KIND_SLAB_RECLAIMABLE, C.KIND_PAGETABLE, C.KIND_KERNEL))
def test_an_unmovable_page_blocks_the_range(era, kind):
    z, vmem = make_zone(era)
    anon = fill(z, C.KIND_ANON, NR_PAGES - 4 * PB)  # the bottom 28 pageblocks
    z.free_owner(anon, 2 * PB, z.rng)
    o = z.register_owner("x", kind)
    pfn = -1
    while pfn < 0 or pfn // PB != TOP // PB:  # an allocation of `kind` in the top pageblock
        pfn = z.alloc(o, 0, ALLOC_NO_WATERMARKS)
    before = copy_zone(z.a)
    assert H.offline(z, TOP, PB, vmem) == H.OFFLINE_BUSY
    assert zones_equal(before, z.a)


def test_a_thp_blocks_its_pageblock():
    z, vmem = make_zone()
    thp = z.register_owner("thp", C.KIND_THP)
    head = z.alloc(thp, C.HPAGE_PMD_ORDER, ALLOC_NO_WATERMARKS)
    before = copy_zone(z.a)
    assert H.offline(z, head, PB, vmem) == H.OFFLINE_BUSY
    assert zones_equal(before, z.a)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("pcp", (False, True))
@pytest.mark.parametrize("kind", (C.KIND_ANON, C.KIND_FILE))
def test_movable_pages_are_migrated_out(era, pcp, kind):
    z, vmem = make_zone(era, pcp)
    o = fill(z, kind, NR_PAGES - 2 * PB)
    z.free_owner_every(o, 2)  # every other page free: half of each pageblock movable
    start = 16 * PB
    held = z.owner_pages(o)
    moving = in_range(z, o, start)
    assert 0 < moving < PB
    migrated = vm(z, "pgmigrate_success")
    free0 = free_total(z)
    assert H.offline(z, start, PB, vmem) == H.OFFLINE_OK
    z.check()
    assert z.owner_pages(o) == held and in_range(z, o, start) == 0
    assert vm(z, "pgmigrate_success") == migrated + moving
    assert free_total(z) == free0 - PB  # its free pages and as many elsewhere, for the moved ones


@pytest.mark.parametrize("on", (False, True))
def test_balloon_pages_move_only_with_balloon_compaction(on):
    z = Zone(NR_PAGES, rng=new_rng(1, 0), balloon_compaction=on)
    vmem = z.register_owner("vmem", C.KIND_KERNEL)
    z.update_balloon_size(NR_PAGES - 8 * PB, NR_PAGES)  # most of memory
    z.take_stream()
    start = next(b * PB for b in range(32) if 0 < in_range(z, z.balloon_owner, b * PB))
    balloon = z.balloon_pages()
    rc = H.offline(z, start, PB, vmem)
    z.check()
    if not on:
        assert rc == H.OFFLINE_BUSY
        return
    assert rc == H.OFFLINE_OK and z.balloon_pages() == balloon and in_range(z, z.balloon_owner, start) == 0
    _, _, ops = decode_all(z.take_stream())
    moved = vm(z, "balloon_migrate")
    assert moved > 0 and (ops == C.STREAM_INFLATE).sum() == moved and (ops == C.STREAM_DEFLATE).sum() == moved
    assert (ops == C.STREAM_REPORT).sum() == 1


@pytest.mark.parametrize("era", ERAS)
def test_no_room_is_enomem_and_nothing_moves(era):
    z, vmem = make_zone(era)
    fill(z, C.KIND_ANON, free_total(z) - z.watermark(0) // 2)  # free below min, no swap
    z.drain_pcp()
    before = copy_zone(z.a)
    assert H.offline(z, 8 * PB, PB, vmem) == H.OFFLINE_NOMEM
    assert zones_equal(before, z.a)


def test_reclaim_makes_room_when_it_can():
    z, vmem = make_zone(pcp=False)
    cache = fill(z, C.KIND_FILE, NR_PAGES - z.watermark(0))  # page cache up to the min watermark
    cached = z.owner_pages(cache)
    assert H.offline(z, 8 * PB, PB, vmem) == H.OFFLINE_OK
    z.check()
    assert z.owner_pages(cache) < cached and vm(z, "pgsteal_direct") > 0 and in_range(z, cache, 8 * PB) == 0


def test_a_free_block_straddling_the_range_keeps_its_outer_half():
    z, vmem = make_zone(pcp=False)
    # 6.x boots bottom-first from order-10 blocks: pageblocks 30 and 31 are one free order-10 block
    assert z.a.pflags[30 * PB] & C.PF_BUDDY and z.a.pflags[30 * PB] & C.PF_ORDER_MASK == C.MAX_PAGE_ORDER
    assert H.offline(z, TOP, PB, vmem) == H.OFFLINE_OK
    z.check()
    assert z.a.pflags[30 * PB] & C.PF_BUDDY and z.a.pflags[30 * PB] & C.PF_ORDER_MASK == C.PAGEBLOCK_ORDER
    assert H.offline(z, 30 * PB, PB, vmem) == H.OFFLINE_OK  # and the lower half straddles nothing
    z.check()
    assert in_range(z, vmem, 30 * PB, 2 * PB) == 2 * PB


def test_the_host_discards_the_range_and_does_not_fault_it_back():
    z, vmem = make_zone()
    anon = fill(z, C.KIND_ANON, NR_PAGES - 2 * PB)
    z.free_owner_every(anon, 2)
    z.a.pb_dirty[:] = 1
    z.take_stream()
    assert H.offline(z, 8 * PB, 2 * PB, vmem) == H.OFFLINE_OK
    pfns, orders, ops = decode_all(z.take_stream())
    assert list(pfns) == [8 * PB, 9 * PB] and list(orders) == [9, 9] and list(ops) == [C.STREAM_REPORT] * 2
    assert not z.a.pb_dirty[8:10].any() and z.a.pb_dirty[:8].all()


def test_bad_ranges_are_refused():
    z, vmem = make_zone()
    for start, n in ((1, PB), (0, PB + 1), (0, 0), (TOP, 2 * PB)):
        with pytest.raises(ValueError, match="not whole pageblocks of the zone"):
            H.offline(z, start, n, vmem)
    with pytest.raises(ValueError, match="not an offline range of owner"):
        H.online(z, 0, PB, vmem)


@settings(max_examples=25, deadline=None)
@given(
    era=st.sampled_from(ERAS),
    pcp=st.booleans(),
    ops=st.lists(st.tuples(st.sampled_from("auOoF"), st.integers(0, 31), st.integers(1, 3000)), max_size=25),
)
def test_no_page_leaks_across_plug_and_unplug(era, pcp, ops):
    """From a zone of scattered anon and a few slab pages, random allocations
    (a: anon, u: unmovable slab), frees (F), offlines (O) and onlines (o) of
    pageblocks: the checker passes after each, the offline pageblocks are
    exactly the owner's, and managed pages are the zone less them."""
    z, vmem = make_zone(era, pcp)
    anon = fill(z, C.KIND_ANON, NR_PAGES - 4 * PB)
    z.free_owner(anon, 6 * PB, z.rng)  # holes everywhere, movable pages in most pageblocks
    slab = fill(z, C.KIND_SLAB, 40)  # a few unmovable pages in the holes
    offline = set()
    for op, block, n in ops:
        start = block * PB
        if op == "a":
            z.alloc_bulk(anon, 0, n, ALLOC_NO_WATERMARKS)
        elif op == "u":
            z.alloc_bulk(slab, 0, n // 50 + 1, ALLOC_NO_WATERMARKS)
        elif op == "F":
            z.free_owner(anon, n, z.rng)
        elif op == "O" and block not in offline:
            if H.offline(z, start, PB, vmem) == H.OFFLINE_OK:
                offline.add(block)
        elif op == "o" and block in offline:
            H.online(z, start, PB, vmem)
            offline.discard(block)
        z.check()
        assert z.owner_pages(vmem) == PB * len(offline) == NR_PAGES - managed(z)
        heads = np.flatnonzero((z.a.owner == vmem) & (z.a.pflags & C.PF_HEAD).astype(bool))
        assert set(heads // PB) == offline
