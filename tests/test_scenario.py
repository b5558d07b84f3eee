"""The scenario language's verbs that real-guest parity added: the strided
punch, THP memory a process exit frees, and daemons that run during steps."""

import numpy as np
import pytest

from fleet.memory import constants as C
from fleet.memory.rng import new_rng, random01
from fleet.memory.zone import Zone
from fleet.scenario import BALLOON_BATCH_MIGRATIONS, THP_FAULT_MIGRATIONS, ScenarioError, ScenarioRunner, parse_steps
from tests.lists import walk

PB = C.PAGEBLOCK_NR_PAGES


def run(zone, text, **kw):
    runner = ScenarioRunner(zone, **kw)
    for step in parse_steps(text):
        runner.run(step)
    return runner


def listed(zone, o):
    return walk(zone, zone.a.own_head[o])


@pytest.mark.parametrize("n", [2, 3, 7])
def test_punch_every_n_frees_every_nth_page_in_allocation_order(n):
    zone = Zone(16 * PB, rng=new_rng(1, 0))
    runner = run(zone, "fill anon=8MiB")
    o = runner.owners["anon"]
    before = listed(zone, o)
    runner.run(parse_steps(f"punch anon every {n}")[0])
    after = listed(zone, o)
    assert after == [p for i, p in enumerate(before) if i % n]
    assert all(zone.a.owner[p] == C.OWNER_NONE for p in before[::n])
    zone.check()


def test_strided_holes_take_the_movable_balloon_in_place():
    """Every other page of a sequential fill freed: a movable balloon of that
    many pages lands in those holes (LIFO free lists), not in clean blocks."""
    zone = Zone(32 * PB, rng=new_rng(2, 0), balloon_compaction=True)
    runner = run(zone, "fill anon=32MiB")
    before = set(listed(zone, runner.owners["anon"]))
    runner.run(parse_steps("punch anon every 2")[0])
    holes = before - set(listed(zone, runner.owners["anon"]))
    free_2mib = zone.free_2mib_blocks()
    runner.run(parse_steps("balloon 4MiB")[0])
    assert zone.free_2mib_blocks() == free_2mib
    balloon = listed(zone, zone.balloon_owner)
    assert len(balloon) == 1024 and set(balloon) <= holes


def test_free_thp_frees_huge_pages_and_their_fallbacks():
    zone = Zone(16 * PB, rng=new_rng(3, 0), thp_defrag="never")
    # leave room for 3 huge pages only, so most of the 8 faults fall back
    runner = run(zone, "fill anon=22MiB; thp 16MiB")
    thp, fallback = runner.owners["thp"], runner.owners["thp_fallback"]
    assert zone.owner_pages(thp) > 0 and zone.owner_pages(fallback) > 0
    anon = zone.owner_pages(runner.owners["anon"])
    runner.run(parse_steps("free thp")[0])
    assert zone.owner_pages(thp) == zone.owner_pages(fallback) == 0
    assert zone.owner_pages(runner.owners["anon"]) == anon
    zone.check()


def test_daemons_always_reclaim_during_a_fill_and_wait_mode_does_not():
    def fill(daemons):
        zone = Zone(16 * PB, rng=new_rng(4, 0))
        run(zone, "fill file=28MiB; fill anon=4MiB", daemons=daemons)
        return int(zone.a.vm[C.VM["pgscan_kswapd"]])

    assert fill("wait") == 0
    assert fill("always") > 0


@pytest.mark.parametrize(
    "text, words",
    [
        ("punch anon every 0", "every N"),
        ("punch anon every x", "every N"),
        ("free bogus", "unknown kind"),
        ("fill thp=2MiB", "unknown kind"),
    ],
)
def test_bad_steps_name_the_step(text, words):
    with pytest.raises(ScenarioError, match=words):
        parse_steps(text)


def test_step_text_is_kept():
    assert [str(s) for s in parse_steps("fill  anon=1MiB ;punch anon every 2; free thp")] == [
        "fill anon=1MiB",
        "punch anon every 2",
        "free thp",
    ]


