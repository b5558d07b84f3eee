"""Zones and counters the memory tests share."""

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import ALLOC_NO_WATERMARKS
from fleet.memory.zone import Zone

PB = C.PAGEBLOCK_NR_PAGES


def vm(z, name):
    """The zone's /proc/vmstat counter `name`."""
    return int(z.a.vm[C.VM[name]])


def cache_zone(era, free_pages):
    """A 64 MiB zone full of page cache except `free_pages` free pages at the
    top; no per-cpu lists, so reclaimed pages count as free at once."""
    z = Zone(32 * PB, era=era, rng=new_rng(1, 0), pcp=False)
    o = z.register_owner("file", C.KIND_FILE)
    assert z.alloc_bulk(o, 0, z.nr_pages - free_pages, ALLOC_NO_WATERMARKS) == z.nr_pages - free_pages
    return z
