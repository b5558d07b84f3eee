"""A huge PMD's deposited PTE page (huge_memory.thp_fault, zap_huge_pmds):
allocated after the huge page, unmovable, freed with it, and the fault
released when it cannot be had (VM_FAULT_OOM)."""

import numpy as np
import pytest

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS, WMARK_MIN
from fleet.memory.zone import Zone
from tests.memory.zones import PB, vm


def thp_zone(era, defrag="always", pcp=True):
    z = Zone(16 * PB, era=era, rng=new_rng(1, 0), thp_defrag=defrag, pcp=pcp)
    owners = [z.register_owner(n, k) for n, k in (("thp", C.KIND_THP), ("anon", C.KIND_ANON), ("pt", C.KIND_PAGETABLE))]
    return z, owners


def pfns_of(z, o):
    return np.flatnonzero(z.a.owner == o)


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_every_huge_page_deposits_one_unmovable_pte_page_freed_with_it(era):
    z, (thp, anon, pt) = thp_zone(era)
    free = z.nr_free + z.pcp_pages
    assert z.thp_fault(thp, anon, pt, 4) == (4, 0, 0)
    assert z.owner_pages(thp) == 4 * 512 and z.owner_pages(pt) == 4
    assert np.all(z.a.pb_mt[pfns_of(z, pt) >> C.PAGEBLOCK_ORDER] == C.MIGRATE_UNMOVABLE)
    assert z.owner_pages(anon) == 0 and vm(z, "thp_fault_alloc") == 4
    z.check()
    assert z.free_thp(thp, pt, 2 * 512, z.rng, "oldest") == 2 * 512
    assert z.owner_pages(thp) == 2 * 512 and z.owner_pages(pt) == 2
    z.free_thp(thp, pt, z.owner_pages(thp), z.rng)
    assert z.owner_pages(thp) == z.owner_pages(pt) == 0
    assert z.nr_free + z.pcp_pages == free
    z.check()


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_a_fallen_back_fault_deposits_nothing(era):
    """The base pages' PTE page is do_anonymous_page's, the caller's to count."""
    z, (thp, anon, pt) = thp_zone(era, defrag="never", pcp=False)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    assert z.alloc_bulk(kernel, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for p in range(z.nr_pages):
        if p % PB:  # one pinned page per pageblock: no order-9 block anywhere
            z.free(p)
    assert z.free_2mib_blocks() == 0
    assert z.thp_fault(thp, anon, pt, 2) == (0, 2, 0)
    assert z.owner_pages(anon) == 2 * 512 and z.owner_pages(pt) == 0
    z.check()


@pytest.mark.parametrize("era", ["6.x", "3.8"])
def test_a_fault_without_its_pte_page_releases_the_huge_page(era):
    """One free pageblock and `min` free pages besides: the order-9 page
    passes the min watermark, the PTE page after it does not, and nothing
    is reclaimable; __do_huge_pmd_anonymous_page puts the folio back and
    returns VM_FAULT_OOM, counting neither alloc nor fallback."""
    z, (thp, anon, pt) = thp_zone(era, pcp=False)
    kernel = z.register_owner("kernel", C.KIND_KERNEL)
    assert z.alloc_bulk(kernel, 0, z.nr_pages, ALLOC_NO_WATERMARKS) == z.nr_pages
    for p in range(15 * PB, 16 * PB):
        z.free(p)
    for p in range(0, z.watermark(WMARK_MIN)):
        z.free(p)
    free = z.nr_free
    assert z.thp_fault(thp, anon, pt, 1) == (0, 0, 512)
    assert z.owner_pages(thp) == z.owner_pages(pt) == 0 and z.nr_free == free
    assert vm(z, "thp_fault_alloc") == vm(z, "thp_fault_fallback") == 0
    z.check()