def test_memblock_reserved_ranges_never_reach_the_buddy_allocator():
    zone = Zone(16 * PB, rng=new_rng(5, 0), reserved=((0, 700), (16 * PB - 300, 300)))
    assert zone.nr_free == 16 * PB - 1000
    assert int(zone.a.zs[C.ZS_MANAGED]) == 16 * PB - 1000
    assert np.all(zone.a.owner[:700] != C.OWNER_NONE) and np.all(zone.a.owner[-300:] != C.OWNER_NONE)
    assert np.all(zone.a.pb_mt == C.MIGRATE_MOVABLE)  # memmap_init's type stays
    zone.check()
    # the free range 700..7892: the largest naturally aligned blocks that fit
    want = np.zeros(C.NR_PAGE_ORDERS, dtype=np.int64)
    pfn = 700
    while pfn < 16 * PB - 300:
        order = next(
            o for o in range(C.MAX_PAGE_ORDER, -1, -1) if pfn % (1 << o) == 0 and pfn + (1 << o) <= 16 * PB - 300
        )
        want[order] += 1
        pfn += 1 << order
    assert list(zone.a.nr_free.sum(axis=1)) == list(want)
    assert want[2] == 2 and want[10] == 6
    run(zone, "fill anon=20MiB; compact; free anon")
    zone.check()
    assert np.all(zone.a.owner[:700] == zone.a.owner[0])


def daemon_rounds(monkeypatch, zone):
    """Record each run_daemons call as (proactiveness, seconds)."""
    rounds = []
    real = zone.run_daemons

    def spy(kcompactd=True, proactiveness=0, seconds=1, budget=0):
        rounds.append((proactiveness, seconds))
        return real(kcompactd=kcompactd, proactiveness=proactiveness, seconds=seconds, budget=budget)

    monkeypatch.setattr(zone, "run_daemons", spy)
    return rounds


