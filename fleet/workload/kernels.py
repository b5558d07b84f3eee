"""Compiled loops of the workloads: interleaved allocation through the slow
path, and independent high-order attempts (the stress-highalloc probe)."""

from ..memory.alloc import alloc_pages_gfp, alloc_pages_gfp_bulk
from ..memory.jit import kernel
from ..memory.rng import randbelow


@kernel
def alloc_interleaved(z, owners, orders, counts, got, gfp, chunk_pages, rng, zone_rng):
    """Allocate `counts[i]` blocks of `orders[i]` for `owners[i]`, the requests
    interleaved: repeatedly pick a request with probability proportional to
    the pages it still wants (`rng`) and allocate a run of 1..chunk_pages
    pages of it through the slow path (reclaim draws from `zone_rng`). A
    request stops at its first failure (its `counts[i]` is lowered to what it
    got). `got[i]` receives blocks allocated. Returns pages refused."""
    k = owners.shape[0]
    left = 0
    for i in range(k):
        got[i] = 0
        left += counts[i] << orders[i]
    refused = 0
    while left > 0:
        r = randbelow(rng, left)
        i = 0
        while i < k - 1:
            rem = (counts[i] - got[i]) << orders[i]
            if r < rem:
                break
            r -= rem
            i += 1
        run = chunk_pages >> orders[i]
        if run < 1:
            run = 1
        n = 1 + randbelow(rng, run)
        if n > counts[i] - got[i]:
            n = counts[i] - got[i]
        done = alloc_pages_gfp_bulk(z, owners[i], orders[i], n, gfp, zone_rng)
        got[i] += done
        left -= done << orders[i]
        if done < n:
            rest = (counts[i] - got[i]) << orders[i]
            refused += rest
            left -= rest
            counts[i] = got[i]
    return refused


@kernel
def attempt_allocs(z, o, order, n, gfp, rng):
    """`n` independent attempts at a block of `order` for owner `o` (a failed
    attempt does not stop the next, as in the mmtests highalloc module).
    Returns the number that succeeded."""
    ok = 0
    for _ in range(n):
        if alloc_pages_gfp(z, order, o, gfp, rng) >= 0:
            ok += 1
    return ok
