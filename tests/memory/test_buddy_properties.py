"""Property tests of the buddy allocator (fleet.memory.page_alloc via Zone).

The tests drive a Zone with long random sequences of allocations and frees and
check the result against a model kept by the test itself (`Driver`): which
allocations are live, which owner holds them, in which order. `verify()`
re-derives every invariant from the raw arrays without using the model's own
checker, then also runs `z.check()`, so a bug in the checker cannot hide a bug
in the allocator.

Kernel references: mm/page_alloc.c (`__rmqueue_smallest`, `__free_one_page`,
`__zone_watermark_ok`, `calculate_min_free_kbytes`, `__setup_per_zone_wmarks`)
in the 3.8 and 6.5 texts, as summarised in shared/design/kernel-facts.md 1-2.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.state import copy_zone, zones_equal
from fleet.memory.watermark import (
    ALLOC_NO_WATERMARKS,
    WMARK_HIGH,
    WMARK_LOW,
    WMARK_MIN,
    min_free_kbytes,
    zone_watermarks,
)
from fleet.memory.zone import Zone
from tests.examples import examples

ERAS = ("6.x", "3.8")
WMARKS = (WMARK_MIN, WMARK_LOW, WMARK_HIGH, ALLOC_NO_WATERMARKS)
HOWS = ("random", "oldest", "newest")
# Owners the driver registers: every kind except the balloon, two anon and two
# file owners so that several owners share a migratetype.
OWNER_KINDS = (
    C.KIND_ANON,
    C.KIND_ANON,
    C.KIND_FILE,
    C.KIND_FILE,
    C.KIND_SLAB,
    C.KIND_SLAB_RECLAIMABLE,
    C.KIND_KERNEL,
    C.KIND_PAGETABLE,
    C.KIND_THP,
)
NR_OWNERS = len(OWNER_KINDS)

COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------- oracle


def watermark_ok_ref(a, order, wmark):
    """`__zone_watermark_ok` as written in the kernel texts (kernel-facts 1.6),
    evaluated on the zone's current arrays: free - (2^order - 1) > mark, then
    3.8's "fewer higher-order pages" loop or 6.x's "a block >= order exists".
    6.x's wmark_pages() includes watermark_boost."""
    if wmark == ALLOC_NO_WATERMARKS:
        return True
    era = int(a.zs[C.ZS_ERA])
    mark = int(a.zs[C.ZS_WMARK_MIN + wmark])
    if era == C.ERA_6_X:
        mark += int(a.zs[C.ZS_WATERMARK_BOOST])
    by_order = a.nr_free.sum(axis=1)
    free = int(a.zs[C.ZS_NR_FREE]) - ((1 << order) - 1)
    if free <= mark:
        return False
    if order == 0:
        return True
    if era == C.ERA_3_8:
        m = mark
        for o in range(order):
            free -= int(by_order[o]) << o
            m >>= 1
            if free <= m:
                return False
        return True
    return int(by_order[order:].sum()) > 0


def pcp_list_of(a, order, mt):
    """The per-cpu list an allocation of `order` and `mt` takes from, or None
    when the order bypasses the lists (6.1: orders 0-3 per migratetype and
    two pageblock-order lists; 3.8: order 0 per migratetype)."""
    if int(a.zs[C.ZS_PCP_HIGH]) == 0:
        return None
    if int(a.zs[C.ZS_ERA]) == C.ERA_3_8:
        return mt if order == 0 else None
    if order <= C.PAGE_ALLOC_COSTLY_ORDER:
        return C.NR_MIGRATETYPES * order + mt
    if order == C.PAGEBLOCK_ORDER:
        return C.NR_LOWORDER_PCP_LISTS + (mt == C.MIGRATE_MOVABLE)
    return None


def alloc_should_succeed(a, order, wmark, mt):
    """An allocation succeeds iff the watermark allows it and its per-cpu
    list holds a block or some free block of at least `order` exists on any
    buddy list (the fallback tables of both eras reach every modelled
    migratetype; an empty per-cpu list refills from them)."""
    if not watermark_ok_ref(a, order, wmark):
        return False
    pindex = pcp_list_of(a, order, mt)
    return (pindex is not None and int(a.pcp_head[pindex]) >= 0) or int(a.nr_free[order:].sum()) > 0


def free_pages_anywhere(a):
    """Free pages on the buddy lists (NR_FREE_PAGES) plus the per-cpu lists."""
    return int(a.zs[C.ZS_NR_FREE]) + int(a.zs[C.ZS_PCP_COUNT])


