"""The holes workload (the ab-map experiment's): fill, punch, leave and
compact at their times, and a THP probe that leaves the guest as it was."""

import math

import pytest

from fleet.memory import constants as C
from fleet.memory.state import zones_equal
from fleet.memory.stats import free_blocks_by_order
from fleet.spec.workloads import WORKLOADS
from fleet.workload import make_workload, run_workload


def test_fill_then_holes_at_random_or_every_nth_page(make_zone):
    for pattern in ("random", "strided"):
        zone, rng = make_zone()
        w = make_workload("holes", zone, dict(in_use=0.5, holes=0.25, pattern=pattern), rng)
        run_workload(zone, w, 1)
        filled = int(0.5 * zone.nr_pages)
        freed = -(-filled // 4) if pattern == "strided" else round(filled * 0.25)  # every 4th, the first included
        assert w.pages("anon") == filled - freed and w.freed_pages == freed
        m = w.metrics()
        assert (m["punched"], m["left"], m["compacted"]) == (1.0, 0.0, 0.0)
        assert math.isnan(m["probe_thp_fallback_pct"])  # no probe asked for
        zone.check()


def test_strided_holes_are_single_pages_random_ones_merge(make_zone):
    """Every other page in allocation order frees pages whose buddies stay
    allocated (the fill took them in address order): all order 0; at random
    a freed page's buddy is often free too, and they merge."""
    by_order = {}
    for pattern in ("random", "strided"):
        zone, rng = make_zone()
        w = make_workload("holes", zone, dict(in_use=0.5, holes=0.5, pattern=pattern), rng)
        run_workload(zone, w, 1, daemons=False)
        zone.drain_pcp()
        by_order[pattern] = free_blocks_by_order(zone.a.nr_free)
    holes = zone.nr_pages // 4  # half of the half in use
    assert by_order["strided"][0] >= holes
    assert by_order["random"][0] < 0.8 * holes and by_order["random"][1] > 1000 + by_order["strided"][1]


def test_leave_then_compact_memory_packs_the_balloon(make_zone):
    """The workload leaves at 10 s and compacts at 20 s; a movable balloon
    inflated into its holes at 5 s is migrated by the compaction. The holes
    are random: with a hole every 4th page the balloon sits at every 4th
    pfn once the workload has left, and 6.x's free scanner, sampling every
    32nd pfn after a block that gave nothing, would see only balloon pages."""
    zone, rng = make_zone()
    w = make_workload("holes", zone, dict(in_use=0.8, holes=0.25, pattern="random", leave_s=10, compact_s=20), rng)
    run_workload(zone, w, 5)
    zone.update_balloon_size(zone.nr_pages // 8, zone.nr_pages)
    run_workload(zone, w, 6, t0=5)  # ticks 5..10: the tick from 10 s frees everything
    m = w.metrics()
    assert (m["left"], m["compacted"]) == (1.0, 0.0) and w.pages("anon") == 0
    blocks_left = zone.free_2mib_blocks()
    migrated = zone.a.vm[C.VM_BALLOON_MIGRATE]
    run_workload(zone, w, 10, t0=11)
    assert w.metrics()["compacted"] == 1.0
    assert zone.a.vm[C.VM_BALLOON_MIGRATE] > migrated
    assert zone.free_2mib_blocks() > blocks_left
    zone.check()


def test_the_probe_leaves_the_guest_as_it_was(make_zone):
    """90% in use, half of it freed as single pages: 55% of RAM free but only
    the untouched 10% in 2 MiB blocks; a burst of 20% of RAM as THP falls
    back where compaction cannot make blocks in time, on a copy only."""
    runs = {}
    for every in (0, 2):
        zone, rng = make_zone()
        params = dict(in_use=0.9, holes=0.5, pattern="strided", probe_every_s=every, probe_fraction=0.2)
        w = make_workload("holes", zone, params, rng)
        run_workload(zone, w, 6)
        runs[every] = (zone, rng.copy(), w.metrics())
    (z0, r0, m0), (z2, r2, m2) = runs[0], runs[2]
    assert zones_equal(z0.a, z2.a) and (r0 == r2).all() and (z0.rng == z2.rng).all()
    assert math.isnan(m0["probe_thp_fallback_pct"]) and math.isnan(m0["probe_compact_stall"])
    assert 0 <= m2["probe_thp_fallback_pct"] <= 100 and m2["probe_compact_stall"] >= 1
    assert z2.a.vm[C.VM_THP_FAULT_ALLOC] == 0  # the probe's faults are the copy's


def test_no_room_no_probe(make_zone):
    """Memory full to its high watermark: no probe (NaN), not a 100% fallback."""
    zone, rng = make_zone()
    w = make_workload("holes", zone, dict(in_use=1.0, holes=0.0, probe_every_s=1), rng)
    run_workload(zone, w, 3)
    assert zone.nr_free < zone.watermark(2) + 512
    assert math.isnan(w.metrics()["probe_thp_fallback_pct"])


def test_strided_holes_must_be_one_in_n():
    WORKLOADS.make_params("holes", dict(pattern="strided", holes=1 / 3))
    with pytest.raises(ValueError, match="'holes' must be 1/N"):
        WORKLOADS.make_params("holes", dict(pattern="strided", holes=0.3))
    WORKLOADS.make_params("holes", dict(pattern="random", holes=0.3))
