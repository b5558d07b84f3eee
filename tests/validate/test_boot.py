"""The validation guests' boot state: the layout read from a recorded pfn map,
the late frees of free_initmem and free_initrd_mem, and where the boot
allocations land."""

import numpy as np
import pytest

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.zone import Zone
from fleet.validate.boot import BootState, boot_zone, measured_boot_state, measured_layout

PB = C.PAGEBLOCK_NR_PAGES
ZONE_PAGES = 64 * PB


def test_free_reserved_area_frees_reserved_pages_and_counts_them_managed():
    zone = Zone(16 * PB, rng=new_rng(1, 0), reserved=((0, 700), (1000, 24)))
    managed, low, free = int(zone.a.zs[C.ZS_MANAGED]), int(zone.a.zs[C.ZS_WMARK_LOW]), zone.nr_free
    zone.free_reserved_area(1000, 24)
    zone.check()
    assert np.all(zone.a.owner[1000:1024] == C.OWNER_NONE)
    assert zone.pcp_pages == 24  # 6.x: __free_page goes through the per-cpu lists
    assert zone.nr_free == free  # which NR_FREE_PAGES leaves out
    assert int(zone.a.zs[C.ZS_MANAGED]) == managed + 24
    assert int(zone.a.zs[C.ZS_WMARK_LOW]) == low  # computed before, as at boot
    with pytest.raises(ValueError, match="not all memblock-reserved"):
        zone.free_reserved_area(690, 20)


def test_free_reserved_pages_merge_with_their_free_buddies():
    zone = Zone(16 * PB, era="6.x", rng=new_rng(1, 0), reserved=((0, 512), (2048, 1024)), pcp=False)
    before = int(zone.a.nr_free[C.MAX_PAGE_ORDER].sum())
    zone.free_reserved_area(2048, 1024)
    zone.check()
    assert int(zone.a.nr_free[C.MAX_PAGE_ORDER].sum()) == before + 1


def test_the_layout_keeps_reserved_runs_and_frees_the_holes_within_their_spans():
    base = 4096
    pfnmap = [
        [base, "r", 1000],
        [base + 1000, "f", 200],  # a gap of the image: late-freed
        [base + 1200, "r", 300],
        [base + 1500, "u", 100],
        [base + 1600, "f", ZONE_PAGES - 1600 - 900],  # ordinary free memory
        [base + ZONE_PAGES - 900, "r", 100],
        [base + ZONE_PAGES - 800, "u", 50],  # used in a hole of the top: not late-freed
        [base + ZONE_PAGES - 750, "r", 600],
        [base + ZONE_PAGES - 150, "f", 100],  # the initrd: late-freed
        [base + ZONE_PAGES - 50, "r", 50],
    ]
    reserved, late = measured_layout(pfnmap, base, ZONE_PAGES)
    assert reserved == ((0, 1000), (1200, 300), (ZONE_PAGES - 900, 100), (ZONE_PAGES - 750, 600), (ZONE_PAGES - 50, 50))
    assert late == ((1000, 200), (ZONE_PAGES - 150, 100))


def test_boot_allocations_fill_the_image_tail_and_late_holes_stay_free_for_userspace():
    """The rootfs takes the smallest free blocks first (__rmqueue_smallest):
    the free parts of the pageblocks the reserved ranges end and begin in,
    not the image's gaps, which are still reserved while the initramfs is
    unpacked, nor a whole free pageblock; unmovable boot memory
    steals the largest free block instead (__rmqueue_fallback). The first
    processes' anon comes after free_initmem, from the per-cpu lists it
    filled."""
    state = BootState(
        reserved=((0, 700), (900, 200), (ZONE_PAGES - 600, 600)),
        late_free=((700, 200),),
        unmovable=300,
        reclaimable=20,
        files=150,
        anon=30,
        other_zone_pages=0,
    )
    zone = boot_zone(state, ZONE_PAGES, rng=new_rng(3, 0))
    zone.check()
    owner = zone.a.owner
    rootfs = zone.owner_names.index("boot_rootfs")
    kernel = zone.owner_names.index("boot_kernel")
    anon = zone.owner_names.index("boot_anon")
    assert np.count_nonzero(owner == rootfs) == 150
    blocks = set(np.flatnonzero(owner == rootfs) >> C.PAGEBLOCK_ORDER)
    assert blocks == {1100 // PB, (ZONE_PAGES - 600) // PB}
    assert not np.any(owner[700:900] == rootfs)
    assert np.flatnonzero(owner == kernel).min() >= 2048  # a whole block of its own
    assert np.all(np.isin(np.flatnonzero(owner == anon), np.arange(700, 900)))
    assert int(zone.a.zs[C.ZS_MANAGED]) == ZONE_PAGES - 1500


def test_a_reference_without_a_pfn_map_gets_one_reserved_range_at_each_end():
    """Older references have no pfn map: the reserved pages (present minus
    managed) split into the memmap at the top and the rest at the bottom."""
    zone_pages, memory_pages = 64 * PB, 65 * PB
    snap = {
        "zoneinfo": {
            "DMA32": {"managed": zone_pages - 1000, "present": zone_pages, "nr_free_pages": 30000, "pcp_count": 0},
            "DMA": {"managed": 500, "present": 512, "nr_free_pages": 500, "pcp_count": 0},
        },
        "meminfo": {"SReclaimable": 40, "Cached": 400, "Buffers": 0, "AnonPages": 80},
    }
    state = measured_boot_state([snap], "DMA32", zone_pages, memory_pages, None, 4096)
    memmap = memory_pages * 64 // C.PAGE_SIZE
    assert state.reserved == ((0, 1000 - memmap), (zone_pages - memmap, memmap))
    assert state.late_free == ()
    assert (state.reclaimable, state.files, state.anon, state.other_zone_pages) == (10, 100, 20, 500)
    assert state.unmovable == zone_pages - 1000 - 30000 - 130
