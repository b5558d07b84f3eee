"""Balloon compaction: the seed's rules (mm/compaction.c, mm/migrate.c and the
virtio balloon callbacks of "[PATCH 1/4] mm: introduce compaction and migration
for virtio ballooned pages", Rafael Aquini, June 2012, merged in 3.8) and the
world before it, as the model follows them (kernel-facts 3 and 4).

Switch on: balloon pages are GFP_HIGHUSER_MOVABLE, compaction isolates them
(isolate_balloon_page), migrates them (virtballoon_migratepage: inflate(new)
then deflate(old) to the host) or puts them back (putback_balloon_page).
Switch off: GFP_HIGHUSER, Unmovable, never isolated.

Layouts are built page by page on small zones (16 pageblocks): every page is
first given to one anon owner with watermarks ignored, then chosen pfns are
freed, so the layout is the same in both eras.
"""

import multiprocessing
import os
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fleet.memory import constants as C
from fleet.memory.balloon import balloon_page_isolate, balloon_page_putback
from fleet.memory.rng import new_rng
from fleet.memory.stream import decode_all
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone
from fleet.scenario import ScenarioRunner, parse_steps
from tests.examples import examples
from tests.lists import walk
from tests.memory.zones import vm

PB = C.PAGEBLOCK_NR_PAGES
NR_BLOCKS = 16
ERAS = ("6.x", "3.8")


# --------------------------------------------------------------------- helpers


def make_zone(era="6.x", on=True, nr_blocks=NR_BLOCKS, seed=1, balloon_isolation="seed"):
    """A small zone for the seed's rules: the seed's isolation (no lru_lock
    gate) unless asked, the watermarks of calculate_min_free_kbytes alone
    (thp=False), which the layouts below are sized for, and no per-cpu lists,
    so that a page the layout frees is where the balloon can take it."""
    return Zone(
        nr_blocks * PB,
        era=era,
        balloon_compaction=on,
        rng=new_rng(seed, 0),
        thp=False,
        balloon_isolation=balloon_isolation,
        pcp=False,
    )


def fill_with_anon(z):
    """Give every page to one anon owner (order 0, watermarks ignored): every
    pageblock stays Movable and nothing is free."""
    anon = z.register_owner("anon", C.KIND_ANON)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    assert z.nr_free == 0
    return anon


def free_pfns(z, pfns):
    for pfn in pfns:
        z.free(pfn)


def vm_snapshot(z):
    return z.a.vm.copy()


def vm_delta(z, before, name):
    return int(z.a.vm[C.VM[name]] - before[C.VM[name]])


def balloon_pfns(z):
    return set(np.flatnonzero(z.a.owner == z.balloon_owner).tolist())


def balloon_list(z):
    """The balloon's page list from its old end to its young end (the young end
    is the kernel's list head: insert and dequeue both work there)."""
    return walk(z, z.a.own_head[z.balloon_owner])


def decode(stream):
    """(pfn, order, op) per host notification."""
    return list(zip(*(column.tolist() for column in decode_all(stream))))


def free_buddy_covering(z, pfn):
    """The order of the free buddy block that covers `pfn`, or -1."""
    for order in range(C.MAX_PAGE_ORDER, -1, -1):
        head = pfn & ~((1 << order) - 1)
        flags = int(z.a.pflags[head])
        if flags & C.PF_BUDDY and (flags & C.PF_ORDER_MASK) == order:
            return order
    return -1


def low_balloon_block(era, on, nr_balloon=200):
    """Block 0 holds `nr_balloon` balloon pages and free pages only; blocks
    1..7 are full of anon; blocks 8..15 are Movable and half free (every other
    page, so order-0 holes the free scanner can use)."""
    z = make_zone(era, on)
    fill_with_anon(z)
    free_pfns(z, range(0, PB))
    assert z.inflate(nr_balloon) == nr_balloon
    assert balloon_pfns(z) <= set(range(PB))
    for block in range(8, NR_BLOCKS):
        free_pfns(z, range(block * PB, (block + 1) * PB, 2))
    z.drain_stream()
    z.check()
    return z


