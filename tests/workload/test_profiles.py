"""The synthetic profiles on a 256 MiB zone: they allocate what their specs
say, free what they should, and leave the zone consistent."""

import math

import pytest

from fleet.memory import constants as C
from fleet.spec.workloads import WORKLOADS
from fleet.workload import Composite, make_composite, make_workload, run_workload

MIB = 1 << 20
PAGES_PER_MIB = MIB // C.PAGE_SIZE

# Small, fast parameters for each workload on a 256 MiB zone.
SMALL = {
    "server": dict(anon_rate=32 * MIB, file_rate=8 * MIB, thp_fraction=0.1),
    "batch": dict(ramp_s=10, hold_s=10, period_s=30, peak_fraction=0.5),
    "build": dict(procs_per_s=4, proc_anon_bytes=4 * MIB, file_rate=16 * MIB),
    "mix": dict(fill=0.6, churn_rate=8 * MIB),
    "highalloc": dict(pass_starts_s=[5, 25]),
    "trace": dict(vm=2, time_scale=0.05),
    "steady": dict(rate=8 * MIB, ramp_rate=64 * MIB),
    "holes": dict(in_use=0.6, holes=0.25, pattern="strided", leave_s=20, compact_s=30, probe_every_s=10),
}


def owner_pages(zone, w, label):
    return zone.owner_pages(w.owners[label])


def test_every_workload_is_registered_and_covered():
    assert set(WORKLOADS.names()) == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_runs_and_zone_stays_consistent(make_zone, name):
    zone, rng = make_zone()
    w = make_workload(name, zone, SMALL[name], rng)
    run_workload(zone, w, 40)
    zone.check()
    m = w.metrics()
    assert m and all(isinstance(v, float) for v in m.values())
    assert all(v >= 0 for v in m.values() if not math.isnan(v))


