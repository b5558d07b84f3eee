"""Page owners: the model's reverse map from a page to what it belongs to.

Every allocated page records its owner (a process's anonymous memory, a page
cache, a slab cache, the balloon driver, ...) in `owner[pfn]`, and the order of
its allocation in its flags, so any page finds its allocation's head at
`pfn & ~((1 << order) - 1)` (buddy blocks are naturally aligned). The head pages
of an owner's allocations are linked through `lru_next`/`lru_prev` in
allocation order, oldest first: for anon and page cache this is the LRU
(add_page_to_lru_list / del_page_from_lru_list, include/linux/mm_inline.h,
folded into one list without the active/inactive split), for the balloon it is
`vb_dev_info->pages`. A migration puts the new page at the young end, as
putback_lru_page() and balloon_page_insert() do.

An owner is the handle the layers above hold: they free "n pages of owner o,
oldest first" or "at random", and the model finds the pages wherever
compaction has moved them.
"""

from . import constants as C
from .jit import kernel
from .lists import list_link, list_unlink
from .rng import randbelow


@kernel
def owner_list_add(z, o, pfn):
    """Append the head page `pfn` at the young end of owner `o`'s list."""
    list_link(z.lru_next, z.lru_prev, z.own_head, z.own_tail, o, pfn, True)
    if pfn < z.own_lo[o]:
        z.own_lo[o] = pfn
    if pfn > z.own_hi[o]:
        z.own_hi[o] = pfn


@kernel
def owner_list_del(z, o, pfn):
    """Unlink the head page `pfn` from owner `o`'s list."""
    list_unlink(z.lru_next, z.lru_prev, z.own_head, z.own_tail, o, pfn)
    if z.own_head[o] < 0:
        z.own_lo[o] = z.lru_next.shape[0]
        z.own_hi[o] = -1


@kernel
def allocation_head(z, pfn):
    """The head pfn of the allocation page `pfn` belongs to (owner must be set)."""
    order = z.pflags[pfn] & C.PF_ORDER_MASK
    return pfn & ~((1 << order) - 1)


PICK_OLDEST = 0
PICK_NEWEST = 1
PICK_RANDOM = 2


@kernel
def owner_is_sparse(z, o):
    """Fewer than one allocation per 64 frames of the owner's span: random
    frames would rarely hit one of its heads."""
    return z.own_allocs[o] * 64 < z.own_hi[o] - z.own_lo[o] + 1


@kernel
def pick_allocation(z, o, how, rng):
    """The head pfn of one allocation of owner `o` on its list, or -1 if none.

    PICK_OLDEST and PICK_NEWEST take the list ends. PICK_RANDOM is uniform over
    the owner's listed allocations: rejection sampling over the page frames of
    the owner's span own_lo..own_hi (a frame hits each allocation's head with
    equal probability) when the owner has at least one allocation per 64
    frames of it, otherwise a walk to a random list index.
    """
    if z.own_allocs[o] == 0:
        return -1
    if how == PICK_OLDEST:
        return z.own_head[o]
    if how == PICK_NEWEST:
        return z.own_tail[o]
    lo = z.own_lo[o]
    span = z.own_hi[o] - lo + 1
    if not owner_is_sparse(z, o):
        for _ in range(1 << 16):
            pfn = lo + randbelow(rng, span)
            if z.owner[pfn] == o:
                flags = z.pflags[pfn]
                if flags & C.PF_HEAD and not flags & C.PF_ISOLATED:
                    return pfn
    k = randbelow(rng, z.own_allocs[o])
    pfn = z.own_head[o]
    for _ in range(k):
        pfn = z.lru_next[pfn]
    return pfn