def run_forked(fn, timeout):
    """Run `fn()` (returning a picklable value) in a forked child; return
    (finished, value). A compiled kernel cannot be interrupted in-process, so a
    kernel that may not return is run here and killed after `timeout` s."""
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child():
        try:
            send.send(("ok", fn()))
        except BaseException as e:  # report anything, including AssertionError
            send.send(("error", f"{e!r}\n{traceback.format_exc()}"))
        finally:
            os._exit(0)

    proc = ctx.Process(target=child)
    proc.start()
    ready = recv.poll(timeout)
    if not ready:
        proc.kill()
        proc.join()
        return False, None
    status, value = recv.recv()
    proc.join()
    if status == "error":
        raise AssertionError(f"child failed: {value}")
    return True, value


# ------------------------------------------------- 1. seed isolation rules


def test_balloon_page_is_isolated_once_and_a_second_isolation_is_refused():
    """Seed `isolate_balloon_page` (mm/compaction.c): a balloon page holds one
    reference; isolation takes a second one and proceeds only if the count is
    then 2, so an already isolated page (count 3) is refused and left alone
    ("Prevent concurrent compaction threads from isolating an already isolated
    balloon page"). Isolation takes the page off the balloon list
    (a_ops->invalidatepage) and counts compact_balloon_isolated."""
    z = make_zone()
    assert z.inflate(8) == 8
    o = z.balloon_owner
    pfn = balloon_list(z)[3]
    allocs = int(z.a.own_allocs[o])

    assert balloon_page_isolate(z.a, pfn)
    assert z.a.pflags[pfn] & C.PF_ISOLATED
    assert int(z.a.own_allocs[o]) == allocs - 1
    assert pfn not in balloon_list(z)
    assert z.balloon_pages() == 8  # still the balloon's page, only off its list
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 1
    assert vm(z, "compact_balloon_isolated") == 1
    z.check(isolated=[pfn])

    flags = int(z.a.pflags[pfn])
    assert not balloon_page_isolate(z.a, pfn)
    assert int(z.a.pflags[pfn]) == flags
    assert int(z.a.own_allocs[o]) == allocs - 1
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 1
    assert vm(z, "compact_balloon_isolated") == 1
    z.check(isolated=[pfn])

    balloon_page_putback(z.a, pfn)
    assert not z.a.pflags[pfn] & C.PF_ISOLATED
    assert int(z.a.own_allocs[o]) == allocs
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
    assert vm(z, "compact_balloon_returned") == 1
    z.check()
    # Back on the list, it can be isolated again.
    assert balloon_page_isolate(z.a, pfn)
    balloon_page_putback(z.a, pfn)
    z.check()


def test_locked_balloon_page_is_skipped_by_isolation():
    """Seed `isolate_balloon_page`: `if (likely(!PageLocked(page) && ...))` --
    a locked page may be a new page being migrated into by move_to_new_page(),
    so it is skipped: nothing changes. Once unlocked it isolates normally."""
    z = make_zone()
    assert z.inflate(8) == 8
    o = z.balloon_owner
    pfn = balloon_list(z)[5]
    listed = balloon_list(z)
    allocs = int(z.a.own_allocs[o])

    z.a.pflags[pfn] |= np.uint16(C.PF_LOCKED)
    flags = int(z.a.pflags[pfn])
    assert not balloon_page_isolate(z.a, pfn)
    assert int(z.a.pflags[pfn]) == flags
    assert balloon_list(z) == listed
    assert int(z.a.own_allocs[o]) == allocs
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
    assert vm(z, "compact_balloon_isolated") == 0
    z.check()

    z.a.pflags[pfn] &= ~np.uint16(C.PF_LOCKED)
    assert balloon_page_isolate(z.a, pfn)
    assert vm(z, "compact_balloon_isolated") == 1
    z.check(isolated=[pfn])
    balloon_page_putback(z.a, pfn)
    z.check()


