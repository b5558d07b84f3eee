"""compact_migrate_scanned counts the pfns the migrate scanner passes, by the
rules of each era (isolate_migratepages_block)."""

import pytest

from fleet.memory import compaction
from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone

PB = C.PAGEBLOCK_NR_PAGES
FREE_RUN = 64  # an order-6 free block at the start of pageblock 1


def thp_then_free_run(era):
    """Pageblock 0 holds one THP; pageblock 1 starts with a free order-6 block,
    the rest of the zone is order-0 anon (no per-cpu lists: the frees
    build the layout)."""
    z = Zone(8 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    anon = z.register_owner("anon", C.KIND_ANON)
    thp = z.register_owner("thp", C.KIND_THP)
    assert z.alloc_bulk(anon, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for pfn in range(PB):
        z.free(pfn)
    assert z.alloc(thp, C.HPAGE_PMD_ORDER, ALLOC_NO_WATERMARKS) == 0
    for pfn in range(PB, PB + FREE_RUN):
        z.free(pfn)
    z.check()
    return z


def scan_one_block(z):
    """One isolate_migratepages call of a whole-zone run; (isolated, scanned)."""
    before = int(z.a.vm[C.VM_COMPACT_MIGRATE_SCANNED])
    nr = compaction.isolate_migratepages(z.a, z.a.cc, z.a.cc_migrate)
    return int(nr), int(z.a.vm[C.VM_COMPACT_MIGRATE_SCANNED]) - before


@pytest.mark.parametrize("era, thp_counted", [("6.x", PB), ("3.8", 1)])
def test_migrate_scanner_counts_the_pfns_it_passes(era, thp_counted):
    z = thp_then_free_run(era)
    compaction.init_cc(z.a, -1, compaction.MIGRATE_SYNC, 1, 1, 0, 0)
    # Pageblock 0: the THP is stepped over whole; 6.x counts its 512 pages,
    # 3.8 only the head it looked at.
    assert scan_one_block(z) == (0, thp_counted)
    # Pageblock 1: the free block counts whole in both eras, then one pfn per
    # anon page until a cluster of 32 is isolated.
    nr, scanned = scan_one_block(z)
    assert nr == C.COMPACT_CLUSTER_MAX
    assert scanned == FREE_RUN + C.COMPACT_CLUSTER_MAX
    assert z.a.cc[compaction.CC_MIGRATE_PFN] == PB + FREE_RUN + C.COMPACT_CLUSTER_MAX
