"""Transparent huge page faults (mm/huge_memory.c, `do_huge_pmd_anonymous_page`
with `vma_thp_gfp_mask`, 5.10+ text, unchanged in 6.x).

A PMD fault asks for an order-9 Movable block with a gfp mask chosen by the
defrag mode and by whether the region was advised with MADV_HUGEPAGE; on
success thp_fault_alloc counts, on failure thp_fault_fallback counts and the
fault maps 512 base pages instead, allocated as ordinary anon memory.
khugepaged is not modelled.

A huge PMD keeps a PTE page in reserve: `__do_huge_pmd_anonymous_page`
allocates the folio, then `pte_alloc_one` (GFP_PGTABLE_USER, an unmovable
order-0 page) and deposits it under the PMD (`pgtable_trans_huge_deposit`),
so that splitting the PMD later never needs memory; zapping the PMD frees
it (`zap_deposited_table`). x86-64 deposits in both eras (3.8 calls
pte_alloc_one in the same function). If the PTE page cannot be had the
fault releases the folio and fails with VM_FAULT_OOM, counting neither
alloc nor fallback (the model counts its 512 pages as missing). The PTE page of a fallen-back region maps base pages
and belongs to the anon mapping (do_anonymous_page's pte_alloc): the caller
accounts it with its other anon page tables.
"""

from . import constants as C
from .alloc import alloc_pages_gfp, alloc_pages_gfp_bulk
from .jit import kernel
from .page_alloc import free_owner_pages, free_pages

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
def thp_fault(z, thp_owner, anon_owner, pt_owner, nr_faults, defrag, madvised, rng):
    """`nr_faults` PMD-sized faults, each huge page with its deposited PTE
    page (owner `pt_owner`); returns (huge pages, fallbacks, base pages that
    could not be allocated at all)."""
    gfp = thp_gfp(defrag, madvised)
    huge = 0
    fallback = 0
    missing = 0
    for _ in range(nr_faults):
        pfn = alloc_pages_gfp(z, C.HPAGE_PMD_ORDER, thp_owner, gfp, rng)
        if pfn >= 0:
            if alloc_pages_gfp(z, 0, pt_owner, C.GFP_USER, rng) < 0:
                free_pages(z, pfn)  # VM_FAULT_OOM
                missing += 1 << C.HPAGE_PMD_ORDER
                continue
            z.vm[C.VM_THP_FAULT_ALLOC] += 1
            huge += 1
            continue
        z.vm[C.VM_THP_FAULT_FALLBACK] += 1
        fallback += 1
        n = 1 << C.HPAGE_PMD_ORDER
        missing += n - alloc_pages_gfp_bulk(z, anon_owner, 0, n, C.GFP_USER, rng)
    return huge, fallback, missing


@kernel
def zap_huge_pmds(z, thp_owner, pt_owner, nr_pages, how, rng):
    """Unmap huge pages of `thp_owner` (picked by `how`) until at least
    `nr_pages` pages are freed, each with a deposited PTE page of `pt_owner`
    (`zap_huge_pmd` -> `zap_deposited_table`). Simplified: the model does
    not pair a deposit with its huge page, so the PTE page freed is picked
    from `pt_owner` the same way. Returns the huge pages' pages freed."""
    freed = free_owner_pages(z, thp_owner, nr_pages, how, rng)
    free_owner_pages(z, pt_owner, freed >> C.HPAGE_PMD_ORDER, how, rng)
    return freed