def test_putback_returns_the_page_to_the_balloon_list_head():
    """Seed `putback_balloon_page` (a_ops->freepage = list_add back on
    vb->pages, then put_page; counted as compact_balloon_returned in 3.8).
    list_add puts it at the head, where leak_balloon dequeues, so it is the
    next page deflated. While isolated, balloon_page_dequeue skips it."""
    z = make_zone()
    assert z.inflate(8) == 8
    o = z.balloon_owner
    pfn = balloon_list(z)[2]
    assert int(z.a.own_allocs[o]) == 8
    managed = int(z.a.zs[C.ZS_MANAGED])
    assert balloon_page_isolate(z.a, pfn)

    # Deflating everything leaves the isolated page alone.
    assert z.deflate(8) == 7
    assert balloon_pfns(z) == {pfn}
    assert int(z.a.own_allocs[o]) == 0
    z.check(isolated=[pfn])

    balloon_page_putback(z.a, pfn)
    assert not z.a.pflags[pfn] & C.PF_ISOLATED
    assert int(z.a.own_allocs[o]) == 1
    assert balloon_list(z) == [pfn]
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
    assert vm(z, "compact_balloon_returned") == 1
    assert vm(z, "compact_balloon_migrated") == 0
    z.check()

    # With other pages inflated after it, the returned page is still at the head.
    assert balloon_page_isolate(z.a, pfn)
    assert z.inflate(4) == 4
    balloon_page_putback(z.a, pfn)
    assert balloon_list(z)[-1] == pfn
    assert vm(z, "compact_balloon_returned") == 2
    z.check()
    assert z.deflate(1) == 1
    assert pfn not in balloon_pfns(z) and z.a.owner[pfn] == C.OWNER_NONE
    assert int(z.a.own_allocs[o]) == 4
    # 8 inflated, 7 deflated, 4 inflated, 1 deflated: managed follows the size.
    assert int(z.a.zs[C.ZS_MANAGED]) == managed + 8 - 4 and z.balloon_pages() == 4
    z.check()


def test_compaction_skips_locked_and_already_isolated_balloon_pages():
    """isolate_migratepages_block with the seed hook: `if (PageBalloon(page))
    if (isolate_balloon_page(page)) goto isolated_balloon_page;` -- a locked
    page and a page another compaction already isolated are not taken; they
    stay where they are while the other balloon pages of the block move."""
    z = low_balloon_block("6.x", True)
    before = balloon_pfns(z)
    locked, taken = sorted(before)[10], sorted(before)[20]
    z.a.pflags[locked] |= np.uint16(C.PF_LOCKED)
    assert balloon_page_isolate(z.a, taken)
    v0 = vm_snapshot(z)

    z.compact_memory()
    after = balloon_pfns(z)
    assert locked in after and taken in after
    assert z.a.pflags[taken] & C.PF_ISOLATED
    assert vm_delta(z, v0, "compact_balloon_isolated") == len(before) - 2
    assert vm_delta(z, v0, "balloon_migrate") == len(before) - 2
    assert after & before == {locked, taken}
    z.check(isolated=[taken])

    z.a.pflags[locked] &= ~np.uint16(C.PF_LOCKED)
    balloon_page_putback(z.a, taken)
    assert z.balloon_pages() == len(before)
    z.check()


# ------------------------------------------- 2. no target: pages go back


