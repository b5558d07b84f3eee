"""The virtio balloon driver as the fleet drives it: `Zone.update_balloon_size`
(fleet/memory/zone.py) over `virtio_balloon.update_balloon_size`,
`fill_balloon` and `leak_balloon` (fleet/memory/virtio_balloon.py), with the
balloon pages and their host stream of fleet/memory/balloon.py.

Kernel functions modelled (drivers/virtio/virtio_balloon.c, 3.8 and 6.x):
- `update_balloon_size_func`: fill or leak toward the host's target, one
  batch per pass, requeued while the target is not met;
- `fill_balloon`: at most VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256 pages per batch
  (BALLOON_BATCH), each from `balloon_page_alloc` /
  `balloon_page_enqueue` with __GFP_NORETRY (and __GFP_NOMEMALLOC): the fast
  path at low, kswapd woken, a try at min, one round of direct reclaim, never
  OOM; the first page that fails ends the batch ("Out of puff!"); then
  `tell_host(vb, vb->inflate_vq)` and adjust_managed_page_count(-1) per page
  unless VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
- `leak_balloon`: at most 256 pages per batch from `balloon_page_dequeue`
  (the list head, where fill enqueued: LIFO), `tell_host(vb,
  vb->deflate_vq)` before `release_pages_balloon` frees them
  (MUST_TELL_HOST), managed pages given back;
- the balloon's gfp: GFP_HIGHUSER before the balloon-compaction seed
  (Unmovable), GFP_HIGHUSER_MOVABLE with it (mm/balloon_compaction.c, 3.8).

The model's own rule on top of the kernel's batches is the per-call `budget`
(the pages the driver may move in one fleet tick): each batch is
min(|target - balloon|, 256, budget left) pages and costs its size from the
budget, so one call moves exactly min(budget, |gap|) pages when memory allows
-- the budget is not rounded to whole batches -- and a short batch ends the
call. Every expected number below follows from that rule, the watermarks and
the zone's sizes; none was copied from a run.

Zones are 64 MiB (32 pageblocks, 16 order-10 blocks), fixed seeds.
"""

import numpy as np
import pytest

from fleet.memory import constants as C
from fleet.memory import virtio_balloon, vmscan
from fleet.memory.rng import new_rng
from fleet.memory.stream import decode_all, encode
from fleet.memory.watermark import ALLOC_NO_WATERMARKS, WMARK_LOW, WMARK_MIN
from fleet.memory.zone import Zone
from tests.memory.zones import cache_zone, vm

PB = C.PAGEBLOCK_NR_PAGES
NR_PAGES = 32 * PB  # 64 MiB
BATCH = virtio_balloon.BALLOON_BATCH
ERAS = ("3.8", "6.x")
SWITCH = (False, True)


# --------------------------------------------------------------------- helpers


def make_zone(era, on, pcp=True, seed=1, **kw):
    return Zone(NR_PAGES, era=era, balloon_compaction=on, rng=new_rng(seed, 0), pcp=pcp, **kw)


def free_total(z):
    """Free pages: NR_FREE_PAGES plus the per-cpu lists' pages."""
    return z.nr_free + z.pcp_pages


def managed(z):
    return int(z.a.zs[C.ZS_MANAGED])


def balloon_pfns(z):
    return set(np.flatnonzero(z.a.owner == z.balloon_owner).tolist())


def notifications(stream):
    """[(pfn, order, op)] of host stream entries, in order."""
    return list(zip(*(col.tolist() for col in decode_all(stream))))


def expected_sizes(start, target, budget, calls):
    """Balloon size after each call under the budget rule: each call moves
    min(budget, |target - size|) pages toward the target."""
    sizes, size = [], start
    for _ in range(calls):
        step = min(budget, abs(target - size))
        size += step if target > size else -step
        sizes.append(size)
    return sizes