def test_server_reaches_its_working_set_with_thp_and_capped_cache(make_zone):
    zone, rng = make_zone()
    w = make_workload(
        "server",
        zone,
        dict(anon_bytes=96 * MIB, anon_rate=16 * MIB, file_bytes=48 * MIB, file_rate=16 * MIB, thp_fraction=0.25),
        rng,
    )
    run_workload(zone, w, 3)
    grown = owner_pages(zone, w, "anon") + owner_pages(zone, w, "thp")
    assert grown <= 3 * 16 * PAGES_PER_MIB  # the ramp rate holds
    run_workload(zone, w, 30, t0=3)
    zone.check()
    anon = owner_pages(zone, w, "anon") + owner_pages(zone, w, "thp")
    assert abs(anon - 96 * PAGES_PER_MIB) <= PAGES_PER_MIB  # churn frees and refaults
    m = w.metrics()
    assert m["thp_fault_alloc"] + m["thp_fault_fallback"] >= 8  # a quarter of 96 MiB in 2 MiB faults, about 12
    assert owner_pages(zone, w, "thp") == m["thp_fault_alloc"] * 512
    assert owner_pages(zone, w, "file") <= 48 * PAGES_PER_MIB
    assert owner_pages(zone, w, "file") >= 40 * PAGES_PER_MIB
    # page tables follow the base-page anon (one PTE page per 512 pages)
    assert owner_pages(zone, w, "pagetable") == -(-owner_pages(zone, w, "anon") // 512)
    assert owner_pages(zone, w, "slab") > 0 and owner_pages(zone, w, "slab_reclaimable") > 0
    assert m["refused_pages"] == 0


def test_server_small_rates_accumulate_over_short_ticks(make_zone):
    zone, rng = make_zone()
    page = C.PAGE_SIZE
    w = make_workload(
        "server",
        zone,
        dict(
            anon_rate=page,
            anon_churn_rate=0,
            thp_fraction=0,
            file_rate=0,
            file_churn_rate=0,
            slab_rate=0,
            slab_churn_rate=0,
        ),
        rng,
    )
    run_workload(zone, w, 10, dt=0.25)  # a quarter page per tick
    assert owner_pages(zone, w, "anon") == 10


def test_batch_ramps_holds_and_frees_at_exit(make_zone):
    zone, rng = make_zone()
    peak = 64 * PAGES_PER_MIB
    w = make_workload(
        "batch", zone, dict(peak_bytes=64 * MIB, ramp_s=10, hold_s=10, period_s=40, start_s=5, input_bytes=8 * MIB), rng
    )
    anon = lambda: owner_pages(zone, w, "anon")  # noqa: E731
    run_workload(zone, w, 5)
    assert anon() == 0 and w.metrics()["jobs_started"] == 0
    run_workload(zone, w, 5, t0=5)  # half the ramp
    assert abs(anon() - peak // 2) <= 1
    run_workload(zone, w, 10, t0=10)  # ramp done, holding
    assert anon() == peak
    assert owner_pages(zone, w, "file") == 8 * PAGES_PER_MIB
    assert owner_pages(zone, w, "pagetable") == peak // 512
    run_workload(zone, w, 10, t0=20)  # exit at 25
    assert anon() == 0 and owner_pages(zone, w, "pagetable") == 0
    assert owner_pages(zone, w, "file") == 8 * PAGES_PER_MIB  # the page cache stays
    run_workload(zone, w, 20, t0=30)  # next job at 45
    m = w.metrics()
    assert (m["jobs_started"], m["jobs_exited"]) == (2, 1)
    assert 0 < anon() < peak
    assert m["peak_anon_pages"] == peak
    zone.check()


def test_batch_thp_share(make_zone):
    zone, rng = make_zone(thp_defrag="always")
    w = make_workload(
        "batch", zone, dict(peak_bytes=64 * MIB, ramp_s=4, hold_s=10, period_s=20, thp_fraction=0.5, input_bytes=0), rng
    )
    run_workload(zone, w, 6)
    m = w.metrics()
    assert m["thp_fault_alloc"] + m["thp_fault_fallback"] == 16  # half of 64 MiB in 2 MiB faults
    assert owner_pages(zone, w, "anon") + owner_pages(zone, w, "thp") == 64 * PAGES_PER_MIB


def test_build_processes_come_and_go(make_zone):
    zone, rng = make_zone()
    w = make_workload(
        "build",
        zone,
        dict(
            procs_per_s=5,
            proc_lifetime_s=2,
            proc_anon_bytes=2 * MIB,
            file_bytes=64 * MIB,
            file_rate=16 * MIB,
            dentry_bytes=8 * MIB,
        ),
        rng,
    )
    run_workload(zone, w, 30)
    m = w.metrics()
    assert m["procs_started"] == 150
    assert 150 - 3 * 5 <= m["procs_exited"] < 150  # lifetimes 1..3 s
    live = m["procs_started"] - m["procs_exited"]
    # anon is what the live processes faulted; they live 1..3 s, 5 start a second
    assert owner_pages(zone, w, "anon") == live * 2 * PAGES_PER_MIB
    assert live <= 3 * 5 + 5
    assert owner_pages(zone, w, "file") <= 64 * PAGES_PER_MIB
    assert owner_pages(zone, w, "slab_reclaimable") <= 8 * PAGES_PER_MIB + 8
    # an order-1 PGD per live process plus PTE pages
    assert owner_pages(zone, w, "pagetable") == live * (1 + 2)  # a PTE page, a PMD and a PUD page
    assert owner_pages(zone, w, "pgd") == live * 2  # order 1 (PTI)
    assert zone.a.own_allocs[w.owners["pgd"]] == live
    assert m["refused_pages"] == 0
    zone.check()
    # slab of orders 0..3 was allocated
    slab = w.owners["slab"]
    heads = (zone.a.owner == slab) & ((zone.a.pflags & C.PF_HEAD) != 0)
    orders = set((zone.a.pflags[heads] & C.PF_ORDER_MASK).tolist())
    assert orders == {0, 1, 2, 3}


def test_build_under_pressure_is_refused_not_broken(make_zone):
    zone, rng = make_zone()
    w = make_workload("build", zone, {}, rng)  # defaults: far more than 256 MiB of processes
    run_workload(zone, w, 20)
    zone.check()
    assert w.metrics()["refused_pages"] > 0
    assert zone.nr_free >= zone.watermark(0) // 2


def test_mix_wraps_random_mix(make_zone):
    zone, rng = make_zone()
    w = make_workload("mix", zone, dict(fill=0.5, ramp_rate=64 * MIB), rng)
    run_workload(zone, w, 5)
    m = w.metrics()
    assert abs(m["used_pages"] - 0.5 * zone.nr_pages) < 0.02 * zone.nr_pages
    assert m["ops"] > 0


def test_composite_ticks_in_order_and_prefixes_metrics(make_zone):
    zone, rng = make_zone()
    c = make_composite(
        zone,
        [("build", SMALL["build"]), ("highalloc", dict(pass_starts_s=[3])), ("highalloc", dict(pass_starts_s=[30]))],
        rng,
    )
    assert isinstance(c, Composite)
    run_workload(zone, c, 10)
    m = c.metrics()
    assert m["build.procs_started"] == 40
    assert m["highalloc.pass1_attempts"] > 0
    assert m["highalloc#2.pass1_attempts"] == 0
    zone.check()
    with pytest.raises(ValueError, match="share one zone"):
        other, _ = make_zone(seed=2)
        Composite([c.parts[0], make_workload("trace", other, {}, rng)])


def test_steady_holds_its_footprint_and_churns_at_its_rate(make_zone):
    zone, rng = make_zone()
    w = make_workload("steady", zone, dict(footprint_fraction=0.5, ramp_rate=256 * MIB, rate=8 * MIB), rng)
    run_workload(zone, w, 2)
    footprint = zone.nr_pages // 2
    held = sum(owner_pages(zone, w, k) for k in ("anon", "thp", "slab"))
    assert footprint <= held <= footprint + 8 * PAGES_PER_MIB
    before = w.metrics()
    run_workload(zone, w, 20, t0=2)
    zone.check()
    after = w.metrics()
    held_after = sum(owner_pages(zone, w, k) for k in ("anon", "thp", "slab"))
    assert abs(held_after - held) <= 512  # what is freed is allocated again
    churned = after["allocated_pages"] - before["allocated_pages"]
    assert abs(churned - 20 * 8 * PAGES_PER_MIB) <= 512
    slab = owner_pages(zone, w, "slab")
    assert 0.05 * held < slab < 0.2 * held  # a tenth of the traffic, held since the ramp
    assert (
        after["thp_fault_alloc"] + after["thp_fault_fallback"]
        > before["thp_fault_alloc"] + before["thp_fault_fallback"]
    )
