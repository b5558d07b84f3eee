"""The stress-highalloc probe: passes at their start times, success per pass
within 0..100, everything freed at the end of a pass."""

import math

from fleet.memory import constants as C
from fleet.workload import make_composite, make_workload, run_workload
from fleet.workload.highalloc import HIGHALLOC_GFP

MIB = 1 << 20


def test_gfp_is_noretry_with_reclaim():
    assert HIGHALLOC_GFP == C.GFP_DIRECT_RECLAIM | C.GFP_KSWAPD_RECLAIM | C.GFP_NORETRY


def test_passes_on_an_idle_zone(make_zone):
    zone, rng = make_zone()
    w = make_workload("highalloc", zone, dict(pass_starts_s=[5, 20, 21]), rng)
    share = int(0.95 * zone.nr_pages) // 512  # order-9 attempts per pass: 121
    run_workload(zone, w, 5)
    assert w.metrics()["pass1_attempts"] == 0 and math.isnan(w.metrics()["pass1_success_pct"])
    run_workload(zone, w, 3, t0=5)
    m = w.metrics()
    assert m["pass1_attempts"] == 24  # 16 MiB/s = 8 order-9 attempts a second
    assert m["holding_pages"] == m["pass1_allocated"] * 512 > 0
    run_workload(zone, w, 60, t0=8)
    m = w.metrics()
    assert m["passes_done"] == 3
    assert m["pass1_success_pct"] == 100.0  # nothing else runs
    for i in (1, 2, 3):
        assert m[f"pass{i}_attempts"] == share
        # Freed order-9 blocks stay on the per-cpu list up to pcp->high, outside
        # NR_FREE_PAGES: the watermark then refuses a later pass's last attempt.
        assert m[f"pass{i}_allocated"] >= share - 1
    assert m["pass1_start_s"] == 5 and m["pass1_end_s"] == 21  # 121 attempts at 8/s
    assert m["pass2_start_s"] == 21  # its start time had passed: it follows pass 1
    assert m["pass3_start_s"] == m["pass2_end_s"]
    assert m["holding_pages"] == 0 and zone.owner_pages(w.o) == 0
    assert zone.nr_free + zone.pcp_pages == zone.nr_pages
    zone.check()


def test_beside_a_build_each_pass_reports_and_frees(make_zone):
    zone, rng = make_zone()
    c = make_composite(
        zone,
        [
            ("build", dict(procs_per_s=4, proc_anon_bytes=4 * MIB, file_rate=16 * MIB)),
            ("highalloc", dict(pass_starts_s=[20, 45], rate=32 * MIB)),
        ],
        rng,
    )
    probe = c.parts[1]
    ends = []
    t = 0.0
    while t < 80:
        before = probe.metrics()["passes_done"]
        t = run_workload(zone, c, 1, t0=t)
        if probe.metrics()["passes_done"] > before:
            ends.append(t)
            assert zone.owner_pages(probe.o) == 0  # freed at the pass end
    m = c.metrics()
    assert len(ends) == 2
    for i in (1, 2):
        pct = m[f"highalloc.pass{i}_success_pct"]
        assert 0.0 <= pct <= 100.0
        assert m[f"highalloc.pass{i}_attempts"] == int(0.95 * zone.nr_pages) // 512
        assert pct == m[f"highalloc.pass{i}_allocated"] * 100.0 / m[f"highalloc.pass{i}_attempts"]
    # the build's anon (not reclaimable without swap) is more than the 5% the
    # probe leaves: not every attempt can succeed
    assert m["build.procs_started"] - m["build.procs_exited"] >= 4  # 4 MiB each, 16+ MiB of 256
    assert m["highalloc.pass1_success_pct"] < 100.0 and m["highalloc.pass2_success_pct"] < 100.0
    assert m["highalloc.allocated_pages"] == m["highalloc.freed_pages"]
    assert zone.a.vm[C.VM_ALLOCSTALL] > 0  # the probe's attempts went through direct reclaim
    zone.check()


def test_other_orders_and_percent(make_zone):
    zone, rng = make_zone()
    w = make_workload("highalloc", zone, dict(pass_starts_s=[0], order=4, percent=10, rate=64 * MIB), rng)
    run_workload(zone, w, 5)
    m = w.metrics()
    assert m["pass1_attempts"] == int(0.1 * zone.nr_pages) // 16
    assert m["passes_done"] == 1 and m["pass1_success_pct"] == 100.0
