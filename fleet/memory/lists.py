"""Doubly linked lists threaded through the page frames' `lru_next` and
`lru_prev` links, as the kernel threads `page->lru`: a head page is on at
most one list at a time (a buddy free list, a per-cpu list or its owner's
list), and each kind of list keeps its (head, tail) pairs in two arrays
indexed by the list. -1 ends a list."""

from .jit import hot_kernel


@hot_kernel
def list_link(nxt, prv, heads, tails, i, pfn, to_tail):
    """`list_add_tail` (to_tail) or `list_add`: put `pfn` on list `i`."""
    if to_tail:
        tail = tails[i]
        prv[pfn] = tail
        nxt[pfn] = -1
        if tail >= 0:
            nxt[tail] = pfn
        else:
            heads[i] = pfn
        tails[i] = pfn
    else:
        head = heads[i]
        nxt[pfn] = head
        prv[pfn] = -1
        if head >= 0:
            prv[head] = pfn
        else:
            tails[i] = pfn
        heads[i] = pfn


@hot_kernel
def list_unlink(nxt, prv, heads, tails, i, pfn):
    """`list_del`: take `pfn` off list `i` and clear its links."""
    before = prv[pfn]
    after = nxt[pfn]
    if before >= 0:
        nxt[before] = after
    else:
        heads[i] = after
    if after >= 0:
        prv[after] = before
    else:
        tails[i] = before
    nxt[pfn] = -1
    prv[pfn] = -1


@hot_kernel
def list_rotate(nxt, prv, heads, tails, i, pfn):
    """Make `pfn` the head of list `i`, the entries before it following the
    old tail in order (list_cut_before + list_splice_tail)."""
    head = heads[i]
    if head == pfn:
        return
    before = prv[pfn]
    tail = tails[i]
    nxt[tail] = head
    prv[head] = tail
    nxt[before] = -1
    tails[i] = before
    prv[pfn] = -1
    heads[i] = pfn