@pytest.mark.parametrize("era", ERAS)
def test_no_free_target_puts_isolated_balloon_pages_back(era):
    """compact_zone: when compaction_alloc finds no free page, migrate_pages
    fails and putback_movable_pages (3.8: putback_lru_pages with the seed's
    PageBalloon branch -> putback_balloon_page) returns every isolated balloon
    page to the balloon list.

    Layout: block 0 has 64 balloon pages, 36 free pages and anon; blocks 1..11
    are full; blocks 12..15 are wholly free. 6.5 suitable_migration_target
    leaves free pageblocks alone, so the free scanner finds nothing and the
    balloon pages go back. 3.8's suitable_migration_target takes a free
    pageblock ("If the page is a large free page, then allow migration"), so
    there the same layout migrates them (contrast)."""
    z = make_zone(era, True)
    fill_with_anon(z)
    free_pfns(z, range(12 * PB, NR_BLOCKS * PB))
    free_pfns(z, range(0, 100))
    assert z.inflate(64) == 64
    before = balloon_pfns(z)
    assert before <= set(range(100))
    managed = int(z.a.zs[C.ZS_MANAGED])
    z.drain_stream()
    v0 = vm_snapshot(z)

    z.compact_memory()
    stream = decode(z.drain_stream())
    isolated = vm_delta(z, v0, "compact_balloon_isolated")
    returned = vm_delta(z, v0, "compact_balloon_returned")
    migrated = vm_delta(z, v0, "compact_balloon_migrated")
    assert isolated > 0
    assert isolated == returned + migrated
    assert z.balloon_pages() == 64
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
    assert int(z.a.zs[C.ZS_MANAGED]) == managed
    assert len(balloon_list(z)) == 64
    if era == "6.x":
        assert returned > 0 and migrated == 0
        assert vm_delta(z, v0, "balloon_migrate") == 0
        # migrate_pages stops at -ENOMEM, counting the one page it failed
        assert vm_delta(z, v0, "pgmigrate_fail") == 1
        assert balloon_pfns(z) == before
        assert stream == []
        assert list(z.a.pb_mt[12:]) == [C.MIGRATE_MOVABLE] * 4
    else:
        assert returned == 0 and migrated == 64
        assert not balloon_pfns(z) & before
        assert len(stream) == 2 * 64
    z.check()


@pytest.mark.parametrize("era", ERAS)
def test_watermark_refused_targets_put_balloon_pages_back(era):
    """__isolate_free_page (6.5; split_free_page in 3.8) refuses a free page
    unless the zone stays above min (3.8: low) + 2**order. When every target is
    refused, isolate_freepages returns with no page (6.5: `else if
    (isolate_start_pfn < block_end_pfn) break;`; 3.8 moves on to lower
    blocks), compaction_alloc returns NULL and the isolated balloon pages are
    put back; compact_memory returns.

    Layout: block 0 starts with 32 balloon pages followed by order-5 anon
    blocks (skipped as compound); block 15 has 128 order-0 holes, which is
    all the free memory, below the min watermark."""

    def scenario():
        z = make_zone(era, True)
        anon = fill_with_anon(z)
        free_pfns(z, range(0, PB))
        assert z.inflate(32) == 32
        assert z.alloc_bulk(anon, 5, (PB - 32) >> 5, ALLOC_NO_WATERMARKS) == (PB - 32) >> 5
        free_pfns(z, range(15 * PB, 15 * PB + 256, 2))
        assert z.nr_free == 128 < z.watermark(0)
        before = balloon_pfns(z)
        v0 = vm_snapshot(z)
        z.compact_memory()
        z.check()
        return dict(
            same=balloon_pfns(z) == before,
            isolated=vm_delta(z, v0, "compact_balloon_isolated"),
            returned=vm_delta(z, v0, "compact_balloon_returned"),
            migrated=vm_delta(z, v0, "compact_balloon_migrated"),
            still_isolated=int(z.a.zs[C.ZS_BALLOON_ISOLATED]),
        )

    # Compile everything the scenario calls in this process first, so that the
    # child only runs it (a fork inherits the compiled kernels).
    low_balloon_block(era, True).compact_memory()
    finished, r = run_forked(scenario, timeout=3.0)
    assert finished, "compact_memory did not return"
    assert r["same"] and r["migrated"] == 0 and r["still_isolated"] == 0
    assert r["returned"] == r["isolated"] == 32


# ------------------------------------- 3. switch on: balloon pages migrate


