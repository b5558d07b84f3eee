"""Boot memory (mm/memblock.c): memblock-reserved ranges, memblock_free_all(),
which gives the rest to the buddy allocator, and free_reserved_area(), which
late in boot gives it what the kernel kept reserved only while it booted."""

import numpy as np

from . import constants as C
from .jit import kernel
from .owner import owner_list_add
from .page_alloc import free_one_page, free_pages


@kernel
def memblock_reserve(z, o, start, end):
    """Pfns start..end-1 are memblock-reserved (the kernel image, the memmap):
    they never reach the buddy allocator and stay in their pageblock, whose
    type memmap_init leaves Movable. The model gives them to owner `o` as
    order-0 pages (PageReserved; compaction cannot move them)."""
    for pfn in range(start, end):
        z.pflags[pfn] = np.uint16(C.PF_HEAD)
        z.owner[pfn] = o
        owner_list_add(z, o, pfn)
    z.own_pages[o] += end - start
    z.own_allocs[o] += end - start


@kernel
def boot_free_all(z):
    """Give all memory that is not memblock-reserved to the buddy allocator, as
    memblock_free_all() does at boot (__free_pages_memory): in ascending pfn
    order, each free range as the largest naturally aligned blocks that fit
    it, each added at the list tail in 6.x (FPI_TO_TAIL, 5.10+) and at the
    head in 3.8, so 6.x allocates from the bottom of memory first and 3.8
    from the top."""
    n = z.pflags.shape[0]
    to_tail = z.zs[C.ZS_ERA] == C.ERA_6_X
    freed = 0
    pfn = 0
    while pfn < n:
        if z.owner[pfn] != C.OWNER_NONE:
            pfn += 1
            continue
        end = pfn
        while end < n and z.owner[end] == C.OWNER_NONE:
            end += 1
        while pfn < end:
            order = C.MAX_PAGE_ORDER
            while pfn & ((1 << order) - 1) or pfn + (1 << order) > end:
                order -= 1
            free_one_page(z, pfn, order, z.pb_mt[pfn >> C.PAGEBLOCK_ORDER], to_tail)
            pfn += 1 << order
            freed += 1 << order
    z.zs[C.ZS_NR_FREE] = freed


@kernel
def free_reserved_area(z, start, end):
    """`free_reserved_area` (mm/page_alloc.c, 6.1): pfns start..end-1, reserved
    while the kernel booted (its __init sections and the gaps of its image
    in free_initmem, the unpacked initrd in free_initrd_mem), become free
    pages one by one through the usual free path (free_reserved_page ->
    __free_page, so a 6.x guest finds them on its per-cpu lists) and count
    as managed (adjust_managed_page_count), with the watermarks left as they
    were computed before. The pages must be memblock-reserved."""
    for pfn in range(start, end):
        free_pages(z, pfn)
    z.zs[C.ZS_MANAGED] += end - start
