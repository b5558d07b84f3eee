"""Host swap and the OOM killer: the swap rules of one guest's backing
(fleet/host.py), the host's reclaim decisions (fleet/host_reclaim.py), and a
host overcommitted for real (fleet/pack.py, without Ray): its memory is
conserved at every sample, with swap; without, the OOM killer ends the
largest guest's rows."""

import numpy as np
import pytest

from fleet import pressure
from fleet.host import DEFERRED, HUGE, PTE_PAGE, PTE_SWAPPED, SPLIT, BackingReport, GuestBacking, KhugepagedScan
from fleet.host_reclaim import Host, Reclaim, badness, oom_victim, swap_quotas
from fleet.memory import constants as C
from fleet.pack import GuestPack, HostController, PackGuests
from fleet.spec import SpecError, build_spec
from tests.test_host import R, apply, inflate, report, touch

# ---------------------------------------------------------------- one guest's backing


def test_swap_out_of_a_huge_page_splits_its_pmd_and_swaps_it_whole():
    """shrink_folio_list: add_to_swap takes the PMD-mapped THP whole and
    try_to_unmap(TTU_SPLIT_HUGE_PMD) leaves 512 swap entries (thp_split_pmd);
    the older region goes first."""
    b = GuestBacking(2 * R)
    touch(b, 2 * R, [R], now=10)  # region 1 first
    touch(b, 2 * R, [0], now=20)
    assert b.swap_out(R) == R
    b.check()
    assert list(b.region) == [HUGE, SPLIT] and b.splits == 1
    assert (b.pte[R:] == PTE_SWAPPED).all()
    assert b.swapped_pages() == R and b.swap_outs == R and b.populated_pages() == R


def test_a_quota_smaller_than_the_huge_page_splits_it_and_swaps_part():
    """THP_SWPOUT_FALLBACK: split, then page by page in pfn order."""
    b = GuestBacking(R)
    touch(b, R, [0])
    assert b.swap_out(100) == 100
    b.check()
    assert b.region[0] == SPLIT and (b.pte[:100] == PTE_SWAPPED).all() and (b.pte[100:] == PTE_PAGE).all()
    assert b.populated_pages() == R - 100 and b.lru_pages() == ((0, R - 100),)


def test_a_queued_folio_is_split_before_swap_out_freeing_its_unmapped_subpages():
    """split_folio_to_list first (not entirely mapped): 2 discarded subpages
    freed without I/O, the 510 still mapped go to swap; not the shrinker's."""
    b = GuestBacking(R)
    touch(b, R, [0])
    apply(b, inflate(10, 11))
    assert b.region[0] == DEFERRED and b.populated_pages() == R
    assert b.lru_pages() == ((0, R - 2),)
    assert b.swap_out(1000) == R - 2
    b.check()
    assert b.region[0] == SPLIT and b.populated_pages() == 0 and b.swapped_pages() == R - 2
    assert b.discarded == 2 and b.shrinker_freed == 0


def test_a_touch_swaps_a_page_in_and_refreshes_its_regions_age():
    """do_swap_page: the touched pages are resident again, 4 KiB each (the
    region stays SPLIT); untouched ones stay out; the region is young again."""
    b = GuestBacking(2 * R)
    touch(b, 2 * R, [0], now=0)
    touch(b, 2 * R, [R], now=5)
    b.swap_out(R)  # region 0, the older
    assert touch(b, 2 * R, range(10), now=30) == 10
    assert b.region[0] == SPLIT and b.swap_ins == 10 and b.swapped_pages() == R - 10
    assert b.populated_pages() == R + 10
    assert b.lru_pages() == ((5, R), (30, 10))
    assert b.swap_out(R) == R  # now region 1 is the older
    assert b.region[1] == SPLIT and b.swapped_pages() == 2 * R - 10


def test_a_discard_or_a_report_frees_swap_slots():
    """zap_pte_range on a swap entry: free_swap_and_cache; RAM is untouched."""
    b = GuestBacking(R)
    touch(b, R, [0])
    b.swap_out(R)
    apply(b, inflate(3, 4))
    assert b.swapped_pages() == R - 2 and b.swap_freed == 2 and b.populated_pages() == 0
    apply(b, report(0))
    assert b.swapped_pages() == 0 and b.swap_freed == R and b.region[0] == SPLIT