@pytest.mark.parametrize("era", ERAS)
def test_compaction_migrates_balloon_pages_out_of_the_block_it_empties(era):
    """Seed migrate path (__unmap_and_move skips unmap for PageBalloon;
    unmap_and_move then frees the old page) with virtballoon_migratepage:
    the new page joins the balloon list, the host is told inflate(new) and
    then deflate(old), one page each, and balloon_migrate counts
    (kernel-facts 4.3). The balloon keeps its size and managed pages; the
    migrate scanner's block 0, which held only balloon and free pages, ends
    wholly free."""
    z = low_balloon_block(era, True)
    before = balloon_pfns(z)
    managed = int(z.a.zs[C.ZS_MANAGED])
    v0 = vm_snapshot(z)

    z.compact_memory()
    stream = decode(z.drain_stream())
    after = balloon_pfns(z)
    migrations = vm_delta(z, v0, "balloon_migrate")

    assert migrations > 0
    assert migrations == vm_delta(z, v0, "compact_balloon_migrated")
    assert migrations == vm_delta(z, v0, "compact_balloon_released")
    assert vm_delta(z, v0, "compact_balloon_isolated") == migrations
    assert vm_delta(z, v0, "compact_balloon_returned") == 0
    assert z.balloon_pages() == len(before) == len(after)
    assert len(balloon_list(z)) == len(after)
    assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
    assert int(z.a.zs[C.ZS_MANAGED]) == managed
    assert free_buddy_covering(z, 0) >= C.PAGEBLOCK_ORDER

    # The host sees, per migration, inflate(new) immediately followed by deflate(old).
    assert len(stream) == 2 * migrations
    news, olds = [], []
    for (new, new_order, new_op), (old, old_order, old_op) in zip(stream[0::2], stream[1::2]):
        assert (new_op, old_op) == (C.STREAM_INFLATE, C.STREAM_DEFLATE)
        assert new_order == old_order == 0
        assert old in before and old not in after
        assert new in after and new not in before
        news.append(new)
        olds.append(old)
    assert after == (before - set(olds)) | set(news)
    assert len(set(news)) == len(set(olds)) == migrations
    assert all(pfn >= 8 * PB for pfn in news)
    assert all(z.a.pb_mt[pfn >> C.PAGEBLOCK_ORDER] == C.MIGRATE_MOVABLE for pfn in news)
    # The migrated pages are the young end of the list (balloon_page_insert: list_add).
    assert set(balloon_list(z)[-migrations:]) == set(news)
    z.check()


# ------------------------------------- 4. switch off: Unmovable, never moved


@pytest.mark.parametrize("era", ERAS)
def test_switch_off_compaction_never_moves_balloon_pages(era):
    """Before the seed, balloon pages are GFP_HIGHUSER (Unmovable, not
    PageLRU, no balloon mapping): isolate_migratepages_block fails them and
    compaction moves everything else around them. Same layout as the
    switch-on test: block 0 was stolen by the first balloon page and stays
    Unmovable and occupied."""
    z = low_balloon_block(era, False)
    before = balloon_pfns(z)
    assert z.a.pb_mt[0] == C.MIGRATE_UNMOVABLE
    v0 = vm_snapshot(z)

    z.compact_memory()
    assert vm(z, "balloon_migrate") == 0
    assert vm(z, "compact_balloon_isolated") == 0
    assert vm(z, "compact_balloon_returned") == 0
    assert vm_delta(z, v0, "pgmigrate_success") > 0  # anon did move
    assert balloon_pfns(z) == before
    assert decode(z.drain_stream()) == []
    assert z.a.pb_mt[0] == C.MIGRATE_UNMOVABLE
    assert free_buddy_covering(z, 0) == -1
    z.check()


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", [False, True])
def test_switch_decides_where_the_first_balloon_page_lands(era, on):
    """__rmqueue_fallback scans from the largest order down; an order-0
    Unmovable request (switch off) takes the largest free block, an order-9
    one, and claims the whole pageblock (order >= pageblock_order:
    change_pageblock_range). With the switch on the page is Movable and
    __rmqueue_smallest takes the smallest Movable block: a hole, no fallback.

    Layout: full of anon; block 10 wholly free; 8 order-0 holes in block 5."""
    z = make_zone(era, on)
    fill_with_anon(z)
    free_pfns(z, range(10 * PB, 11 * PB))
    holes = list(range(5 * PB, 5 * PB + 64, 8))
    free_pfns(z, holes)
    assert z.inflate(1) == 1
    (pfn,) = balloon_pfns(z)
    if on:
        assert pfn in holes
        assert vm(z, "extfrag_fallback") == 0
        assert (z.a.pb_mt == C.MIGRATE_MOVABLE).all()
    else:
        assert pfn >> C.PAGEBLOCK_ORDER == 10
        assert vm(z, "extfrag_fallback") == 1 and vm(z, "extfrag_fallback_claimed") == 1
        assert z.a.pb_mt[10] == C.MIGRATE_UNMOVABLE
        assert (z.a.pb_mt == C.MIGRATE_UNMOVABLE).sum() == 1
    z.check()


