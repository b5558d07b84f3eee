"""Page-table pages of user mappings (x86-64, 4-level; arch/x86 and
mm/memory.c `__pte_alloc`): one PTE page maps PTRS_PER_PTE base pages, so
a mapping of N base pages touched in address order holds ceil(N / 512) PTE
pages, the first allocated at the first fault in each 2 MiB. They stay
until the mapping goes (MADV_DONTNEED zaps the entries, not the tables;
munmap and exit free them in `free_pgtables`). The PMD, PUD and PGD pages
above them (a few per process) are left to the callers."""

PTRS_PER_PTE = 512


def pte_pages(nr_base_pages: int) -> int:
    """PTE pages that map `nr_base_pages` base pages laid out from a 2 MiB
    boundary."""
    return -(-nr_base_pages // PTRS_PER_PTE)
