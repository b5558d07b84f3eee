"""The model's side of a validation scenario: a step runs as the guest's
shell runs it (its pages freed at exit, the pgd last), and the figures are
read when the recorder reads them."""

import json
import statistics
from pathlib import Path

from fleet.memory import compaction
from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone
from fleet.scenario import ScenarioRunner, parse_steps
from fleet.validate.compare import model_runs
from fleet.validate.model import Shell, drain_daemons, recorder_drain, run_step_process
from fleet.validate.scenarios import load_scenario

GIB = 1 << 18  # pages
FOLDER = Path(__file__).parents[2] / "experiments" / "validation"


def steps_in_zone(text):
    zone = Zone(GIB, rng=new_rng(1, 0))
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    shell = Shell(zone)
    return zone, [run_step_process(zone, runner, step, shell) for step in parse_steps(text)]


def test_a_shell_step_that_frees_ends_with_the_lists_drained():
    """punch frees 64k pages through the per-cpu lists, which spill; the
    shell's order-1 pgd freed at exit then frees the whole list (free_high)."""
    zone = Zone(GIB, rng=new_rng(1, 0))
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    shell = Shell(zone)
    fill, punch = parse_steps("fill anon=512MiB; punch anon every 2")
    runner.run(fill)
    tables = shell.start()
    runner.run(punch, settle=False)
    assert zone.pcp_pages > zone.pcp_high // 2
    shell.exit(tables)
    assert zone.pcp_pages == 0


def test_between_processes_the_lists_keep_a_refill_batch_each():
    """A process takes its pgd (order 1), a page table and an anon page
    through the lists, each refilling an empty list with a batch (max(batch
    >> order, 2) blocks above order 0), and gives them back at exit: after
    the recorder's drain the lists hold that much through any number of
    later processes, as the real guest's held 95-99 pages over successive
    readings."""
    zone = Zone(GIB, rng=new_rng(1, 0))
    shell = Shell(zone)
    recorder_drain(zone, shell, lambda: None)
    batch = int(zone.a.zs[C.ZS_PCP_BATCH])
    kept = 2 * batch + 2 * max(batch >> 1, 2)
    for _ in range(3):
        shell.exit(shell.start())
        assert zone.pcp_pages == kept
    zone.check()


def test_a_balloon_deflate_leaves_the_lists_full():
    """The balloon moves over QMP, with no process to exit: the deflated
    pages stay on the per-cpu lists up to pcp->high, hiding free 2 MiB
    blocks that the drained count shows. The recorder's drain empties them
    (but for the refills of the recorder's own shell) and leaves high
    recomputed from the low watermark of that moment."""
    zone, snaps = steps_in_zone("fill anon=512MiB; punch anon every 2; balloon 256MiB; free anon; balloon 0")
    assert snaps[-1]["free_2mib"] < snaps[-1]["free_2mib_drained"]
    assert zone.pcp_pages < 4 * int(zone.a.zs[C.ZS_PCP_BATCH])  # the recorder's shell's refills only
    low = int(zone.a.zs[C.ZS_WMARK_LOW] + zone.a.zs[C.ZS_WATERMARK_BOOST])
    assert int(zone.a.zs[C.ZS_PCP_HIGH]) == max(low, int(zone.a.zs[C.ZS_PCP_BATCH]) << 2)


def test_the_recorders_drain_runs_the_daemons_with_lists_at_their_floor():
    """Proactive compaction that runs while steps.drain_pcp holds pcp->high
    at 4 * batch frees its migrated pages straight to the buddy lists, so it
    stops at its low mark (score 80) with nothing hidden, and the drained
    lists leave the score there. With high at the low watermark the lists
    kept 12k freed pages and draining them took the score to about 50
    (balloon-beyond-clean, step 3: 73 free 2 MiB blocks in the model where
    the real guest shows 30)."""
    zone = Zone(GIB, rng=new_rng(1, 0), balloon_compaction=False)
    runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
    shell = Shell(zone)
    steps = parse_steps("fill anon=720MiB; punch anon 0.5; balloon 300MiB")
    snaps = [run_step_process(zone, runner, s, shell) for s in steps]
    assert snaps[-1]["free_2mib"] <= 1 < snaps[-1]["free_2mib_drained"]
    assert int(zone.a.vm[C.VM_PGMIGRATE_SUCCESS]) > 0
    assert 70 <= compaction.fragmentation_score(zone.a) <= 85


def test_the_first_read_comes_before_the_steps_closing_daemon_round():
    """Counters are read right after the step; proactive compaction, in the
    closing round, shows only in the drained figure read seconds later."""
    zone, snaps = steps_in_zone("fill anon=980MiB; punch anon every 2")  # fragmentation score > 90
    assert snaps[-1]["vmstat"]["pgmigrate_success"] == 0
    assert int(zone.a.vm[C.VM_PGMIGRATE_SUCCESS]) > 0
    assert snaps[-1]["free_2mib_drained"] > snaps[-1]["free_2mib"]


def test_page_tables_follow_the_real_guests_step_by_step():
    """Each step's change in page-table pages (nr_page_table_pages), model
    against the recorded kernels, thp-under-fragmenter: the fill's PTE
    pages (1100 MiB of anon: 550), a THP burst's deposits (one per huge
    page) and the fallen-back regions' PTE pages, all freed by `free thp`.
    The real guest has a few more (its processes' PMD, PUD and stack
    tables), hence the margin."""
    sc = load_scenario(FOLDER / "thp-under-fragmenter.toml")
    ref = json.loads(sc.reference_path.read_text())
    runs = ref["runs"]["on"]
    (snaps,) = model_runs(sc, ref, "on", (1,))

    def tables(s):
        return s["vmstat"]["nr_page_table_pages"]

    for i, step in enumerate(ref["steps"], start=1):
        real = statistics.fmean(tables(r["snapshots"][i]) - tables(r["snapshots"][i - 1]) for r in runs)
        model = tables(snaps[i]) - tables(snaps[i - 1])
        assert abs(model - real) <= max(16, 0.05 * abs(real)), (step, model, real)


def test_a_proactive_check_that_gave_way_to_kswapd_comes_again_in_the_drain():
    """The recorder's drain lasts over a second (its `sleep 1`), so
    kcompactd's 500 ms timer fires in it again: a closing round in which
    kswapd ran skips the proactive check (kswapd_is_running), the next
    check, kswapd asleep, compacts."""
    migrated = []
    (punch,) = parse_steps("punch anon every 2")
    for daemons in ("settle", "drain"):
        zone = Zone(64 * C.PAGEBLOCK_NR_PAGES, rng=new_rng(1, 0))
        anon = zone.register_owner("anon", C.KIND_ANON)
        assert zone.alloc_bulk(anon, 0, zone.nr_pages, ALLOC_NO_WATERMARKS) == zone.nr_pages
        zone.free_owner_every(anon, 2)  # fragmentation score 100
        zone.drain_pcp()
        runner = ScenarioRunner(zone, proactiveness=20, daemons="always")
        zone.a.zs[C.ZS_KSWAPD_WAKE] = 1
        runner.settle(punch) if daemons == "settle" else drain_daemons(runner, punch)
        migrated.append(int(zone.a.vm[C.VM_PGMIGRATE_SUCCESS]))
    assert migrated[0] == 0 < migrated[1]
    assert compaction.fragmentation_score(zone.a) <= 80