@pytest.mark.parametrize(("swapped", "collapsed"), [(64, True), (65, False)])
def test_khugepaged_swaps_in_at_most_max_ptes_swap(swapped, collapsed):
    """hpage_collapse_scan_pmd: SCAN_EXCEED_SWAP_PTE beyond max_ptes_swap
    (64); a collapse swaps them in (__collapse_huge_page_swapin)."""
    b = GuestBacking(R, KhugepagedScan(4096, 10, 511, 0, 1))
    touch(b, R, [0])
    b.swap_out(swapped)
    b.scan(10)
    b.check()
    assert (b.region[0] == HUGE) == collapsed
    assert b.swap_ins == (swapped if collapsed else 0)
    assert b.populated_pages() == (R if collapsed else R - swapped)


# ---------------------------------------------------------------- the host's decisions


def rep(guest, resident, swapped=0, held=0, tables=0, lru=(), swap_ins=0):
    return BackingReport(guest, resident, swapped, held, tables, resident // R, swap_ins, 0, tuple(lru))


def test_swap_quotas_take_the_oldest_pages_of_the_host_first():
    reports = [rep(0, 400, lru=[(10, 300), (30, 100)]), rep(1, 700, lru=[(10, 200), (20, 500)])]
    assert swap_quotas(reports, 700) == {0: 300, 1: 400}
    assert swap_quotas(reports, 250) == {0: 250}
    assert swap_quotas(reports, 10_000) == {0: 400, 1: 700}


def test_the_oom_victim_has_the_highest_badness_and_a_tie_goes_to_the_lower_id():
    """oom_badness = rss + swap entries + page tables."""
    a, b, c = rep(0, 100, swapped=50, tables=2), rep(1, 151, tables=1), rep(2, 120, swapped=32)
    assert [badness(r) for r in (a, b, c)] == [152, 152, 152]
    assert oom_victim([c, b, a]) == 0
    assert oom_victim([rep(0, 100), rep(1, 90, swapped=11)]) == 1


def host(capacity_pages, swap_pages=0, bandwidth=1 << 30):
    return Host(0, capacity_pages * C.PAGE_SIZE, swap_pages * C.PAGE_SIZE, bandwidth)


def test_reclaim_starts_below_low_and_shrinks_only_queued_folios():
    h = host(100_000, swap_pages=0)
    low = h.low
    h.update(rep(0, 100_000 - low))
    assert not h.needs_reclaim()
    h.update(rep(0, 100_000 - low - 10, held=5))
    h.update(rep(1, 11))
    assert h.needs_reclaim()
    assert h.first_pass() == {0: Reclaim(shrink=True)}  # no swap: no LRU asked


def test_swap_out_goes_to_high_within_the_devices_room_and_bandwidth():
    h = host(100_000, swap_pages=50_000, bandwidth=1000 * C.PAGE_SIZE)  # 1000 pages/s
    h.update(rep(0, 60_000, lru=[(0, 60_000)]))
    h.update(rep(1, 100_000 - 60_000 - h.low + 1000, lru=[(5, 10_000)]))  # 1000 below low
    assert h.first_pass() == {0: Reclaim(lru=True), 1: Reclaim(lru=True)}
    short = h.high - h.free()  # 1,000 + (high - low) pages up to high
    assert h.second_pass(interval_s=10, swapped_in=0) == {0: Reclaim(swap_out=short)}
    # the interval's swap-ins used 9,000 of the 10,000 pages the device moves: 1,000 left
    assert h.second_pass(interval_s=10, swapped_in=9_000) == {0: Reclaim(swap_out=1000)}
    assert h.swap_budget(10, 0) == 10_000


def test_when_swap_cannot_keep_up_the_largest_guest_is_killed():
    h = host(100_000, swap_pages=50_000, bandwidth=100 * C.PAGE_SIZE)  # 1,000 pages in 10 s
    h.update(rep(0, 70_000, lru=[(0, 70_000)]))
    h.update(rep(1, 31_000, lru=[(5, 31_000)]))  # 1,000 pages over capacity
    # 1,000 pages to swap, all from guest 0 (the oldest): free 0 < min, and
    # guest 0 (badness 70,000) is killed, its planned swap-out dropped
    assert h.second_pass(interval_s=10, swapped_in=0) == {0: Reclaim(kill=True)}
    h.kill(0)
    assert h.kills == [(0, 70_000)] and h.free() == 69_000 and list(h.reports) == [1]


def test_with_no_swap_the_oom_killer_kills_until_free_is_above_min():
    h = host(100_000)
    for g, pages in enumerate((40_000, 35_000, 30_000)):
        h.update(rep(g, pages))
    assert h.second_pass(interval_s=10, swapped_in=0) == {0: Reclaim(kill=True)}
    h.update(rep(0, 40_000))
    h.update(rep(2, 65_000))
    assert h.second_pass(interval_s=10, swapped_in=0) == {2: Reclaim(kill=True)}


# ---------------------------------------------------------------- memory pressure


def test_stall_windows_share_of_time_is_capped_at_one():
    w = pressure.StallWindow()
    w.add(0.5)
    assert w.share(10) == 0.05
    assert w.close(10) == 0.05 and w.share(20) == 0.0
    w.add(30.0)
    assert w.close(20) == 1.0


def test_direct_work_becomes_time_at_the_documented_costs():
    before = np.zeros(len(pressure.DIRECT_COUNTERS), dtype=np.int64)
    after = np.array([1000, 100_000, 50_000, 300, 10])  # reclaimed, scanned x2, migrated, failed
    expected = 1000 * 1e-6 + 150_000 * 1e-8 + 310 * 2e-6
    assert pressure.direct_stall_s(before, after) == pytest.approx(expected)
    assert pressure.swap_in_s(256, 1 << 20) == 1.0  # 1 MiB at 1 MiB/s


# ---------------------------------------------------------------- a host overcommitted for real

HOLD = {"peak_fraction": 0.8, "ramp_s": 40, "hold_s": 10_000, "period_s": 20_000}
# a job of 40 s a minute: the next one reuses the pages the last one freed,
# which the host may have swapped out meanwhile (it never learns they were freed)
AGAIN = {"peak_fraction": 0.8, "ramp_s": 20, "hold_s": 20, "period_s": 60}


def overcommitted(swap_size, bandwidth="500MiB", job=HOLD):
    """Three guests whose jobs take 80% of 640 MiB on a 320 MiB host."""
    return build_spec(
        {
            "experiment": {"duration_s": 120},
            "hosts": {"memory": "320MiB", "swap_size": swap_size, "swap_bandwidth": bandwidth},
            "policy": {"name": "none"},
            "guests": [
                {"count": 1, "memory": "256MiB", "workload": "batch", "workload_params": job},
                {"count": 2, "memory": "192MiB", "workload": "batch", "workload_params": job},
            ],
        }
    )


def run_host(spec):
    hc = HostController(spec, 0)
    pack = GuestPack(spec, [(0, g, 0 if g == 0 else 1) for g in range(3)])
    return hc.run(spec.experiment.duration_s, PackGuests(pack, 0))


def by_time(rows):
    out = {}
    for r in rows:
        out.setdefault(r["time_s"], []).append(r)
    return out


def test_an_overcommitted_host_swaps_and_conserves_its_memory_at_every_sample():
    rows = run_host(overcommitted("1GiB", job=AGAIN))
    samples = by_time(rows["samples"])
    hosts = {r["time_s"]: r for r in rows["hosts"]}
    assert sorted(hosts) == sorted(samples) == list(range(10, 121, 10))
    for t, h in hosts.items():
        guests = samples[t]
        assert h["host_free_bytes"] >= 0
        resident = sum(r["host_populated_pages"] for r in guests) * C.PAGE_SIZE
        swapped = sum(r["host_swapped_pages"] for r in guests) * C.PAGE_SIZE
        assert resident + h["host_free_bytes"] == h["host_memory_bytes"] == 320 << 20
        assert resident == h["host_resident_bytes"] and swapped == h["host_swap_used_bytes"] <= 1 << 30
        assert h["host_swap_out_bytes"] == sum(r["host_swap_out_pages"] for r in guests) * C.PAGE_SIZE
        assert len(guests) == 3
    at = {t: h for t, h in hosts.items()}
    assert at[40]["host_resident_bytes"] + at[40]["host_swap_used_bytes"] > 480 << 20  # 80% of 640 MiB, partly in swap
    last = rows["hosts"][-1]
    assert last["host_swap_out_bytes"] > 200 << 20 and last["host_swap_in_bytes"] > 0 and last["host_oom_kills"] == 0
    assert any(e["event"] == "swap_storm" for e in rows["events"])
    assert not any(e["event"] == "oom_kill" for e in rows["events"])


def test_without_swap_the_oom_killer_kills_the_largest_guest_and_its_rows_end():
    rows = run_host(overcommitted(0))
    kills = [e for e in rows["events"] if e["event"] == "oom_kill"]
    assert kills, "the host never ran out"
    first = kills[0]
    t, victim = first["time_s"], first["guest"]
    assert victim == 0  # the 256 MiB guest: the largest resident set
    survivors = [r for r in rows["samples"] if r["time_s"] == t]
    assert victim not in {r["guest"] for r in survivors}
    assert all(first["old_bytes"] > r["host_populated_pages"] * C.PAGE_SIZE for r in survivors)
    assert max(r["time_s"] for r in rows["samples"] if r["guest"] == victim) == t - 10
    hosts = {r["time_s"]: r for r in rows["hosts"]}
    assert all(h["host_free_bytes"] >= 0 and h["host_swap_used_bytes"] == 0 for h in hosts.values())
    killed_by_t = len([k for k in kills if k["time_s"] <= t])
    assert hosts[t]["host_oom_kills"] == killed_by_t and hosts[t]["host_guests"] == 3 - killed_by_t


def test_a_swapped_in_page_is_a_stall_the_guest_reports():
    """A guest touching pages the host swapped out waits for them: at 64 MiB/s
    each swapped-in page costs 61 us, which the samples row of its interval
    reports (with the direct reclaim and compaction it did)."""
    rows = run_host(overcommitted("1GiB", bandwidth="64MiB", job=AGAIN))
    before: dict[int, int] = {}
    seen = 0
    for r in rows["samples"]:
        swapped_in = r["host_swap_in_pages"] - before.get(r["guest"], 0)
        before[r["guest"]] = r["host_swap_in_pages"]
        assert 0 <= r["psi_memory_some"] <= 1
        if swapped_in:
            seen += 1
            assert r["psi_memory_some"] >= min(1.0, swapped_in * C.PAGE_SIZE / (64 << 20) / 10) - 1e-12
    assert seen


def test_the_stats_record_carries_the_pressure_of_the_last_policy_interval():
    """The next job reuses pages the host swapped out after the last one
    exited: the stats record the policy sees at 70 s and the samples row
    report the same share (both intervals are 10 s), the field being
    GuestStats' last."""
    from dataclasses import fields

    from fleet.guest import Guest
    from fleet.records import GuestStats

    spec = overcommitted("1GiB", bandwidth="64MiB", job=AGAIN)
    guest = Guest(spec, 0, 2, spec.guests[1])
    guest.advance(50, None)  # the first job has exited at 40 s; its pages stay backed
    guest.reclaim(Reclaim(swap_out=guest.report().resident))
    guest.advance(60, None)  # the next job starts at 60 s
    stats, rows = guest.advance(70, None)
    assert guest.report().swap_ins > 0
    assert stats.psi_memory_some == rows[-1]["psi_memory_some"] > 0
    assert fields(GuestStats)[-1].name == "psi_memory_some"


# ---------------------------------------------------------------- the spec


def test_swap_settings_take_units_and_are_checked():
    h = build_spec({"hosts": {"swap_size": "2GiB", "swap_bandwidth": "100MiB"}, "guests": [{}]}).hosts
    assert (h.swap_size, h.swap_bandwidth) == (2 << 30, 100 << 20)
    d = build_spec({"guests": [{}]}).hosts
    assert (d.swap_size, d.swap_bandwidth) == (4 << 30, 500 << 20)
    with pytest.raises(SpecError, match="hosts.swap_bandwidth: must be positive"):
        build_spec({"hosts": {"swap_bandwidth": 0}, "guests": [{}]})
    with pytest.raises(SpecError, match="hosts.swap_size: must not be negative"):
        build_spec({"hosts": {"swap_size": -1}, "guests": [{}]})
