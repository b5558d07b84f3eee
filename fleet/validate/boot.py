"""The boot state of the validation guests, taken from the recorded boot
snapshots and rebuilt in the model by the kernel's own mechanisms.

A real 6.1 guest does not start with all memory free. memblock reserves the
kernel image (loaded at 16 MiB, the first pages of DMA32) and the memmap (a
64-byte struct page per page frame, allocated top-down, so at the top of
DMA32) with other early allocations; these never reach the buddy allocator
(present minus managed pages in /proc/zoneinfo). Some reserved memory is
freed late in boot: the image's __init sections and the gaps between its
sections (free_initmem) and the initrd once unpacked (free_initrd_mem, QEMU
loads it at the top of RAM). Before that, init allocates through the buddy
allocator: unmovable kernel memory (slab, stacks, page tables, per-cpu
areas), then the initramfs files in the tmpfs rootfs (movable, swap-backed
like anon) with their dentries and inodes (reclaimable slab); after it, the
first user processes' anon memory.

The amounts are measured, per reference, from its boot snapshots. Where the
reserved and the late-freed ranges lie is read from the pfn map a recording
takes at boot (`bfhelper pfnmap`): the reserved runs as they are, and as
late-freed every free run that lies within the span of the reserved runs of
the zone's lower half (the image) or of its upper half (the top-down
allocations and the initrd). A reference without a pfn map gets one reserved
range at each end, sized as the memmap tells. Where the boot allocations land,
and which pageblocks they claim, is left to the model's allocator; this
decides, for instance, whether compaction's migrate scanner meets the rootfs
files right above the image, as in the real guest. The DMA zone is not
modelled, but its managed pages take their share of min_free_kbytes, as in
__setup_per_zone_wmarks.
"""

import statistics
from dataclasses import dataclass

from ..memory import constants as C
from ..memory.zone import Zone
from ..scenario import fill_interleaved

STRUCT_PAGE_BYTES = 64
KB_PER_PAGE = C.PAGE_SIZE >> 10


Ranges = tuple[tuple[int, int], ...]  # (first pfn in the zone, pages)


@dataclass(frozen=True)
class BootState:
    reserved: Ranges  # memblock-reserved for good
    late_free: Ranges  # reserved while init runs, then freed (free_initmem, free_initrd_mem)
    unmovable: int  # pages allocated at boot: unmovable kernel memory
    reclaimable: int  # reclaimable slab
    files: int  # the rootfs (tmpfs) files and other page cache
    anon: int  # the first user processes' anonymous memory
    other_zone_pages: int  # managed pages of the guest's other zones (DMA)


def measured_layout(pfnmap: list, first_pfn: int, zone_pages: int) -> tuple[Ranges, Ranges]:
    """The reserved and the late-freed ranges of a recorded pfn map (runs of
    [pfn, class, pages]), in pfns from the zone's first."""
    runs = [(pfn - first_pfn, cls, pages) for pfn, cls, pages in pfnmap]
    reserved = tuple((start, pages) for start, cls, pages in runs if cls == "r")
    spans = []
    for low_half in (True, False):
        ends = [(start, start + pages) for start, pages in reserved if (start < zone_pages // 2) == low_half]
        if ends:
            spans.append((min(a for a, _ in ends), max(b for _, b in ends)))
    late = tuple(
        (start, pages)
        for start, cls, pages in runs
        if cls == "f" and any(lo <= start and start + pages <= hi for lo, hi in spans)
    )
    return reserved, late


def measured_boot_state(
    boot_snapshots: list[dict], zone: str, zone_pages: int, memory_pages: int, pfnmap: list | None, first_pfn: int
) -> BootState:
    """The boot state of a zone as the recorded boot snapshots show it: the
    amounts as the mean over repetitions and both kernels, which boot alike;
    the layout from `pfnmap` (one boot's, of one kernel: the two images
    differ by a few pages) if the reference has one."""

    def mean(values) -> int:
        return round(statistics.fmean(values))

    zi = [s["zoneinfo"][zone] for s in boot_snapshots]
    mi = [s["meminfo"] for s in boot_snapshots]
    if pfnmap is not None:
        reserved, late = measured_layout(pfnmap, first_pfn, zone_pages)
    else:
        pages = zone_pages - mean(z["managed"] for z in zi)
        memmap = -(-memory_pages * STRUCT_PAGE_BYTES // C.PAGE_SIZE)
        high = min(pages, memmap + zone_pages - mean(z["present"] for z in zi))
        reserved, late = ((0, pages - high), (zone_pages - high, high)), ()
    used = mean(z["managed"] - z["nr_free_pages"] - z["pcp_count"] for z in zi)
    reclaimable = mean(m["SReclaimable"] for m in mi) // KB_PER_PAGE
    files = mean(m["Cached"] + m["Buffers"] for m in mi) // KB_PER_PAGE
    anon = mean(m["AnonPages"] for m in mi) // KB_PER_PAGE
    other = mean(sum(z["managed"] for name, z in s["zoneinfo"].items() if name != zone) for s in boot_snapshots)
    return BootState(reserved, late, max(used - reclaimable - files - anon, 0), reclaimable, files, anon, other)


def boot_zone(state: BootState, zone_pages: int, **zone_args) -> Zone:
    """A Zone booted into `state`, in the kernel's order: the reserved and
    the late-freed ranges kept from the buddy allocator; init's unmovable
    memory; the rootfs files and their dentries as the initramfs is
    unpacked, interleaved; the late-freed ranges freed; the first processes'
    anon. Each allocation takes the allocator's slow path."""
    zone = Zone(
        zone_pages, reserved=state.reserved + state.late_free, other_zone_pages=state.other_zone_pages, **zone_args
    )
    kernel = zone.register_owner("boot_kernel", C.KIND_KERNEL)
    rootfs = zone.register_owner("boot_rootfs", C.KIND_ANON)
    dentries = zone.register_owner("boot_dentries", C.KIND_SLAB_RECLAIMABLE)
    anon = zone.register_owner("boot_anon", C.KIND_ANON)
    fill_interleaved(zone, {kernel: state.unmovable})
    fill_interleaved(zone, {rootfs: state.files, dentries: state.reclaimable})
    for start, pages in state.late_free:
        zone.free_reserved_area(start, pages)
    fill_interleaved(zone, {anon: state.anon})
    return zone