def boot_blocks(nr_pages):
    """The free blocks right after boot: the largest naturally aligned blocks
    (order 10, then one order-9 block when nr_pages is an odd number of
    pageblocks), as memblock_free_all() leaves them."""
    blocks = {}
    pfn = 0
    while pfn < nr_pages:
        order = C.MAX_PAGE_ORDER
        while pfn + (1 << order) > nr_pages:
            order -= 1
        blocks[pfn] = order
        pfn += 1 << order
    return blocks


def walk_free_lists(a):
    """Walk every free list through fl_head/lru_next; check the links, the
    per-list counts and each head's flags. Returns {head pfn: (order, mt)}."""
    n = a.pflags.shape[0]
    nxt = a.lru_next.tolist()
    prv = a.lru_prev.tolist()
    pflags = a.pflags.tolist()
    heads = {}
    for order in range(C.NR_PAGE_ORDERS):
        size = 1 << order
        for mt in range(C.NR_MIGRATETYPES):
            count, prev, pfn = 0, -1, int(a.fl_head[order, mt])
            while pfn >= 0:
                assert pfn < n and count <= n, f"free list ({order},{mt}) runs off the zone at {pfn}"
                assert prv[pfn] == prev, f"free list ({order},{mt}): lru_prev[{pfn}]={prv[pfn]}, expected {prev}"
                assert pfn % size == 0 and pfn + size <= n, f"free block {pfn} of order {order} misaligned"
                want = C.PF_BUDDY | order | (mt << C.PF_LIST_MT_SHIFT)
                assert pflags[pfn] == want, f"free head {pfn}: pflags {pflags[pfn]:#x}, expected {want:#x}"
                assert pfn not in heads, f"free block {pfn} listed twice"
                heads[pfn] = (order, mt)
                count += 1
                prev, pfn = pfn, nxt[pfn]
            assert int(a.fl_tail[order, mt]) == prev, f"fl_tail[{order},{mt}] is not the last list element"
            assert count == int(a.nr_free[order, mt]), (
                f"free list ({order},{mt}) holds {count} blocks, nr_free says {int(a.nr_free[order, mt])}"
            )
    return heads


def walk_pcp_lists(a):
    """Walk every per-cpu list; check the links, the heads' flags and the
    list each block is on, and that the pages add up to pcp_count.
    Returns {head pfn: (order, mt)}."""
    nxt = a.lru_next.tolist()
    prv = a.lru_prev.tolist()
    heads = {}
    pages = 0
    for pindex in range(C.NR_PCP_LISTS):
        prev, pfn = -1, int(a.pcp_head[pindex])
        while pfn >= 0:
            assert prv[pfn] == prev, f"pcp list {pindex}: lru_prev[{pfn}]={prv[pfn]}, expected {prev}"
            flags = int(a.pflags[pfn])
            assert flags & C.PF_PCP and not flags & C.PF_BUDDY, f"pcp head {pfn}: pflags {flags:#x}"
            order = flags & C.PF_ORDER_MASK
            mt = (flags & C.PF_LIST_MT_MASK) >> C.PF_LIST_MT_SHIFT
            assert pcp_list_of(a, order, mt) == pindex, f"order-{order} type-{mt} block {pfn} on pcp list {pindex}"
            assert pfn % (1 << order) == 0 and pfn not in heads
            heads[pfn] = (order, mt)
            pages += 1 << order
            prev, pfn = pfn, nxt[pfn]
        assert int(a.pcp_tail[pindex]) == prev, f"pcp_tail[{pindex}] is not the last list element"
    assert pages == int(a.zs[C.ZS_PCP_COUNT]), (
        f"pcp lists hold {pages} pages, pcp_count says {int(a.zs[C.ZS_PCP_COUNT])}"
    )
    return heads


def _block_pages(heads, order):
    heads = np.asarray(heads, dtype=np.int64)
    return (heads[:, None] + np.arange(1 << order, dtype=np.int64)).ravel()


# --------------------------------------------------------------------- driver


