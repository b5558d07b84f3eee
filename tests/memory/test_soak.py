"""Soak: millions of page operations through churn, reclaim, compaction and
ballooning, the invariant checker run every few seconds (make test-long)."""

import pytest

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.zone import Zone
from fleet.workload.random_mix import MixSpec, RandomMix


@pytest.mark.slow
@pytest.mark.parametrize("era", ["6.x", "3.8"])
@pytest.mark.parametrize("balloon_compaction", [False, True])
def test_soak(era, balloon_compaction):
    zone = Zone(65536, era=era, balloon_compaction=balloon_compaction, rng=new_rng(11, 0))
    load = RandomMix(zone, MixSpec(fill=0.6, churn_mib_per_s=128), zone.rng)
    ops_before = 0
    for second in range(600):
        load.tick()
        target = (second // 60) % 2 * 8192  # 32 MiB of balloon every other minute
        while zone.balloon_pages() != target:
            diff = target - zone.balloon_pages()
            if (zone.inflate(diff) if diff > 0 else zone.deflate(-diff)) == 0:
                break
        if second % 30 == 29:
            zone.compact_memory()
        zone.run_daemons(proactiveness=20)
        if second % 10 == 0:
            zone.check()
    zone.check()
    assert load.ops - ops_before > 1_000_000
    if not balloon_compaction:
        assert zone.a.vm[C.VM_BALLOON_MIGRATE] == 0
