"""vmstat.c: counters and the /proc and debugfs texts"""

import numpy as np

from . import constants as C

# Rows and columns of /proc/pagetypeinfo per era: (printed name, our
# migratetype or None for a type the model does not have).
_PAGETYPES = {
    C.ERA_6_X: (
        ("Unmovable", C.MIGRATE_UNMOVABLE),
        ("Movable", C.MIGRATE_MOVABLE),
        ("Reclaimable", C.MIGRATE_RECLAIMABLE),
        ("HighAtomic", None),
        ("Isolate", None),
    ),
    C.ERA_3_8: (
        ("Unmovable", C.MIGRATE_UNMOVABLE),
        ("Reclaimable", C.MIGRATE_RECLAIMABLE),
        ("Movable", C.MIGRATE_MOVABLE),
        ("Reserve", None),
        ("Isolate", None),
    ),
}
_FREELIST_CAP = 100000  # 6.x stops walking a free list here


def free_blocks_by_order(nr_free):
    """free_area[order].nr_free: free blocks per order over all migratetypes."""
    return nr_free.sum(axis=1)


def fill_contig_page_info(by_order, suitable_order):
    """fill_contig_page_info(): (free_pages, free_blocks_total, free_blocks_suitable)."""
    free_pages = free_blocks_total = free_blocks_suitable = 0
    for order, blocks in enumerate(by_order.tolist()):
        free_blocks_total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            free_blocks_suitable += blocks << (order - suitable_order)
    return free_pages, free_blocks_total, free_blocks_suitable


def free_2mib_blocks(nr_free):
    """Free huge pages: blocks of order >= HPAGE_PMD_ORDER in 2 MiB units."""
    return fill_contig_page_info(free_blocks_by_order(nr_free), C.HPAGE_PMD_ORDER)[2]


def fragmentation_index(by_order, order):
    """__fragmentation_index(): 0 = lack of memory, 1000 = fragmentation, -1000 = would succeed.

    A single free block smaller than the request gives a value in [-500, 0],
    as in the kernel.
    """
    free_pages, total, suitable = fill_contig_page_info(by_order, order)
    if not total:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def unusable_free_index(by_order, order):
    """unusable_free_index(): per-mille of free memory in blocks smaller than `order`."""
    free_pages, _, suitable = fill_contig_page_info(by_order, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def extfrag_for_order(by_order, order):
    """extfrag_for_order(): percent of free memory in blocks smaller than `order`."""
    free_pages, _, suitable = fill_contig_page_info(by_order, order)
    if free_pages == 0:
        return 0
    return (free_pages - (suitable << order)) * 100 // free_pages


def _c_divmod(index):
    """C `index / 1000` and `index % 1000` (truncate towards zero)."""
    quot = abs(index) // 1000 * (-1 if index < 0 else 1)
    return quot, index - quot * 1000


def buddyinfo(nr_free, node=0, zone="Normal"):
    """frag_show_print(): the zone's /proc/buddyinfo line."""
    counts = "".join("%6lu " % n for n in free_blocks_by_order(nr_free).tolist())
    return "Node %d, zone %8s " % (node, zone) + counts + "\n"


def pagetypeinfo(nr_free, pb_mt, era, node=0, zone="Normal"):
    """pagetypeinfo_show(): /proc/pagetypeinfo for one node with one zone.

    Rows and columns follow the era's migratetype enum. HighAtomic (6.x),
    Reserve (3.8) and Isolate are not modelled and print as zeros; CMA is
    not configured. 6.x caps each free-list count at 100000 (">100000").
    """
    types = _PAGETYPES[era]
    blocks = np.bincount(pb_mt.astype(np.intp), minlength=C.NR_MIGRATETYPES).tolist()
    lines = [
        "Page block order: %d\n" % C.PAGEBLOCK_ORDER,
        "Pages per block:  %lu\n" % C.PAGEBLOCK_NR_PAGES,
        "\n",
        "%-43s " % "Free pages count per migrate type at order"
        + "".join("%6d " % o for o in range(C.NR_PAGE_ORDERS))
        + "\n",
    ]
    for name, mt in types:
        row = "Node %4d, zone %8s, type %12s " % (node, zone, name)
        for order in range(C.NR_PAGE_ORDERS):
            count = 0 if mt is None else int(nr_free[order, mt])
            capped = era == C.ERA_6_X and count >= _FREELIST_CAP
            row += "%s%6lu " % ((">", _FREELIST_CAP) if capped else ("", count))
        lines.append(row + "\n")
    lines.append("\n%-23s" % "Number of blocks type " + "".join("%12s " % name for name, _ in types) + "\n")
    lines.append(
        "Node %d, zone %8s " % (node, zone)
        + "".join("%12lu " % (0 if mt is None else blocks[mt]) for _, mt in types)
        + "\n"
    )
    return "".join(lines)


def extfrag_index(nr_free, node=0, zone="Normal"):
    """extfrag_show_print(): the zone's debugfs extfrag/extfrag_index line."""
    by_order = free_blocks_by_order(nr_free)
    values = "".join("%2d.%03d " % _c_divmod(fragmentation_index(by_order, o)) for o in range(C.NR_PAGE_ORDERS))
    return "Node %d, zone %8s " % (node, zone) + values + "\n"


def unusable_index(nr_free, node=0, zone="Normal"):
    """unusable_show_print(): the zone's debugfs extfrag/unusable_index line."""
    by_order = free_blocks_by_order(nr_free)
    values = "".join("%d.%03d " % _c_divmod(unusable_free_index(by_order, o)) for o in range(C.NR_PAGE_ORDERS))
    return "Node %d, zone %8s " % (node, zone) + values + "\n"


def vmstat(counters):
    """vmstat_show(): one "name value" line per counter, in the given order."""
    return "".join("%s %d\n" % (name, value) for name, value in counters)
