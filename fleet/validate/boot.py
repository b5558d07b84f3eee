"""The boot state of the validation guests, taken from the recorded boot
snapshots and rebuilt in the model by the kernel's own mechanisms.

A real 6.1 guest does not start with all memory free. memblock reserves the
kernel image (loaded at 16 MiB, the first pages of DMA32) and the memmap (a
64-byte struct page per page frame, allocated top-down, so at the top of
DMA32); these never reach the buddy allocator (present minus managed pages in
/proc/zoneinfo). After memblock_free_all, init allocates through the buddy
allocator: unmovable kernel memory (slab, stacks, page tables, per-cpu
areas), reclaimable slab (dentries and inodes of the unpacked initramfs) and
movable pages (the initramfs files in the tmpfs rootfs, swap-backed like
anon). The amounts are measured, per reference, from its boot snapshots; where
they land, and which pageblocks they claim, is left to the model's allocator.
The DMA zone is not modelled, but its managed pages take their share of
min_free_kbytes, as in __setup_per_zone_wmarks.
"""

import statistics
from dataclasses import dataclass

from ..memory import constants as C
from ..memory.zone import Zone
from ..scenario import fill_interleaved

STRUCT_PAGE_BYTES = 64
KB_PER_PAGE = C.PAGE_SIZE >> 10


@dataclass(frozen=True)
class BootState:
    reserved_low: int  # pages reserved at the zone's bottom (the kernel image)
    reserved_high: int  # pages reserved at its top (memmap, firmware holes)
    unmovable: int  # pages allocated at boot: unmovable kernel memory
    reclaimable: int  # reclaimable slab
    movable: int  # rootfs (tmpfs) and other user pages
    other_zone_pages: int  # managed pages of the guest's other zones (DMA)

    def reserved_ranges(self, zone_pages: int) -> tuple[tuple[int, int], ...]:
        return ((0, self.reserved_low), (zone_pages - self.reserved_high, self.reserved_high))


def measured_boot_state(boot_snapshots: list[dict], zone: str, zone_pages: int, memory_pages: int) -> BootState:
    """The boot state of a zone as the recorded boot snapshots show it (mean
    over repetitions and both kernels, which boot alike)."""

    def mean(values) -> int:
        return round(statistics.fmean(values))

    zi = [s["zoneinfo"][zone] for s in boot_snapshots]
    mi = [s["meminfo"] for s in boot_snapshots]
    reserved = zone_pages - mean(z["managed"] for z in zi)
    memmap = -(-memory_pages * STRUCT_PAGE_BYTES // C.PAGE_SIZE)
    high = min(reserved, memmap + zone_pages - mean(z["present"] for z in zi))
    used = mean(z["managed"] - z["nr_free_pages"] - z["pcp_count"] for z in zi)
    reclaimable = mean(m["SReclaimable"] for m in mi) // KB_PER_PAGE
    movable = mean(m["Cached"] + m["Buffers"] + m["AnonPages"] for m in mi) // KB_PER_PAGE
    other = mean(sum(z["managed"] for name, z in s["zoneinfo"].items() if name != zone) for s in boot_snapshots)
    return BootState(reserved - high, high, max(used - reclaimable - movable, 0), reclaimable, movable, other)


def boot_zone(state: BootState, zone_pages: int, **zone_args) -> Zone:
    """A Zone booted into `state`: the reserved ranges, then the boot
    allocations (init's unmovable memory first, then the rootfs files and
    their dentries as the initramfs is unpacked, interleaved), each through
    the allocator's slow path."""
    zone = Zone(
        zone_pages, reserved=state.reserved_ranges(zone_pages), other_zone_pages=state.other_zone_pages, **zone_args
    )
    kernel = zone.register_owner("boot_kernel", C.KIND_KERNEL)
    rootfs = zone.register_owner("boot_rootfs", C.KIND_ANON)
    dentries = zone.register_owner("boot_dentries", C.KIND_SLAB_RECLAIMABLE)
    fill_interleaved(zone, {kernel: state.unmovable})
    fill_interleaved(zone, {rootfs: state.movable, dentries: state.reclaimable})
    return zone
