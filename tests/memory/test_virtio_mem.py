"""The guest's virtio-mem driver (fleet/memory/virtio_mem.py) over
memory_hotplug: which blocks go and come back, at what rate, and the retry
timer of virtio_mem_run_wq (50 s doubling to 300 s on -EBUSY).

Zones are 64 MiB (32 pageblocks); blocks are one pageblock (2 MiB) unless
said; the budget is pages per tick.
"""

import numpy as np
import pytest

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.virtio_mem import RETRY_TIMER_MAX_S, RETRY_TIMER_MIN_S, VirtioMem
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone
from tests.memory.zones import PB

NR_PAGES = 32 * PB
BIG = 1 << 30  # a budget that never limits


def device(block=PB, pcp=True):
    z = Zone(NR_PAGES, rng=new_rng(1, 0), pcp=pcp)
    return z, VirtioMem(z, block)


def plugged_blocks(d):
    return list(np.flatnonzero(d.plugged))


def test_unplug_takes_the_highest_blocks_and_plug_the_lowest():
    z, d = device()
    d.request(28 * PB)
    d.run(0, BIG)
    z.check()
    assert plugged_blocks(d) == list(range(28)) and d.plugged_pages() == 28 * PB
    assert int(z.a.zs[C.ZS_MANAGED]) == 28 * PB
    d.request(30 * PB)
    d.run(1, BIG)
    assert plugged_blocks(d) == list(range(30))
    d.request(29 * PB + 1)  # rounded up to whole blocks: 30, nothing to do
    assert d.requested_pages() == 30 * PB
    d.run(2, BIG)
    assert plugged_blocks(d) == list(range(30))


def test_an_unmovable_block_is_passed_over():
    z, d = device(pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    slab = z.register_owner("slab", C.KIND_SLAB)
    assert z.alloc_bulk(anon, 0, 26 * PB, ALLOC_NO_WATERMARKS) == 26 * PB  # 6.x fills from the bottom
    z.alloc_bulk(slab, 0, z.nr_free, ALLOC_NO_WATERMARKS)
    for pfn in np.flatnonzero(z.a.owner == slab):
        if pfn != 31 * PB + 7:  # one slab page left, in the top block
            z.free(int(pfn))
    z.free_owner(anon, 4 * PB, z.rng)
    d.request(30 * PB)
    d.run(0, BIG)
    z.check()
    assert plugged_blocks(d) == list(range(29)) + [31]  # 31 stays, 30 and 29 went
    assert d.retry_at == 0  # the request was met: no retry


def test_the_rate_limits_blocks_per_tick_and_carries_credit():
    z, d = device(block=4 * PB)
    d.request(16 * PB)  # 4 blocks of 4 pageblocks to go
    d.run(0, 3 * PB)  # 3 pageblocks of credit: not enough for a block
    assert d.plugged_pages() == NR_PAGES
    d.run(1, 3 * PB)  # 6: one block, 2 left
    assert d.plugged_pages() == NR_PAGES - 4 * PB
    d.run(2, 8 * PB)  # 2 + 8 = 10: two blocks
    assert d.plugged_pages() == NR_PAGES - 12 * PB
    d.run(3, 100 * PB)  # the last one
    assert d.plugged_pages() == 16 * PB
    d.run(4, 100 * PB)  # nothing to do: no credit is banked
    assert d.credit == 0


def pin_every_block(z):
    """Put an unmovable page in every pageblock: allocate everything as slab,
    then free all but one page per pageblock."""
    slab = z.register_owner("slab", C.KIND_SLAB)
    assert z.alloc_bulk(slab, 0, z.nr_free, ALLOC_NO_WATERMARKS) > 0
    for pfn in range(z.nr_pages):
        if pfn % PB and z.a.owner[pfn] == slab:
            z.free(pfn)
    assert all(z.a.owner[b * PB] == slab for b in range(32))


def test_a_failed_pass_waits_for_the_retry_timer_doubling_to_300_s():
    z, d = device(pcp=False)
    pin_every_block(z)
    d.request(16 * PB)
    times = []
    for t in range(0, 2000):
        before = d.retry_at
        d.run(t, BIG)
        if d.retry_at != before:
            times.append((t, d.retry_at - t))
    assert d.plugged_pages() == NR_PAGES
    delays = [delay for _, delay in times]
    assert delays[:4] == [RETRY_TIMER_MIN_S, 2 * RETRY_TIMER_MIN_S, 4 * RETRY_TIMER_MIN_S, RETRY_TIMER_MAX_S]
    assert set(delays[4:]) == {RETRY_TIMER_MAX_S}
    assert times[1][0] == times[0][0] + RETRY_TIMER_MIN_S  # no pass while the timer runs


def test_a_new_request_starts_a_pass_at_once():
    z, d = device(pcp=False)
    pin_every_block(z)
    d.request(16 * PB)
    d.run(0, BIG)
    assert d.retry_at == RETRY_TIMER_MIN_S
    z.free(31 * PB)  # the top block is free now
    d.request(15 * PB)  # a config change: retry now
    d.run(1, BIG)
    assert not d.plugged[31] and d.plugged[:31].all()


def test_bad_block_sizes_are_refused():
    z = Zone(NR_PAGES, rng=new_rng(1, 0))
    for block in (0, PB + 1, 3 * PB):
        with pytest.raises(ValueError, match="not whole pageblocks dividing the zone"):
            VirtioMem(z, block)
