"""The model's side of a validation scenario: the same steps in a Zone of the
guest's DMA32 size, with the daemons of a real 6.1 kernel running during the
steps (kswapd, kcompactd, proactive compaction at its default 20), and a
snapshot of the compared figures after boot and after every step."""

import numpy as np

from ..memory import constants as C
from ..memory.rng import new_rng
from ..memory.zone import Zone
from ..scenario import ScenarioRunner
from .boot import BootState, boot_zone
from .scenarios import Scenario

PROACTIVENESS = 20  # vm.compaction_proactiveness default (5.9+)


def model_snapshot(zone: Zone) -> dict:
    """What the comparison reads from the model. The model has no per-cpu
    page lists, so its buddyinfo is also its drained buddyinfo."""
    free = zone.free_2mib_blocks()
    vm = {name: int(zone.a.vm[i]) for i, name in enumerate(C.VM_NAMES)}
    return {
        "free_2mib": free,
        "free_2mib_drained": free,
        "unmovable_pageblocks": int(np.count_nonzero(zone.a.pb_mt == C.MIGRATE_UNMOVABLE)),
        "vmstat": vm,
    }


def run_model(sc: Scenario, boot: BootState, world: str, seed: int) -> list[dict]:
    """Boot and every step of the scenario; one snapshot each."""
    zone = boot_zone(boot, sc.zone_pages, era="6.x", balloon_compaction=world == "on", rng=new_rng(seed, 0))
    runner = ScenarioRunner(zone, thp_defrag=sc.thp_defrag, proactiveness=PROACTIVENESS, daemons="always")
    snaps = [model_snapshot(zone)]
    for step in sc.steps:
        runner.run(step)
        snaps.append(model_snapshot(zone))
    return snaps
