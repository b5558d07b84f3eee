"""Zone watermarks: `calculate_min_free_kbytes`, THP's
`set_recommended_min_free_kbytes`, `__setup_per_zone_wmarks` and
`__zone_watermark_ok` (mm/page_alloc.c, mm/khugepaged.c in 6.x,
mm/huge_memory.c in 3.x), in the 3.8 and the 6.x variants.

The model's zone gets the share of `min_free_kbytes` that its managed pages
have of the guest's lowmem (all of it when the zone is the whole guest; less
when a guest zone such as DMA is left out of the model), with no lowmem
reserve. Watermarks are set once at boot from the memory size; like the
kernel, inflating the balloon lowers managed pages but does not recompute
them.
"""

import math

from . import constants as C
from .jit import kernel

WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2
ALLOC_NO_WATERMARKS = 3

WATERMARK_BOOST_FACTOR = 15000  # vm.watermark_boost_factor default (5.0+)


def min_free_kbytes(managed_pages: int, era: int) -> int:
    """`calculate_min_free_kbytes`: clamp(int_sqrt(lowmem_kbytes * 16), 128, max)
    with max 65536 in 3.x and 262144 in 6.x; lowmem_kbytes is taken as managed
    pages x 4 (nr_free_buffer_pages() at boot, before any watermark exists)."""
    upper = 65536 if era == C.ERA_3_8 else 262144
    return min(max(math.isqrt(managed_pages * 4 * 16), 128), upper)


MIGRATE_PCPTYPES = 3  # Unmovable, Movable, Reclaimable (both eras)


def guest_zones(memory_pages: int) -> int:
    """Populated zones up to ZONE_NORMAL of a QEMU pc guest of that much RAM:
    DMA and DMA32, and Normal once RAM reaches 3.5 GiB (QEMU then maps all
    above 3 GiB beyond 4 GiB)."""
    return 3 if memory_pages >= (7 << 29) >> C.PAGE_SHIFT else 2


def recommended_min_free_kbytes(lowmem_pages: int, era: int, nr_zones: int) -> int:
    """min_free_kbytes with THP enabled (`set_recommended_min_free_kbytes`,
    the same rule in 3.8 and 6.x): at least 2 pageblocks per zone plus
    MIGRATE_PCPTYPES**2 pageblocks per zone, capped at 5% of
    nr_free_buffer_pages() (lowmem above the high watermarks), and never
    below `calculate_min_free_kbytes`. A 1 GiB two-zone guest: 45,056 KB."""
    base = min_free_kbytes(lowmem_pages, era)
    high = zone_watermarks(lowmem_pages, era)[2]
    recommended = C.PAGEBLOCK_NR_PAGES * nr_zones * (2 + MIGRATE_PCPTYPES * MIGRATE_PCPTYPES)
    recommended = min(recommended, (lowmem_pages - high) // 20) << (C.PAGE_SHIFT - 10)
    return max(base, recommended)


def _mult_frac(x: int, n: int, d: int) -> int:
    return (x // d) * n + (x % d) * n // d


def zone_watermarks(
    managed_pages: int,
    era: int,
    watermark_scale_factor: int = 10,
    mfk: int | None = None,
    lowmem_pages: int | None = None,
) -> tuple[int, int, int, int]:
    """(min, low, high, promo) in pages, `__setup_per_zone_wmarks`.

    min = (min_free_kbytes / 4) * managed / lowmem, the zone's share of
    `mfk` (default: calculate_min_free_kbytes of the zone alone) over the
    guest's lowmem pages (default: the zone's).
    3.8: low = min + min/4, high = min + min/2 (no promo: reported as high).
    6.x: tmp = max(min/4, managed * watermark_scale_factor / 10000);
    low = min + tmp, high = low + tmp, promo = high + tmp.
    """
    lowmem = lowmem_pages or managed_pages
    mfk = min_free_kbytes(lowmem, era) if mfk is None else mfk
    wmin = (mfk >> (C.PAGE_SHIFT - 10)) * managed_pages // lowmem
    if era == C.ERA_3_8:
        return wmin, wmin + (wmin >> 2), wmin + (wmin >> 1), wmin + (wmin >> 1)
    tmp = max(wmin >> 2, _mult_frac(managed_pages, watermark_scale_factor, 10000))
    return wmin, wmin + tmp, wmin + 2 * tmp, wmin + 3 * tmp


@kernel
def wmark_pages(z, which):
    """`wmark_pages()`: the watermark plus, in 6.x, the watermark boost."""
    mark = z.zs[C.ZS_WMARK_MIN + which]
    if z.zs[C.ZS_ERA] == C.ERA_6_X:
        mark += z.zs[C.ZS_WATERMARK_BOOST]
    return mark


@kernel
def zone_watermark_ok(z, order, mark):
    """`__zone_watermark_ok` for a request of `order` against `mark` pages.

    Both eras first require free - (2**order - 1) > mark. Then 3.8 walks the
    orders below the request, removing their free pages and halving the mark
    each time ("require fewer higher order pages to be free"); 6.x instead
    requires one free block of at least `order` on an Unmovable, Movable or
    Reclaimable list. Highatomic and CMA reserves are not modelled.
    """
    free = z.zs[C.ZS_NR_FREE] - ((1 << order) - 1)
    if free <= mark:
        return False
    if order == 0:
        return True
    if z.zs[C.ZS_ERA] == C.ERA_3_8:
        m = mark
        for o in range(order):
            for mt in range(C.NR_MIGRATETYPES):
                free -= z.nr_free[o, mt] << o
            m >>= 1
            if free <= m:
                return False
        return True
    for o in range(order, C.NR_PAGE_ORDERS):
        for mt in range(C.NR_MIGRATETYPES):
            if z.nr_free[o, mt] > 0:
                return True
    return False


@kernel
def boost_watermark(z):
    """`boost_watermark` (5.0+, 6.x era only): raise the boost by a pageblock,
    capped at high x watermark_boost_factor / 10000 (at least a pageblock);
    nothing on zones smaller than four pageblocks. Returns True if boosted."""
    if z.zs[C.ZS_ERA] != C.ERA_6_X:
        return False
    if C.PAGEBLOCK_NR_PAGES * 4 > z.zs[C.ZS_MANAGED]:
        return False
    high = z.zs[C.ZS_WMARK_HIGH]
    max_boost = (high // 10000) * WATERMARK_BOOST_FACTOR + (high % 10000) * WATERMARK_BOOST_FACTOR // 10000
    if max_boost == 0:
        return False
    max_boost = max(C.PAGEBLOCK_NR_PAGES, max_boost)
    z.zs[C.ZS_WATERMARK_BOOST] = min(z.zs[C.ZS_WATERMARK_BOOST] + C.PAGEBLOCK_NR_PAGES, max_boost)
    return True