@pytest.mark.parametrize("era", ERAS)
def test_switch_off_sub_threshold_fallback_leaves_balloon_page_in_movable_block(era):
    """A fallback below the claim threshold: 6.5 steal_suitable_fallback
    claims only if free + alike >= 256 (alike = 512 - free - movable for an
    old Movable block), 3.8 only for orders >= pageblock_order/2. A Movable
    block with 16 free pages and 496 anon pages gives 16 + 0 < 256 (6.x) and
    an order-0 block (3.8): the Unmovable balloon page lands inside a block
    that stays Movable -- and compaction cannot move it out.

    Layout: 32 pageblocks full of anon, 16 order-0 holes in each (512 free
    pages, well above the watermarks), block 5's holes freed last so they
    head the order-0 Movable list."""
    nr_blocks = 32
    z = make_zone(era, False, nr_blocks=nr_blocks)
    fill_with_anon(z)
    for block in [b for b in range(nr_blocks) if b != 5] + [5]:
        free_pfns(z, range(block * PB, (block + 1) * PB, 32))
    assert z.inflate(1) == 1
    (pfn,) = balloon_pfns(z)
    assert pfn >> C.PAGEBLOCK_ORDER == 5
    assert (z.a.pb_mt == C.MIGRATE_MOVABLE).all()
    assert vm(z, "extfrag_fallback") == 1 and vm(z, "extfrag_fallback_claimed") == 0
    z.check()

    z.compact_memory()
    assert balloon_pfns(z) == {pfn}
    assert vm(z, "balloon_migrate") == 0 and vm(z, "compact_balloon_isolated") == 0
    assert free_buddy_covering(z, 5 * PB) < C.PAGEBLOCK_ORDER
    z.check()


# ------------------------------------------ 5. invariants over scenarios

# Sizes for a 64 MiB zone (16384 pages, min watermark 256 pages). At most two
# extra fills and two THP steps keep the scenarios away from OOM; "balloon
# 64MiB" inflates until the driver is out of puff at the min watermark, so the
# steps after it run where compaction's free-page isolation is refused.
INITIAL_FILLS = (
    "fill anon=16MiB,file=4MiB,slab=1MiB",
    "fill anon=20MiB,slab_reclaimable=2MiB,kernel=1MiB",
    "fill anon=12MiB,file=8MiB,slab=2MiB,kernel=1MiB",
)
MIDDLE_STEPS = (
    "punch anon 0.5",
    "punch file 0.5",
    "punch slab 0.3",
    "balloon 16MiB",
    "balloon 8MiB",
    "balloon 2MiB",
    "balloon 0",
    "balloon 64MiB",
    "compact",
    "thp 4MiB",
    "fill anon=4MiB",
    "free file",
    "free anon",
    "wait 2",
)


def _within_budget(steps):
    return sum(s.startswith("fill") for s in steps) <= 2 and sum(s.startswith("thp") for s in steps) <= 2


scenarios = st.tuples(
    st.sampled_from(INITIAL_FILLS),
    st.lists(st.sampled_from(MIDDLE_STEPS), min_size=3, max_size=8).filter(_within_budget),
    st.integers(0, 2**16),
)


