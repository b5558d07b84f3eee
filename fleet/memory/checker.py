"""The memory invariant checker, the model's CONFIG_DEBUG_VM.

`check_zone` walks every free list, per-cpu list and owner list and verifies:
every page frame lies in exactly one free block (on a buddy or a per-cpu
list) or exactly one allocation (or is isolated for migration), list lengths
equal their counters, free blocks are
naturally aligned and carry the right flags, no two free buddies that
`__free_one_page` would merge are left apart, and the free and owned page
counts add up to the zone size.
"""

import numpy as np

from . import constants as C
from .jit import allocating_kernel

_MESSAGES = {
    1: "free list link is broken",
    2: "free block has wrong flags, order, list type or alignment",
    3: "page is covered twice",
    4: "free list length differs from nr_free",
    5: "owner list link is broken",
    6: "allocation has wrong flags, owner or alignment",
    7: "owner page or allocation count differs from its list",
    8: "page is neither free nor owned",
    9: "two free buddies were left unmerged",
    10: "NR_FREE_PAGES differs from the free lists",
    11: "free page is stamped with an owner",
    12: "isolated allocation is malformed",
    13: "listed allocation lies outside its owner's own_lo..own_hi span",
    14: "per-cpu list link, block or count is broken",
}


@allocating_kernel
def _mark(cover, pfn, n):
    for i in range(pfn, pfn + n):
        if cover[i]:
            return False
        cover[i] = 1
    return True


@allocating_kernel
def _check(z, isolated):
    n = z.pflags.shape[0]
    cover = np.zeros(n, dtype=np.uint8)
    free_total = 0
    for order in range(C.NR_PAGE_ORDERS):
        size = 1 << order
        for mt in range(C.NR_MIGRATETYPES):
            count = 0
            prev = -1
            pfn = z.fl_head[order, mt]
            while pfn >= 0:
                if pfn >= n or z.lru_prev[pfn] != prev or count > n:
                    return 1, pfn
                want = C.PF_BUDDY | order | (mt << C.PF_LIST_MT_SHIFT)
                if (z.pflags[pfn] & ~C.PF_REPORTED) != want or pfn % size or pfn + size > n:
                    return 2, pfn
                if not _mark(cover, pfn, size):
                    return 3, pfn
                for i in range(pfn, pfn + size):
                    if z.owner[i] != C.OWNER_NONE or (i > pfn and z.pflags[i] != 0):
                        return 11, i
                if order < C.MAX_PAGE_ORDER:
                    buddy = pfn ^ size
                    if (
                        buddy + size <= n
                        and (z.pflags[buddy] & C.PF_BUDDY)
                        and (z.pflags[buddy] & C.PF_ORDER_MASK) == order
                    ):
                        return 9, pfn
                count += 1
                free_total += size
                prev = pfn
                pfn = z.lru_next[pfn]
            if z.fl_tail[order, mt] != prev or count != z.nr_free[order, mt]:
                return 4, prev
    if free_total != z.zs[C.ZS_NR_FREE]:
        return 10, -1
    pcp_total = 0
    era38 = z.zs[C.ZS_ERA] == C.ERA_3_8
    for pindex in range(C.NR_PCP_LISTS):
        prev = -1
        pfn = z.pcp_head[pindex]
        while pfn >= 0:
            if pfn >= n or z.lru_prev[pfn] != prev or pcp_total > n:
                return 14, pfn
            flags = z.pflags[pfn]
            order = flags & C.PF_ORDER_MASK
            mt = (flags & C.PF_LIST_MT_MASK) >> C.PF_LIST_MT_SHIFT
            size = 1 << order
            if era38:
                right_list = pindex == mt and order == 0
            elif order > C.PAGE_ALLOC_COSTLY_ORDER:
                right_list = order == C.PAGEBLOCK_ORDER and pindex == C.NR_LOWORDER_PCP_LISTS + (
                    mt == C.MIGRATE_MOVABLE
                )
            else:
                right_list = pindex == C.NR_MIGRATETYPES * order + mt
            if (
                flags & ~(C.PF_ORDER_MASK | C.PF_LIST_MT_MASK) != C.PF_PCP
                or not right_list
                or pfn % size
                or pfn + size > n
            ):
                return 14, pfn
            if not _mark(cover, pfn, size):
                return 3, pfn
            for i in range(pfn, pfn + size):
                if z.owner[i] != C.OWNER_NONE or (i > pfn and z.pflags[i] != 0):
                    return 11, i
            pcp_total += size
            prev = pfn
            pfn = z.lru_next[pfn]
        if z.pcp_tail[pindex] != prev:
            return 14, prev
    if pcp_total != z.zs[C.ZS_PCP_COUNT]:
        return 14, -1
    owned_total = 0
    for o in range(1, C.MAX_OWNERS):
        pages = 0
        allocs = 0
        prev = -1
        pfn = z.own_head[o]
        while pfn >= 0:
            if pfn >= n or z.lru_prev[pfn] != prev or allocs > n:
                return 5, pfn
            flags = z.pflags[pfn]
            order = flags & C.PF_ORDER_MASK
            size = 1 << order
            if not flags & C.PF_HEAD or flags & (C.PF_BUDDY | C.PF_ISOLATED) or pfn % size or pfn + size > n:
                return 6, pfn
            for i in range(pfn, pfn + size):
                if (
                    z.owner[i] != o
                    or (z.pflags[i] & C.PF_ORDER_MASK) != order
                    or (i > pfn and z.pflags[i] & (C.PF_HEAD | C.PF_BUDDY))
                ):
                    return 6, i
            if not _mark(cover, pfn, size):
                return 3, pfn
            if pfn < z.own_lo[o] or pfn > z.own_hi[o]:
                return 13, pfn
            pages += size
            allocs += 1
            prev = pfn
            pfn = z.lru_next[pfn]
        if z.own_tail[o] != prev or allocs != z.own_allocs[o]:
            return 7, o
        owned_total += pages
    for pfn in isolated:
        flags = z.pflags[pfn]
        size = 1 << (flags & C.PF_ORDER_MASK)
        if not flags & C.PF_ISOLATED or not flags & C.PF_HEAD or z.owner[pfn] == C.OWNER_NONE:
            return 12, pfn
        if not _mark(cover, pfn, size):
            return 3, pfn
        owned_total += size
    listed = 0
    for o in range(1, C.MAX_OWNERS):
        listed += z.own_pages[o]
    if listed != owned_total:
        return 7, -1
    for pfn in range(n):
        if not cover[pfn]:
            return 8, pfn
    return 0, -1


def check_zone(z, isolated=None) -> None:
    """Raise AssertionError naming the first broken invariant and its pfn.

    `isolated` lists the head pfns of allocations currently isolated for
    migration (off their owner lists, on a compaction's private list).
    """
    iso = np.asarray(isolated if isolated is not None else [], dtype=np.int64)
    code, where = _check(z, iso)
    if code:
        raise AssertionError(f"memory invariant broken at pfn/owner {where}: {_MESSAGES[code]}")