class Driver:
    """A Zone plus the test's own record of every live allocation."""

    def __init__(self, nr_pages, era, seed=0, pcp=True):
        self.z = Zone(nr_pages, era, pcp=pcp)
        self.n = nr_pages
        self.rng = new_rng(seed, 7)
        self.owners = [self.z.register_owner(f"o{i}", k) for i, k in enumerate(OWNER_KINDS)]
        self.kind = dict(zip(self.owners, OWNER_KINDS))
        self.live = {}  # head pfn -> (owner, order)
        self.heads = []  # the live heads, for picking by index (swap-remove)
        self.pos = {}  # head pfn -> index in self.heads
        self.by_owner = {o: {} for o in self.owners}  # head -> order, oldest first
        self.pages = {o: 0 for o in self.owners}
        self.fails = 0  # refused single allocations
        self.bulk_fails = 0  # bulk allocations that stopped short
        self.results = []  # what every operation returned (for determinism)

    def order_for(self, o, order):
        return C.HPAGE_PMD_ORDER if self.kind[o] == C.KIND_THP else order

    def _record(self, o, pfn, order):
        self.live[pfn] = (o, order)
        self.pos[pfn] = len(self.heads)
        self.heads.append(pfn)
        self.by_owner[o][pfn] = order
        self.pages[o] += 1 << order

    def _forget(self, pfn):
        o, order = self.live.pop(pfn)
        i = self.pos.pop(pfn)
        last = self.heads.pop()
        if last != pfn:
            self.heads[i] = last
            self.pos[last] = i
        del self.by_owner[o][pfn]
        self.pages[o] -= 1 << order
        return o, order

    def _cheap_checks(self, o):
        a = self.z.a
        assert int(a.own_pages[o]) == self.pages[o], (
            f"own_pages[{o}]={int(a.own_pages[o])}, test counts {self.pages[o]}"
        )
        assert int(a.own_allocs[o]) == len(self.by_owner[o])
        counts = np.bincount(a.pb_mt, minlength=C.NR_MIGRATETYPES)
        assert counts.size == C.NR_MIGRATETYPES and counts.sum() == self.n // C.PAGEBLOCK_NR_PAGES

    # ---- operations

    def alloc(self, oi, order, wmark):
        """One allocation; checks the outcome against the watermark oracle and
        the returned block's alignment and ownership."""
        z, a = self.z, self.z.a
        o = self.owners[oi % NR_OWNERS]
        order = self.order_for(o, order)
        expect = alloc_should_succeed(a, order, wmark, int(a.own_mt[o]))
        free_before = free_pages_anywhere(a)
        pfn = z.alloc(o, order, wmark)
        self.results.append(pfn)
        assert (pfn >= 0) == expect, (
            f"alloc(order={order}, wmark={wmark}) returned {pfn}, oracle says {'success' if expect else 'refusal'}"
        )
        size = 1 << order
        if pfn < 0:
            self.fails += 1
            assert free_pages_anywhere(a) == free_before
            return pfn
        assert pfn % size == 0 and pfn + size <= self.n, f"order-{order} block at {pfn} misaligned"
        assert pfn not in self.live
        assert np.all(a.owner[pfn : pfn + size] == o), "allocated pages do not all carry the owner"
        assert free_pages_anywhere(a) == free_before - size
        self._record(o, pfn, order)
        self._cheap_checks(o)
        return pfn

    def free_index(self, idx):
        """Free the idx-th live allocation (modulo the number live)."""
        if not self.live:
            return 0
        pfn = self.heads[idx % len(self.heads)]
        o, order = self._forget(pfn)
        freed = self.z.free(pfn)
        self.results.append(freed)
        assert freed == 1 << order
        assert not self.z.a.owner[pfn : pfn + freed].any(), "freed pages keep an owner"
        self._cheap_checks(o)
        return freed

    def free_owner(self, oi, nr, how):
        """z.free_owner; the test finds which allocations went by their head's
        owner byte and checks the pick rule for oldest/newest."""
        o = self.owners[oi % NR_OWNERS]
        mine = list(self.by_owner[o].items())
        total = self.pages[o]
        freed = self.z.free_owner(o, nr, self.rng, how)
        self.results.append(freed)
        owner = self.z.a.owner
        gone = [(pfn, order) for pfn, order in mine if owner[pfn] == C.OWNER_NONE]
        for pfn, _ in gone:
            self._forget(pfn)
        assert freed == sum(1 << order for _, order in gone)
        if total <= nr:
            assert freed == total and not self.by_owner[o]
        else:
            assert nr <= freed < nr + (1 << C.MAX_PAGE_ORDER)
        if how in ("oldest", "newest"):
            seq = mine if how == "oldest" else mine[::-1]
            want, acc = [], 0
            for pfn, order in seq:
                if acc >= nr:
                    break
                want.append(pfn)
                acc += 1 << order
            assert sorted(want) == sorted(p for p, _ in gone), (
                f"free_owner(how={how}) did not free the {how} allocations"
            )
        self._cheap_checks(o)
        return freed

    def alloc_bulk(self, oi, order, count, wmark):
        """z.alloc_bulk; the new allocations are found as the pages whose owner
        byte went from 0 to the owner, which must split into `returned`
        aligned blocks of the order."""
        z, a = self.z, self.z.a
        o = self.owners[oi % NR_OWNERS]
        order = self.order_for(o, order)
        before = a.owner.copy()
        got = z.alloc_bulk(o, order, count, wmark)
        self.results.append(got)
        changed = np.flatnonzero(before != a.owner)
        assert np.all(before[changed] == C.OWNER_NONE) and np.all(a.owner[changed] == o), (
            "bulk allocation changed the owner of pages that were not free"
        )
        size = 1 << order
        assert changed.size == got * size
        blocks = changed.reshape(got, size)
        assert np.all(blocks[:, 0] % size == 0), "bulk block misaligned"
        assert np.all(blocks - blocks[:, :1] == np.arange(size)), "bulk block not contiguous"
        # Order within the batch follows the owner list (its set was checked above).
        new = set(blocks[:, 0].tolist())
        listed = []
        pfn = int(a.own_tail[o])
        while len(listed) < got:
            listed.append(pfn)
            pfn = int(a.lru_prev[pfn])
        assert set(listed) == new
        for head in reversed(listed):
            self._record(o, head, order)
        if got < count:
            self.bulk_fails += 1
            assert not alloc_should_succeed(a, order, wmark, int(a.own_mt[o])), (
                "bulk allocation stopped although the next would succeed"
            )
        self._cheap_checks(o)
        return got

    def free_all(self, order_seed):
        """Free every live allocation, in a random order."""
        heads = list(self.live)
        np.random.default_rng(order_seed).shuffle(heads)
        for pfn in heads:
            self._forget(pfn)
            self.z.free(pfn)

    # ---- the independent invariant check

    def verify(self):
        """Every invariant, from the raw arrays, then z.check()."""
        a, n = self.z.a, self.n
        heads = walk_free_lists(a)
        pcp = walk_pcp_lists(a)
        # Each page is in exactly one free block (buddy or per-cpu list) or
        # exactly one live allocation.
        diff = np.zeros(n + 1, dtype=np.int64)
        exp_flags = np.zeros(n, dtype=np.uint16)
        exp_owner = np.zeros(n, dtype=np.uint8)
        for pfn, (order, mt) in heads.items():
            diff[pfn] += 1
            diff[pfn + (1 << order)] -= 1
            exp_flags[pfn] = C.PF_BUDDY | order | (mt << C.PF_LIST_MT_SHIFT)
        for pfn, (order, mt) in pcp.items():
            diff[pfn] += 1
            diff[pfn + (1 << order)] -= 1
            exp_flags[pfn] = C.PF_PCP | order | (mt << C.PF_LIST_MT_SHIFT)
        by_order = {}
        for pfn, (o, order) in self.live.items():
            diff[pfn] += 1
            diff[pfn + (1 << order)] -= 1
            by_order.setdefault(order, ([], []))[0].append(pfn)
            by_order[order][1].append(o)
        for order, (hs, os_) in by_order.items():
            pages = _block_pages(hs, order)
            exp_flags[pages] = order
            exp_owner[pages] = np.repeat(np.asarray(os_, dtype=np.uint8), 1 << order)
            exp_flags[np.asarray(hs)] |= C.PF_HEAD
        cover = np.cumsum(diff[:-1])
        bad = np.flatnonzero(cover != 1)
        assert bad.size == 0, f"page {bad[0]} is covered {cover[bad[0]]} times (0 = lost, 2 = double)"
        assert np.array_equal(a.owner, exp_owner), f"owner byte wrong at pfn {np.flatnonzero(a.owner != exp_owner)[0]}"
        assert np.array_equal(a.pflags, exp_flags), f"pflags wrong at pfn {np.flatnonzero(a.pflags != exp_flags)[0]}"
        # No two free buddies below MAX_PAGE_ORDER left unmerged.
        for pfn, (order, _) in heads.items():
            if order < C.MAX_PAGE_ORDER:
                buddy = heads.get(pfn ^ (1 << order))
                assert buddy is None or buddy[0] != order, (
                    f"free buddies {pfn} and {pfn ^ (1 << order)} of order {order}"
                )
        # Page accounting.
        free = int((a.nr_free.sum(axis=1) << np.arange(C.NR_PAGE_ORDERS)).sum())
        owned = sum(1 << order for _, order in self.live.values())
        assert free == int(a.zs[C.ZS_NR_FREE])
        assert free + int(a.zs[C.ZS_PCP_COUNT]) + owned == n
        assert int(a.vm[C.VM_PGALLOC] - a.vm[C.VM_PGFREE]) == owned
        # pgalloc_fail counts each short bulk; whether a refused single
        # alloc() counts too is the layer above's choice (it has changed).
        assert self.bulk_fails <= int(a.vm[C.VM_ALLOC_FAIL]) <= self.bulk_fails + self.fails
        # Owner counts and LRU order (oldest first); owners the test did not
        # register (the zone's balloon) hold nothing.
        assert int(a.own_pages.sum()) == owned and int(a.own_allocs.sum()) == len(self.live)
        nxt = a.lru_next.tolist()
        for o in self.owners:
            assert int(a.own_pages[o]) == self.pages[o]
            assert int(a.own_allocs[o]) == len(self.by_owner[o])
            walk, pfn = [], int(a.own_head[o])
            while pfn >= 0 and len(walk) <= n:
                walk.append(pfn)
                pfn = nxt[pfn]
            assert walk == list(self.by_owner[o]), f"owner {o}'s list is not its allocations oldest first"
        counts = np.bincount(a.pb_mt, minlength=C.NR_MIGRATETYPES)
        assert counts.size == C.NR_MIGRATETYPES and counts.sum() == n // C.PAGEBLOCK_NR_PAGES
        self.z.check()
        return heads