# --------------------------------------------------- 1. inflate, idle zone


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
@pytest.mark.parametrize("budget", [100, 255, 256, 300, 700])
def test_inflate_moves_exactly_budget_pages_per_call_then_stops_at_target(era, on, budget):
    """Budget rule: a call fills batches of min(gap, 256, budget left) pages, so
    on an idle zone it moves exactly min(budget, gap) pages -- 300 is one batch
    of 256 and one of 44, not rounded up to 512 nor down to 256; 255 is one
    short-of-a-batch batch that is nevertheless full (255 asked, 255 got).
    Target 1000 of 16384 pages stays far above the low watermark, so every
    page comes from the fast path and no batch is short. Each page leaves the
    free pages (buddy + per-cpu) and managed pages (no DEFLATE_ON_OOM), and
    once the target is met a call does nothing at all."""
    z = make_zone(era, on)
    target = 1000
    assert free_total(z) == NR_PAGES and z.balloon_pages() == 0
    assert NR_PAGES - target > z.watermark(WMARK_LOW) + BATCH  # never near the watermarks
    calls = -(-target // budget)
    sizes = expected_sizes(0, target, budget, calls)
    assert sizes[-1] == target
    prev = 0
    for size in sizes:
        free_before = free_total(z)
        z.update_balloon_size(target, budget)
        assert z.balloon_pages() == size
        assert len(balloon_pfns(z)) == size
        assert free_total(z) == free_before - (size - prev)
        assert managed(z) == NR_PAGES - size
        assert vm(z, "balloon_inflate") == size
        assert vm(z, "balloon_inflate_fail") == 0
        z.check()
        prev = size
    z.take_stream()
    # At the target: nothing moves, nothing is allocated, nothing is told.
    v0 = z.a.vm.copy()
    free_before = free_total(z)
    for _ in range(3):
        z.update_balloon_size(target, budget)
        assert z.balloon_pages() == target
        z.check()
    assert free_total(z) == free_before
    assert (z.a.vm == v0).all()
    assert len(z.take_stream()) == 0


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
def test_zero_budget_moves_nothing(era, on):
    z = make_zone(era, on)
    z.update_balloon_size(1000, 0)
    assert z.balloon_pages() == 0 and free_total(z) == NR_PAGES
    assert len(z.take_stream()) == 0
    z.check()


@pytest.mark.parametrize("era", ERAS)
def test_deflate_on_oom_keeps_managed_pages(era):
    """VIRTIO_BALLOON_F_DEFLATE_ON_OOM: fill_balloon and release_pages_balloon
    skip adjust_managed_page_count, so managed pages stay at the zone size
    while the balloon inflates and deflates; the pages still leave and rejoin
    the free pages."""
    z = make_zone(era, True, deflate_on_oom=True)
    z.update_balloon_size(600, 600)
    assert z.balloon_pages() == 600 and managed(z) == NR_PAGES
    assert free_total(z) == NR_PAGES - 600
    z.update_balloon_size(100, 600)
    assert z.balloon_pages() == 100 and managed(z) == NR_PAGES
    assert free_total(z) == NR_PAGES - 100
    z.check()


# ------------------------------------------------------------ 2. deflate


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
@pytest.mark.parametrize("budget", [200, 500])
def test_deflate_moves_budget_pages_per_call_and_frees_them(era, on, budget):
    """leak_balloon batches under the same budget rule: from 1500 pages to a
    target of 200, each call leaks min(budget, gap) pages (500: 256 + 244;
    200: one batch), so 1500 -> 1000 -> 500 -> 200 for budget 500 and
    1500 -> 1300 -> ... -> 200 for 200. Every page leaked goes back to the
    free pages (NR_FREE_PAGES + per-cpu lists, wherever free_pages puts it)
    and to managed pages, and becomes ownerless."""
    z = make_zone(era, on)
    z.update_balloon_size(1500, 1500)
    assert z.balloon_pages() == 1500
    assert free_total(z) == NR_PAGES - 1500
    z.take_stream()
    target = 200
    sizes = expected_sizes(1500, target, budget, -(-1300 // budget))
    assert sizes[-1] == target
    prev = 1500
    for size in sizes:
        before = balloon_pfns(z)
        free_before = free_total(z)
        z.update_balloon_size(target, budget)
        after = balloon_pfns(z)
        assert z.balloon_pages() == len(after) == size
        assert after < before and len(before - after) == prev - size
        assert all(z.a.owner[p] == C.OWNER_NONE for p in before - after)
        assert free_total(z) == free_before + (prev - size)
        assert managed(z) == NR_PAGES - size
        assert vm(z, "balloon_deflate") == 1500 - size
        z.check()
        prev = size
    free_before = free_total(z)
    z.update_balloon_size(target, budget)
    assert z.balloon_pages() == target and free_total(z) == free_before
    # Every page back: deflate to 0 in one call of a large budget.
    z.update_balloon_size(0, 10_000)
    assert z.balloon_pages() == 0 and free_total(z) == NR_PAGES and managed(z) == NR_PAGES
    assert vm(z, "balloon_inflate") == vm(z, "balloon_deflate") == 1500
    z.drain_pcp()
    assert z.nr_free == NR_PAGES
    z.check()


# ------------------------------------------------------------ 3. host stream


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
def test_host_stream_adds_up_and_deflate_is_lifo(era, on):
    """tell_host per batch: every page inflated is one STREAM_INFLATE entry of
    order 0 for its pfn, every page leaked one STREAM_DEFLATE, in the order
    the driver handled them. Inflate to 1000 with budget 300 (300, 300, 300,
    100 pages per call), then deflate to 400 with budget 250 (250, 250, 100).
    Since fill enqueues at the list head and leak dequeues from it, the pages
    deflated are the last ones inflated, newest first. The host's replay
    (inflated minus deflated) is the balloon's set of pages."""
    z = make_zone(era, on)
    inflated = []
    for size in (300, 600, 900, 1000):
        before = balloon_pfns(z)
        z.update_balloon_size(1000, 300)
        entries = notifications(z.take_stream())
        new = balloon_pfns(z) - before
        assert len(entries) == len(new) == size - len(before)
        assert all(op == C.STREAM_INFLATE and order == 0 for _, order, op in entries)
        assert {pfn for pfn, _, _ in entries} == new
        inflated += [pfn for pfn, _, _ in entries]
    assert len(set(inflated)) == 1000

    deflated = []
    for size in (750, 500, 400):
        before = balloon_pfns(z)
        z.update_balloon_size(400, 250)
        entries = notifications(z.take_stream())
        gone = before - balloon_pfns(z)
        assert len(entries) == len(gone) == len(before) - size
        assert all(op == C.STREAM_DEFLATE and order == 0 for _, order, op in entries)
        assert {pfn for pfn, _, _ in entries} == gone
        deflated += [pfn for pfn, _, _ in entries]
    assert deflated == inflated[::-1][:600]
    assert set(inflated) - set(deflated) == balloon_pfns(z) == set(inflated[:400])
    # Pages per op over the zone's life (drain_stream's running totals).
    assert z.stream_totals.tolist() == [1000, 600, 0]
    z.check()


@pytest.mark.parametrize("era", ERAS)
def test_full_host_stream_suspends_the_driver_until_drained(era):
    """virtio_balloon.update_balloon_size refuses to start a batch unless the
    stream has room for a whole one (256 entries) and returns (budget left,
    False); Zone.update_balloon_size drains and calls again. With 300 entries
    of room and target = budget = 1000 from 0: one batch of 256 is filled
    (room 44 left), the kernel returns (744, False); a second call without a
    drain moves nothing; after the host takes the stream the call finishes
    the remaining 744 pages (256 + 256 + 232) and returns (0, True)."""
    z = make_zone(era, True)
    cap = C.STREAM_CAPACITY
    z.a.zs[C.ZS_STREAM_LEN] = cap - 300  # the host has not taken these yet
    budget, done = virtio_balloon.update_balloon_size(z.a, 1000, 1000, z.rng)
    assert (int(budget), bool(done)) == (1000 - BATCH, False)
    assert z.balloon_pages() == BATCH
    assert int(z.a.zs[C.ZS_STREAM_LEN]) == cap - 300 + BATCH
    entries = notifications(z.a.stream[cap - 300 : cap - 300 + BATCH])
    assert all(op == C.STREAM_INFLATE for _, _, op in entries)
    assert {pfn for pfn, _, _ in entries} == balloon_pfns(z)

    budget, done = virtio_balloon.update_balloon_size(z.a, 1000, 744, z.rng)
    assert (int(budget), bool(done)) == (744, False)
    assert z.balloon_pages() == BATCH

    z.a.zs[C.ZS_STREAM_LEN] = 0  # the host took the stream
    budget, done = virtio_balloon.update_balloon_size(z.a, 1000, 744, z.rng)
    assert (int(budget), bool(done)) == (0, True)
    assert z.balloon_pages() == 1000
    assert int(z.a.zs[C.ZS_STREAM_LEN]) == 744
    z.a.zs[C.ZS_STREAM_LEN] = 0
    z.check()


@pytest.mark.parametrize("era", ERAS)
def test_zone_entry_point_drains_a_full_stream_and_finishes(era):
    """Zone.update_balloon_size loops over the (budget, False) return: with the
    stream 300 entries short of full, one call still moves the whole budget,
    and the stream the host takes ends with exactly those 600 inflates."""
    z = make_zone(era, False)
    cap = C.STREAM_CAPACITY
    z.a.stream[: cap - 300] = encode(0, 0, C.STREAM_REPORT)  # earlier, untaken reports
    z.a.zs[C.ZS_STREAM_LEN] = cap - 300
    z.update_balloon_size(600, 600)
    assert z.balloon_pages() == 600
    out = z.take_stream()
    assert len(out) == cap - 300 + 600
    entries = notifications(out[cap - 300 :])
    assert all(op == C.STREAM_INFLATE for _, _, op in entries)
    assert {pfn for pfn, _, _ in entries} == balloon_pfns(z)
    z.check()


# ------------------------------------------------------- 4. memory pressure


def pressured_zone(era, on, kernel_blocks):
    """A zone with `kernel_blocks` order-9 kernel allocations (GFP_KERNEL,
    unreclaimable, watermarks ignored) and the rest free. No per-cpu lists,
    so that every free page is in NR_FREE_PAGES and the watermark check sees
    exactly the pages the balloon may take. Kernel blocks claim whole
    pageblocks (a fallback at order >= pageblock order), so no watermark
    boost ever raises the marks."""
    z = make_zone(era, on, pcp=False)
    k = z.register_owner("kernel", C.KIND_KERNEL)
    assert z.alloc_bulk(k, C.PAGEBLOCK_ORDER, kernel_blocks, ALLOC_NO_WATERMARKS) == kernel_blocks
    assert z.nr_free == NR_PAGES - kernel_blocks * PB
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0
    z.check()
    return z, k


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
def test_inflate_under_pressure_stops_at_first_short_batch_and_resumes(era, on):
    """28 of 32 pageblocks hold kernel pages: 2048 pages free, nothing
    reclaimable. Each balloon page needs NR_FREE_PAGES > min after the fast
    path at low fails (__zone_watermark_ok, order 0), so fill_balloon gets
    2048 - min pages (1248 with min 800) and then a page fails: four full
    batches of 256 and a fifth of 224 of 256, which ends the call short of
    the target 2000, leaving exactly min pages free. The failing page cost one
    round of direct reclaim (allocstall 1, __GFP_NORETRY: no retry, no OOM),
    one pgalloc_fail and one balloon_inflate_fail, and woke kswapd for order
    0. A second call at once fails its first page: nothing moves.
    Freeing one kernel block (512 pages) lets the next call take exactly 512
    more (1760 < 2000: short again at min); freeing another lets it reach
    the target (240 more) with 800 + 512 - 240 = 1072 pages left free."""
    z, k = pressured_zone(era, on, 28)
    wmin = z.watermark(WMARK_MIN)
    target = 2000
    room = 2048 - wmin
    assert 0 < room < target and room % BATCH != 0
    v0 = z.a.vm.copy()

    z.update_balloon_size(target, target)
    stream = notifications(z.take_stream())
    assert z.balloon_pages() == room
    assert z.nr_free == wmin
    assert managed(z) == NR_PAGES - room
    assert len(stream) == room and all(op == C.STREAM_INFLATE for _, _, op in stream)
    assert vm(z, "balloon_inflate") - int(v0[C.VM["balloon_inflate"]]) == room
    assert vm(z, "balloon_inflate_fail") == 1
    assert vm(z, "pgalloc_fail") - int(v0[C.VM["pgalloc_fail"]]) == 1
    assert vm(z, "allocstall_normal") - int(v0[C.VM["allocstall_normal"]]) == 1
    assert int(z.a.zs[C.ZS_KSWAPD_WAKE]) == 1
    assert z.owner_pages(k) == 28 * PB
    z.check()

    # Out of puff again at once: the first page fails, nothing moves.
    z.update_balloon_size(target, target)
    assert z.balloon_pages() == room and z.nr_free == wmin
    assert vm(z, "balloon_inflate_fail") == 2
    assert len(z.take_stream()) == 0
    z.check()

    # Memory freed: the next call continues from where it stopped.
    z.free(int(z.a.own_head[k]))
    assert z.nr_free == wmin + PB
    z.update_balloon_size(target, target)
    assert z.balloon_pages() == room + PB
    assert z.nr_free == wmin
    assert vm(z, "balloon_inflate_fail") == 3
    assert len(z.take_stream()) == PB
    z.check()

    z.free(int(z.a.own_head[k]))
    z.update_balloon_size(target, target)
    assert z.balloon_pages() == target
    assert z.nr_free == wmin + PB - (target - room - PB)
    assert vm(z, "balloon_inflate_fail") == 3  # the last batch was full
    assert len(z.take_stream()) == target - room - PB
    assert managed(z) == NR_PAGES - target
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0
    z.check()


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
def test_budget_still_caps_inflation_under_pressure(era, on):
    """With 1248 pages to spare and a budget of 500, a call moves the budget
    (256 + 244), not what memory allows; the third call meets the
    watermark after 248 of its 500 and stops there."""
    z, _ = pressured_zone(era, on, 28)
    room = 2048 - z.watermark(WMARK_MIN)
    assert 1000 < room < 1500
    for size in (500, 1000, room, room):
        z.update_balloon_size(2000, 500)
        assert z.balloon_pages() == size
        z.check()
    assert vm(z, "balloon_inflate_fail") == 2


# ------------------------------------ 5. what the switch and the era change


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", SWITCH)
def test_balloon_migratetype_follows_the_switch(era, on):
    """GFP_HIGHUSER_MOVABLE with balloon compaction, GFP_HIGHUSER without:
    with the switch on the balloon owner is Movable, its pages come from the
    Movable lists of the boot's all-Movable pageblocks and no pageblock
    changes type. With it off the pages are Unmovable: the first one falls
    back to the largest free block, an order-10 block of two pageblocks,
    which it claims whole (6.5 steal_suitable_fallback at order >=
    pageblock_order, 3.8 __rmqueue_fallback's change_pageblock_range); 1500
    pages (+ at most 2 spare on the per-cpu list, batch 3) need a second such
    block: 4 Unmovable pageblocks, 2 fallbacks, both claimed. Deflating
    everything does not give the pageblocks back their old type."""
    z = make_zone(era, on)
    mt = C.MIGRATE_MOVABLE if on else C.MIGRATE_UNMOVABLE
    assert int(z.a.own_mt[z.balloon_owner]) == mt
    z.update_balloon_size(1500, 1500)
    pfns = balloon_pfns(z)
    assert len(pfns) == 1500
    assert {int(z.a.pb_mt[p >> C.PAGEBLOCK_ORDER]) for p in pfns} == {mt}
    assert all(int(z.a.pflags[p]) == C.PF_HEAD for p in pfns)  # order 0, not isolated or locked
    counts = [0, 32, 0] if on else [4, 28, 0]
    fallbacks = 0 if on else 2
    assert z.pageblock_counts().tolist() == counts
    assert vm(z, "extfrag_fallback") == vm(z, "extfrag_fallback_claimed") == fallbacks
    z.check()

    z.update_balloon_size(0, 1500)
    z.drain_pcp()
    assert z.balloon_pages() == 0 and z.nr_free == NR_PAGES
    assert z.pageblock_counts().tolist() == counts
    z.check()


# ------------------------------------------------ fill_balloon under pressure


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_fill_balloon_reclaims_through_each_pages_slow_path(era):
    """fill_balloon allocates every page with __GFP_NORETRY: in a zone full
    of page cache with 100 pages above min, the batch completes: each page
    below low wakes kswapd, and each page that min refuses reclaims one
    round (SWAP_CLUSTER_MAX pages, an allocstall) and takes its page."""
    mark = Zone(32 * PB, era=era).watermark(WMARK_MIN)
    z = cache_zone(era, mark + 100)
    assert z.inflate(256) == 256
    stalls = vm(z, "allocstall_normal")
    assert (256 - 100) // vmscan.SWAP_CLUSTER_MAX <= stalls <= (256 - 100) // vmscan.SWAP_CLUSTER_MAX + 1
    assert int(z.a.zs[C.ZS_KSWAPD_WAKE]) > 0 and vm(z, "balloon_inflate_fail") == 0
    z.check()


@pytest.mark.parametrize("era", ["3.8", "6.x"])
def test_fill_balloon_gives_up_at_the_first_page_reclaim_cannot_serve(era):
    """Nothing reclaimable (anon, no swap): one reclaim round without
    progress, no retry, and the batch ends ("Out of puff!")."""
    z = Zone(32 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    assert z.inflate(256) == 0
    assert vm(z, "balloon_inflate_fail") == 1 and vm(z, "allocstall_normal") == 1