class HostView:
    """Replays every host notification the zone emits (Zone.drain_stream is
    wrapped on the instance, so the drains inside inflate/deflate/compaction
    are seen too): the host's set of inflated pfns."""

    def __init__(self, z):
        self.pfns = set()
        self.errors = []
        drain = z.drain_stream

        def recording_drain():
            out = drain()
            for pfn, order, op in decode(out):
                if op != C.STREAM_REPORT and order != 0:
                    self.errors.append(("order", pfn, order, op))
                if op == C.STREAM_INFLATE:
                    if pfn in self.pfns:
                        self.errors.append(("inflated twice", pfn))
                    self.pfns.add(pfn)
                elif op == C.STREAM_DEFLATE:
                    if pfn not in self.pfns:
                        self.errors.append(("deflated but not inflated", pfn))
                    self.pfns.discard(pfn)
            return out

        z.drain_stream = recording_drain


def check_scenario(era, on, text, seed):
    """Run the steps of `text` on a 64 MiB zone, checking the invariants after
    every step (see the test below)."""
    z = Zone(32 * PB, era=era, balloon_compaction=on, rng=new_rng(seed, 0), pcp=False)
    host = HostView(z)
    runner = ScenarioRunner(z)
    for step in parse_steps(text):
        before = balloon_pfns(z)
        runner.run(step)
        z.drain_stream()
        z.check()
        after = balloon_pfns(z)
        assert host.errors == [], (str(step), host.errors[:5])
        assert host.pfns == after, str(step)
        assert z.balloon_pages() == len(after) == len(balloon_list(z))
        assert z.nr_pages - int(z.a.zs[C.ZS_MANAGED]) == len(after)
        assert int(z.a.zs[C.ZS_BALLOON_ISOLATED]) == 0
        assert int(z.a.zs[C.ZS_ISOLATED_LRU]) == 0
        assert all(z.a.pflags[p] & C.PF_ORDER_MASK == 0 for p in after)
        assert vm(z, "compact_balloon_isolated") == vm(z, "compact_balloon_migrated") + vm(
            z, "compact_balloon_returned"
        )
        assert vm(z, "balloon_migrate") == vm(z, "compact_balloon_migrated") == vm(z, "compact_balloon_released")
        if step.verb != "balloon":
            assert len(after) == len(before), str(step)
            if not on:
                assert after == before, str(step)
        if not on:
            assert vm(z, "balloon_migrate") == 0 and vm(z, "compact_balloon_isolated") == 0


# Every verb, every fill kind and both daemons' paths, away from the watermarks.
WARMUP = (
    "fill anon=8MiB,file=2MiB,slab=1MiB,slab_reclaimable=1MiB,kernel=1MiB; punch anon 0.5; "
    "balloon 4MiB; compact; thp 4MiB; wait 2; punch slab 0.3; free file; balloon 0; free anon"
)


@pytest.fixture(scope="module")
def compiled_scenarios():
    """Compile the scenario kernels in this process, so that forked examples
    only run them."""
    for era in ERAS:
        for on in (True, False):
            check_scenario(era, on, WARMUP, 0)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("on", [True, False])
@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
# Balloon out of puff on fragmented memory, then compact_memory at the watermark.
@example(scenario=(INITIAL_FILLS[1], ["punch anon 0.5", "balloon 64MiB", "compact"], 0))
def test_scenarios_keep_memory_and_balloon_invariants(compiled_scenarios, era, on, scenario):
    """CONFIG_DEBUG_VM-style invariants (checker.py) after every step of a
    random fill/punch/free/balloon/compact/thp/wait scenario, plus the balloon's
    own: nothing left isolated (isolated_pages == 0 between runs), managed
    pages lowered by exactly the balloon size (adjust_managed_page_count), the
    host's replayed view of inflated pfns equal to the guest's balloon pages
    (MUST_TELL_HOST; inflate(new) before deflate(old) on migration), the
    seed's counters consistent, and with the switch off no balloon page ever
    moved: only balloon steps change the set of balloon pfns.

    Each example runs in a forked child, so a compaction that never returns
    fails the example instead of hanging the suite."""
    initial, middle, seed = scenario
    text = "; ".join([initial, *middle])
    finished, _ = run_forked(lambda: check_scenario(era, on, text, seed), timeout=30.0)
    assert finished, f"scenario did not finish: {text}"