ORDER_P = np.array([0.55, 0.1, 0.08, 0.07] + [0.03] * 5 + [0.025, 0.025])  # orders 0..10
assert abs(ORDER_P.sum() - 1) < 1e-9


def random_ops(d, gen, steps, check_every):
    """Run `steps` random operations drawn from numpy generator `gen`, in
    phases of 20-400 steps that mostly fill, mostly churn or mostly drain the
    zone, so that memory runs full and fallbacks and refusals happen."""
    step = 0
    while step < steps:
        phase = min(steps - step, int(gen.integers(20, 400)))
        p_alloc = (0.9, 0.6, 0.25)[int(gen.integers(3))]
        for _ in range(phase):
            r = gen.random()
            oi = int(gen.integers(NR_OWNERS))
            if r < p_alloc:
                order = int(gen.choice(C.NR_PAGE_ORDERS, p=ORDER_P))
                wmark = WMARKS[int(gen.choice(4, p=(0.3, 0.25, 0.15, 0.3)))]
                d.alloc(oi, order, wmark)
            elif r < p_alloc + 0.9 * (1 - p_alloc):
                d.free_index(int(gen.integers(1 << 30)))
            else:
                d.free_owner(oi, int(gen.integers(1, d.n // 16 + 1)), HOWS[int(gen.integers(3))])
            step += 1
            if check_every and step % check_every == 0:
                d.verify()


# ------------------------------------------------------- 1. long sequences

orders_st = st.one_of(st.integers(0, 3), st.integers(0, C.MAX_PAGE_ORDER))
alloc_op = st.tuples(st.just("alloc"), st.integers(0, NR_OWNERS - 1), orders_st, st.sampled_from(WMARKS))
free_op = st.tuples(st.just("free"), st.integers(0, 1 << 20))
free_owner_op = st.tuples(
    st.just("free_owner"), st.integers(0, NR_OWNERS - 1), st.integers(1, 256), st.sampled_from(HOWS)
)
ops_st = st.lists(st.one_of(alloc_op, alloc_op, alloc_op, free_op, free_op, free_owner_op), min_size=20, max_size=600)


def apply_op(d, op):
    if op[0] == "alloc":
        d.alloc(op[1], op[2], op[3])
    elif op[0] == "free":
        d.free_index(op[1])
    else:
        d.free_owner(op[1], op[2], op[3])


@settings(max_examples=examples(100), **COMMON)
@given(era=st.sampled_from(ERAS), nr_blocks=st.integers(2, 16), ops=ops_st)
def test_op_list_keeps_invariants(era, nr_blocks, ops):
    """Invariants 1 and 4 on hypothesis-drawn (shrinkable) operation lists on
    small zones (2-16 pageblocks, odd counts included), 20-600 steps: every
    25 steps and at the end, every page is in exactly one free block or one
    live allocation, list lengths equal nr_free, no unmerged buddies, the
    page and owner counts add up, and each allocation's outcome matches the
    watermark oracle."""
    d = Driver(nr_blocks * C.PAGEBLOCK_NR_PAGES, era, seed=nr_blocks)
    for i, op in enumerate(ops):
        apply_op(d, op)
        if i % 25 == 24:
            d.verify()
    d.verify()


@settings(max_examples=examples(50), **COMMON)
@given(
    era=st.sampled_from(ERAS),
    nr_blocks=st.integers(2, 64),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(300, 5000),
)
def test_long_random_sequence_keeps_invariants(era, nr_blocks, seed, steps):
    """Invariants 1 and 4 over long seeded sequences (300-5000 steps) of
    mixed-order, mixed-kind allocations and frees on 2-64 pageblocks: the
    independent check and z.check() pass every 250 steps and at the end."""
    d = Driver(nr_blocks * C.PAGEBLOCK_NR_PAGES, era, seed)
    random_ops(d, np.random.default_rng(seed), steps, check_every=250)
    d.verify()


bulk_op = st.one_of(
    st.tuples(
        st.just("bulk"),
        st.integers(0, NR_OWNERS - 1),
        orders_st,
        st.integers(1, 65536),  # pages; the block count is pages >> order
        st.sampled_from(WMARKS),
    ),
    st.tuples(st.just("free_owner"), st.integers(0, NR_OWNERS - 1), st.integers(1, 16384), st.sampled_from(HOWS)),
    st.tuples(st.just("alloc"), st.integers(0, NR_OWNERS - 1), orders_st, st.sampled_from(WMARKS)),
    st.tuples(st.just("free"), st.integers(0, 1 << 20)),
)


@settings(max_examples=examples(20), **COMMON)
@given(era=st.sampled_from(ERAS), ops=st.lists(bulk_op, min_size=5, max_size=40), seed=st.integers(0, 2**32 - 1))
def test_large_zone_bulk_operations(era, ops, seed):
    """Invariants 1 and 4 on a 256 MiB zone (65536 pages) with bulk
    allocations (alloc_bulk, checked page by page through the owner bytes)
    and bulk frees (free_owner random/oldest/newest). A seeded preamble first
    fills the zone to its low watermark with every owner at mixed orders and
    frees a random third, so the drawn operations meet a full, mixed zone;
    verified after the preamble, every 8 ops and at the end."""
    n = 65536
    d = Driver(n, era, seed)
    gen = np.random.default_rng(seed)
    for oi in gen.permutation(NR_OWNERS).tolist():
        order = int(gen.choice(C.NR_PAGE_ORDERS, p=ORDER_P))
        d.alloc_bulk(oi, order, max(1, (n // NR_OWNERS) >> order), WMARK_LOW)
    for _ in range(len(d.live) // 3):
        d.free_index(int(gen.integers(1 << 30)))
    d.verify()
    for i, op in enumerate(ops):
        if op[0] == "bulk":
            _, oi, order, pages, wmark = op
            d.alloc_bulk(oi, order, max(1, pages >> order), wmark)
        else:
            apply_op(d, op)
        if i % 8 == 7:
            d.verify()
    d.verify()


# ------------------------------------------------------------ 2. free all


@settings(max_examples=examples(30), **COMMON)
@given(
    era=st.sampled_from(ERAS),
    nr_blocks=st.integers(2, 40),
    seed=st.integers(0, 2**32 - 1),
    steps=st.integers(50, 1500),
)
def test_freeing_everything_merges_back_to_boot_blocks(era, nr_blocks, seed, steps):
    """Invariant 2: after any sequence, freeing every allocation and draining
    the per-cpu lists merges all buddies fully, so the free blocks are
    exactly the largest aligned blocks of boot (order 10, plus an order-9
    block for an odd pageblock count)."""
    n = nr_blocks * C.PAGEBLOCK_NR_PAGES
    d = Driver(n, era, seed)
    random_ops(d, np.random.default_rng(seed), steps, check_every=0)
    d.free_all(seed)
    d.verify()
    d.z.drain_pcp()
    assert d.z.pcp_pages == 0
    heads = d.verify()
    assert {pfn: order for pfn, (order, _) in heads.items()} == boot_blocks(n)
    assert int(d.z.a.zs[C.ZS_NR_FREE]) == n
    assert not d.z.a.own_pages.any() and not d.z.a.owner.any()
    fresh = walk_free_lists(Zone(n, era).a)
    assert {p: o for p, (o, _) in fresh.items()} == boot_blocks(n)


@pytest.mark.parametrize("era", ERAS)
def test_free_owner_everything_merges_back(era):
    """Invariant 2 through free_owner: fill a 10-pageblock zone with every
    kind, then empty each owner with free_owner; only boot blocks remain."""
    n = 10 * C.PAGEBLOCK_NR_PAGES
    d = Driver(n, era, seed=3)
    gen = np.random.default_rng(3)
    for _ in range(400):
        d.alloc(int(gen.integers(NR_OWNERS)), int(gen.integers(0, 4)), ALLOC_NO_WATERMARKS)
    for oi, how in zip(range(NR_OWNERS), HOWS * 3):
        d.free_owner(oi, n, how)
    d.z.drain_pcp()
    heads = d.verify()
    assert {pfn: order for pfn, (order, _) in heads.items()} == boot_blocks(n)


# ---------------------------------------------------------- 3. determinism


def _run(era, nr_blocks, seed, steps):
    d = Driver(nr_blocks * C.PAGEBLOCK_NR_PAGES, era, seed)
    random_ops(d, np.random.default_rng(seed), steps, check_every=0)
    return d


@settings(max_examples=examples(20), **COMMON)
@given(
    era=st.sampled_from(ERAS), nr_blocks=st.integers(2, 32), seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 800)
)
def test_same_seed_same_zone(era, nr_blocks, seed, steps):
    """Invariant 3: the same seed and operation sequence give identical zones
    (every array, zones_equal) and identical return values, in both eras."""
    d1 = _run(era, nr_blocks, seed, steps)
    d2 = _run(era, nr_blocks, seed, steps)
    assert d1.results == d2.results
    assert zones_equal(d1.z.a, d2.z.a)


def test_eras_differ_in_boot_order():
    """Invariant 3 (era side): the eras may differ. After boot 6.x frees to the
    list tail (FPI_TO_TAIL) and allocates from the bottom of memory, 3.8 from
    the top, so the same first allocation yields different zones."""
    n = 8 * C.PAGEBLOCK_NR_PAGES
    zs = {}
    for era in ERAS:
        z = Zone(n, era)
        o = z.register_owner("a", C.KIND_ANON)
        zs[era] = (z, z.alloc(o, 0, WMARK_MIN))
    assert zs["6.x"][1] == 0
    assert zs["3.8"][1] == n - (1 << C.MAX_PAGE_ORDER)
    assert not zones_equal(zs["6.x"][0].a, zs["3.8"][0].a)


# --------------------------------------------------- 4. alignment, pb counts


@settings(max_examples=examples(40), **COMMON)
@given(
    era=st.sampled_from(ERAS),
    nr_blocks=st.integers(2, 12),
    prefix=st.lists(st.tuples(st.integers(0, NR_OWNERS - 1), st.integers(0, C.MAX_PAGE_ORDER)), max_size=60),
    oi=st.integers(0, NR_OWNERS - 1),
    order=st.integers(0, C.MAX_PAGE_ORDER),
)
def test_alloc_returns_aligned_owned_block(era, nr_blocks, prefix, oi, order):
    """Invariant 4: an order-k allocation (THP: order 9) returns a pfn aligned
    to 2^k whose 2^k pages all carry the owner, with the head flagged and
    the order stamped on every page; bincount(pb_mt) sums to the number of
    pageblocks throughout."""
    d = Driver(nr_blocks * C.PAGEBLOCK_NR_PAGES, era)
    for p_oi, p_order in prefix:
        d.alloc(p_oi, p_order, ALLOC_NO_WATERMARKS)
    pfn = d.alloc(oi, order, ALLOC_NO_WATERMARKS)
    if pfn >= 0:
        o = d.owners[oi]
        k = d.order_for(o, order)
        a = d.z.a
        assert pfn % (1 << k) == 0
        assert np.all(a.owner[pfn : pfn + (1 << k)] == o)
        assert np.all(a.pflags[pfn : pfn + (1 << k)] & C.PF_ORDER_MASK == k)
        assert a.pflags[pfn] & C.PF_HEAD and not np.any(a.pflags[pfn + 1 : pfn + (1 << k)] & C.PF_HEAD)
    assert np.bincount(d.z.a.pb_mt, minlength=C.NR_MIGRATETYPES).sum() == nr_blocks


# ----------------------------------------------------------- 5. watermarks

# Hand computation (kernel-facts 1.6; calculate_min_free_kbytes and
# __setup_per_zone_wmarks, single zone):
#   kb = pages * 4; mfk = clamp(isqrt(kb * 16), 128, 65536 (3.8) | 262144 (6.x));
#   min = mfk >> 2 (pages);
#   6.x: tmp = max(min >> 2, pages * 10 // 10000); low = min + tmp, high = low + tmp, promo = high + tmp
#   3.8: low = min + (min >> 2), high = min + (min >> 1) (promo reported as high)
#  128 MiB =    32768 p: isqrt(2_097_152) = 1448 (1448^2 = 2_096_704)   -> min 362
#                        6.x tmp = max(90, 32) = 90;         3.8: 362 + 90, 362 + 181
#    1 GiB =   262144 p: isqrt(16_777_216) = 4096                       -> min 1024
#                        6.x tmp = max(256, 262) = 262;      3.8: 1024 + 256, 1024 + 512
#    4 GiB =  1048576 p: isqrt(67_108_864) = 8192                       -> min 2048
#                        6.x tmp = max(512, 1048) = 1048;    3.8: 2048 + 512, 2048 + 1024
#   64 GiB = 16777216 p: isqrt(1_073_741_824 = 2^30) = 32768, below both clamps -> min 8192
#                        6.x tmp = max(2048, 16777) = 16777; 3.8: 8192 + 2048, 8192 + 4096
#  (The 3.8 clamp of 65536 KB is first reached at 256 GiB: isqrt(2^32) = 65536.)
WATERMARK_TABLE = [
    # (pages, era, min_free_kbytes, (min, low, high, promo))
    (32768, C.ERA_6_X, 1448, (362, 452, 542, 632)),
    (32768, C.ERA_3_8, 1448, (362, 452, 543, 543)),
    (262144, C.ERA_6_X, 4096, (1024, 1286, 1548, 1810)),
    (262144, C.ERA_3_8, 4096, (1024, 1280, 1536, 1536)),
    (1048576, C.ERA_6_X, 8192, (2048, 3096, 4144, 5192)),
    (1048576, C.ERA_3_8, 8192, (2048, 2560, 3072, 3072)),
    (16777216, C.ERA_6_X, 32768, (8192, 24969, 41746, 58523)),
    (16777216, C.ERA_3_8, 32768, (8192, 10240, 12288, 12288)),
]


@pytest.mark.parametrize("pages,era,mfk,marks", WATERMARK_TABLE)
def test_watermarks_hand_computed(pages, era, mfk, marks):
    """Invariant 5: min_free_kbytes and (min, low, high, promo) for 128 MiB,
    1 GiB, 4 GiB and 64 GiB in both eras equal the hand-computed values."""
    assert min_free_kbytes(pages, era) == mfk
    assert zone_watermarks(pages, era) == marks


@pytest.mark.parametrize(
    "pages,era,mfk",
    [
        (1 << 26, C.ERA_3_8, 65536),  # 256 GiB: isqrt(2^32) = 65536, exactly the 3.8 cap
        (1 << 26, C.ERA_6_X, 65536),
        (1 << 27, C.ERA_3_8, 65536),  # 512 GiB: isqrt(2^33) = 92681, 3.8 clamps
        (1 << 27, C.ERA_6_X, 92681),
        (1 << 32, C.ERA_6_X, 262144),  # 16 TiB: isqrt(2^38) = 524288, 6.x clamps
        (4096, C.ERA_6_X, 512),  # 16 MiB: the kernel comment's table, 512k
        (64, C.ERA_3_8, 128),  # 256 KiB: isqrt(4096) = 64, lower clamp 128
        (64, C.ERA_6_X, 128),
    ],
)
def test_min_free_kbytes_clamps(pages, era, mfk):
    """Invariant 5: the clamps of calculate_min_free_kbytes (128 KB floor;
    ceiling 65536 KB in 3.x, 262144 KB in 6.x)."""
    assert min_free_kbytes(pages, era) == mfk


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("pages", [32768, 262144])
def test_zone_boots_with_hand_computed_watermarks(era, pages):
    """Invariant 5: a booted Zone without THP stores the same watermarks and
    min_free_kbytes (zone scalars) as the table."""
    (mfk, marks) = next((m, w) for p, e, m, w in WATERMARK_TABLE if p == pages and e == C.ERAS[era])
    z = Zone(pages, era, thp=False)
    assert int(z.a.zs[C.ZS_MIN_FREE_KBYTES]) == mfk
    assert tuple(int(x) for x in z.a.zs[C.ZS_WMARK_MIN : C.ZS_WMARK_PROMO + 1]) == marks
    assert (z.watermark(WMARK_MIN), z.watermark(WMARK_LOW), z.watermark(WMARK_HIGH)) == marks[:3]


# ------------------------------------------------- 6. watermark refusal edge


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("wmark", [WMARK_MIN, WMARK_LOW, WMARK_HIGH])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 5, 9, 10])
def test_watermark_refuses_at_threshold(era, wmark, order):
    """Invariant 6: with free pages F, an order-k allocation against a
    watermark is refused (-1, nothing changes but the failure counter) when
    F - (2^k - 1) <= mark, and succeeds when F - (2^k - 1) = mark + 1.

    Setup (128 MiB): allocate every page at order 0 with ALLOC_NO_WATERMARKS,
    then free the top F pages, which merge into the binary decomposition of
    F (so a block >= 2^k exists and 3.8's per-order loop passes). Without
    per-cpu lists, so that every free reaches the buddy lists at once."""
    n = 32768
    z = Zone(n, era, pcp=False)
    o = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(o, 0, n, ALLOC_NO_WATERMARKS) == n
    mark = z.watermark(wmark)
    assert int(z.a.zs[C.ZS_WATERMARK_BOOST]) == 0  # no fallback happened, so no boost
    threshold = mark + (1 << order) - 1
    for pfn in range(n - threshold, n):
        z.free(pfn)
    assert z.nr_free == threshold
    before = copy_zone(z.a)
    assert z.alloc(o, order, wmark) == -1
    assert z.a.vm[C.VM_ALLOC_FAIL] - before.vm[C.VM_ALLOC_FAIL] in (0, 1)
    before.vm[C.VM_ALLOC_FAIL] = z.a.vm[C.VM_ALLOC_FAIL]  # a refusal may be counted
    assert zones_equal(before, z.a), "a refused allocation changed the zone"
    z.free(n - threshold - 1)
    assert z.nr_free == threshold + 1
    pfn = z.alloc(o, order, wmark)
    assert pfn >= 0 and pfn % (1 << order) == 0
    assert z.nr_free == threshold + 1 - (1 << order)
    z.check()