@pytest.mark.parametrize("seconds", [None, 0.4, 1.6])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kcompactd_checks_every_500_ms_of_a_step_whose_duration_is_known(monkeypatch, seconds, seed):
    """The first check at the phase drawn from the zone's generator when the
    step starts, then every 500 ms of the step; none without a duration."""
    zone = Zone(64 * PB, rng=new_rng(seed, 0), thp_defrag="always")
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    rounds = daemon_rounds(monkeypatch, zone)
    phase = 0.5 * float(random01(zone.rng.copy()))
    runner.step_seconds = seconds
    runner.run(parse_steps("thp 64MiB")[0], settle=False)  # 32 faults
    checks = 0 if seconds is None else int((seconds - phase) // 0.5) + 1 if seconds >= phase else 0
    assert [r for r in rounds if r[0]] == [(20, 0.5)] * checks
    assert len(rounds) == 32  # each fault ends with a round, with or without the check


def test_the_first_check_of_a_timed_step_falls_anywhere_in_its_first_500_ms():
    """The phase of kcompactd's timer when a step starts is unknown (the
    recorder's reads and drain take a time the model does not follow): a
    uniform draw from the zone's generator, the same for the same seed."""
    phases = []
    for seed in range(40):
        zone = Zone(8 * PB, rng=new_rng(seed, 0))
        runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
        runner.step_seconds = 0.1
        runner.run(parse_steps("wait 0")[0], settle=False)
        phases.append(runner._next_check_s)
    assert all(0 <= p < 0.5 for p in phases)
    assert min(phases) < 0.1 and max(phases) > 0.4
    again = ScenarioRunner(Zone(8 * PB, rng=new_rng(0, 0)), proactiveness=20, daemons="always")
    again.step_seconds = 0.1
    again.run(parse_steps("wait 0")[0], settle=False)
    assert again._next_check_s == phases[0]


@pytest.mark.parametrize("order, restarts", [(9, True), (0, False)])
def test_a_kcompactd_wake_restarts_its_500_ms_timer_an_order_0_kswapd_wake_does_not(monkeypatch, order, restarts):
    """6.1: kswapd woken for order > 0 wakes kcompactd when it sleeps again
    (kcompactd(): timeout = default_timeout); for order 0, not boosted,
    wakeup_kcompactd returns at once and the timer runs on."""
    zone = Zone(64 * PB, rng=new_rng(1, 0), thp_defrag="always")
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    rounds = daemon_rounds(monkeypatch, zone)
    runner.step_seconds = 1.0
    runner._next_check_s = 0.5
    zone.a.zs[C.ZS_KSWAPD_WAKE] = order + 1  # woken before the first piece ends, at 0.5 s
    runner._daemons_between(0.5)
    runner._daemons_between(0.9)
    runner._daemons_between(1.0)
    if restarts:  # no check at 0.5 s, the next one at 1.0 s
        assert rounds == [(0, 1), (0, 1), (20, 0.5)]
    else:  # the check at 0.5 s as due, the next at 1.0 s
        assert rounds == [(0, 1), (20, 0.5), (0, 1), (20, 0.5)]


def test_a_thp_burst_gives_a_proactive_run_the_cpu_time_of_each_fault(monkeypatch):
    """Under CFS the faulting task and kcompactd share the one vCPU: after
    each fault the live proactive run may migrate as many pages as the fault
    took time, THP_FAULT_MIGRATIONS for the clearing plus the pages the
    fault's own compaction migrated; after the burst, all it needs."""
    zone = Zone(64 * PB, rng=new_rng(1, 0), thp_defrag="always")
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    shares = []
    real = zone.continue_kcompactd
    migrated = []

    def spy(budget=0):
        shares.append(budget)
        migrated.append(int(zone.a.vm[C.VM_PGMIGRATE_SUCCESS]))
        real(budget)

    monkeypatch.setattr(zone, "continue_kcompactd", spy)
    runner.run(parse_steps("thp 16MiB")[0])  # 8 faults, then the step's closing round
    assert len(shares) == 9 and shares[-1] == 0
    assert all(s >= THP_FAULT_MIGRATIONS for s in shares[:-1])
    own = [b - a for a, b in zip([0] + migrated[:-1], migrated)]  # what each fault itself migrated (upper bound)
    assert all(s <= THP_FAULT_MIGRATIONS + o for s, o in zip(shares[:-1], own))


def test_a_balloon_inflation_gives_kcompactd_the_cpu_time_of_each_batch(monkeypatch):
    """The balloon's worker and kcompactd share the one vCPU: once the
    pre-seed balloon has taken the free pageblocks, its steals boost the
    watermark, kswapd wakes kcompactd, and after each batch kcompactd's run
    may migrate BALLOON_BATCH_MIGRATIONS pages (a run that ends and one that
    starts in the same round: at most two shares); the step's closing round
    gives it all it needs."""
    zone = Zone(128 * PB, rng=new_rng(1, 0), balloon_compaction=False)
    runner = ScenarioRunner(zone, daemons="always")
    for step in parse_steps("fill anon=180MiB; punch anon 0.5"):
        runner.run(step)
    shares, migrated = [], []
    real = zone.continue_kcompactd

    def spy(budget=0):
        shares.append(budget)
        migrated.append(int(zone.a.vm[C.VM_PGMIGRATE_SUCCESS]))
        real(budget)

    monkeypatch.setattr(zone, "continue_kcompactd", spy)
    runner.run(parse_steps("balloon 120MiB")[0])
    assert set(shares[:-1]) == {BALLOON_BATCH_MIGRATIONS} and shares[-1] == 0
    assert int(zone.a.vm[C.VM_COMPACT_DAEMON_WAKE]) > 0
    steps = [b - a for a, b in zip(migrated, migrated[1:])]
    assert 0 < max(steps) <= 2 * BALLOON_BATCH_MIGRATIONS


def test_anon_and_thp_come_with_their_page_tables():
    """fill anon: a PTE page per 2 MiB, unmovable; a punch keeps them; a THP
    fault deposits one, a fallback maps its base pages with one; exit frees
    them all (memory/pgtable.py, huge_memory.thp_fault)."""
    zone = Zone(32 * PB, rng=new_rng(1, 0), thp_defrag="always")
    runner = run(zone, "fill anon=9MiB")
    tables = runner.owners["anon_pagetable"]
    assert zone.owner_pages(tables) == 5  # 2304 pages: 4.5 PTE pages' worth
    assert np.all(zone.a.pb_mt[np.flatnonzero(zone.a.owner == tables) >> C.PAGEBLOCK_ORDER] == C.MIGRATE_UNMOVABLE)
    runner.run(parse_steps("punch anon every 2")[0])
    assert zone.owner_pages(tables) == 5
    runner.run(parse_steps("thp 8MiB")[0])
    assert zone.owner_pages(runner.owners["thp_pagetable"]) == 4
    for kind, pt in (("anon", "anon_pagetable"), ("thp", "thp_pagetable")):
        runner.run(parse_steps(f"free {kind}")[0])
        assert zone.owner_pages(runner.owners[pt]) == 0
    zone.check()


def test_a_fallen_back_region_maps_its_base_pages_with_one_pte_page():
    zone = Zone(16 * PB, rng=new_rng(3, 0), thp_defrag="never")
    runner = run(zone, "fill anon=28MiB; punch anon every 2; thp 8MiB")  # 14 MiB free, in 4 KiB holes
    fallbacks = int(zone.a.vm[C.VM["thp_fault_fallback"]])
    huge = zone.owner_pages(runner.owners["thp"]) // 512
    assert fallbacks > 0 and zone.owner_pages(runner.owners["thp_pagetable"]) == huge + fallbacks
