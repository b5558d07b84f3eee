"""Transparent huge page faults (mm/huge_memory.c, `do_huge_pmd_anonymous_page`
with `vma_thp_gfp_mask`, 5.10+ text, unchanged in 6.x).

A PMD fault asks for an order-9 Movable block with a gfp mask chosen by the
defrag mode and by whether the region was advised with MADV_HUGEPAGE; on
success thp_fault_alloc counts, on failure thp_fault_fallback counts and the
fault maps 512 base pages instead, allocated as ordinary anon memory.
khugepaged is not modelled.
"""

from . import constants as C
from .alloc import alloc_pages_gfp, alloc_pages_gfp_bulk
from .jit import kernel

DEFRAG_MODES = C.DEFRAG_MODES
DEFRAG_ALWAYS = 0
DEFRAG_DEFER = 1
DEFRAG_DEFER_MADVISE = 2
DEFRAG_MADVISE = 3
DEFRAG_NEVER = 4


@kernel
def thp_gfp(defrag, madvised):
    """`vma_thp_gfp_mask`: the reclaim bits of the THP fault's gfp mask."""
    if defrag == DEFRAG_ALWAYS:
        return C.GFP_DIRECT_RECLAIM if madvised else C.GFP_DIRECT_RECLAIM | C.GFP_NORETRY
    if defrag == DEFRAG_DEFER:
        return C.GFP_KSWAPD_RECLAIM
    if defrag == DEFRAG_DEFER_MADVISE:
        return C.GFP_DIRECT_RECLAIM if madvised else C.GFP_KSWAPD_RECLAIM
    if defrag == DEFRAG_MADVISE:
        return C.GFP_DIRECT_RECLAIM if madvised else 0
    return 0


@kernel
def thp_fault(z, thp_owner, anon_owner, nr_faults, defrag, madvised, rng):
    """`nr_faults` PMD-sized faults; returns (huge pages, fallbacks, base pages
    that could not be allocated at all)."""
    gfp = thp_gfp(defrag, madvised)
    huge = 0
    fallback = 0
    missing = 0
    for _ in range(nr_faults):
        if alloc_pages_gfp(z, C.HPAGE_PMD_ORDER, thp_owner, gfp, rng) >= 0:
            z.vm[C.VM_THP_FAULT_ALLOC] += 1
            huge += 1
            continue
        z.vm[C.VM_THP_FAULT_FALLBACK] += 1
        fallback += 1
        n = 1 << C.HPAGE_PMD_ORDER
        missing += n - alloc_pages_gfp_bulk(z, anon_owner, 0, n, C.GFP_USER, rng)
    return huge, fallback, missing
