"""A seeded random mix of kernel and user allocations, the "running system" of
`fleet inspect` and of the memory benchmark.

Each entry is (kind, order, share of the allocated volume). The mix first fills
memory to `fill` of the zone, then churns: every tick it frees `churn` of
random allocations, owner by owner in proportion to their shares, and
allocates as much again. Orders above 0 stand for slab caches with high-order
slabs and kernel buffers (unmovable, orders 1..3) and for the occasional
multi-page user allocation.
"""

from dataclasses import dataclass

import numpy as np

from ..memory import constants as C
from ..memory.jit import kernel
from ..memory.owner import PICK_RANDOM
from ..memory.page_alloc import alloc_pages, free_owner_pages
from ..memory.rng import random01
from ..memory.watermark import WMARK_LOW
from ..memory.zone import Zone

DEFAULT_MIX = (
    ("anon", 0, 0.48),
    ("anon", 2, 0.02),
    ("file", 0, 0.30),
    ("slab_reclaimable", 0, 0.05),
    ("slab", 0, 0.03),
    ("slab", 1, 0.01),
    ("slab", 3, 0.02),
    ("kernel", 0, 0.02),
    ("kernel", 2, 0.01),
    ("pagetable", 0, 0.06),
)


@dataclass(frozen=True)
class MixSpec:
    fill: float = 0.80  # share of the zone the mix keeps allocated
    churn_mib_per_s: float = 64.0  # volume freed and re-allocated per second
    ramp_mib_per_s: float = 1024.0  # allocation rate while filling
    entries: tuple = DEFAULT_MIX


@kernel
def _pick(cum, rng):
    r = random01(rng) * cum[-1]
    for i in range(cum.shape[0]):
        if r < cum[i]:
            return i
    return cum.shape[0] - 1


@kernel
def churn(z, ent_owner, ent_order, ent_cum, own_ids, own_cum, nr_free, nr_alloc, wmark, rng):
    """Free about `nr_free` pages of random allocations (owner picked by share),
    then allocate about `nr_alloc` pages (entry picked by share of count).
    Returns (allocation operations, free operations, pages refused)."""
    frees = 0
    freed = 0
    tries = 0
    while freed < nr_free and tries < 64 * (nr_free + 1):
        tries += 1
        o = own_ids[_pick(own_cum, rng)]
        got = free_owner_pages(z, o, 1, PICK_RANDOM, rng)
        if got:
            freed += got
            frees += 1
    allocs = 0
    done = 0
    while done < nr_alloc:
        i = _pick(ent_cum, rng)
        order = ent_order[i]
        if alloc_pages(z, order, ent_owner[i], wmark) < 0:
            return allocs, frees, nr_alloc - done
        done += 1 << order
        allocs += 1
    return allocs, frees, 0


class RandomMix:
    """The mix bound to one zone: registers one owner per kind it uses."""

    def __init__(self, zone: Zone, spec: MixSpec, rng: np.ndarray):
        self.zone, self.spec, self.rng = zone, spec, rng
        owners: dict[str, int] = {}
        for kind, _, _ in spec.entries:
            if kind not in owners:
                owners[kind] = zone.register_owner(f"mix-{kind}", C.KIND_BY_NAME[kind])
        shares = np.array([s for _, _, s in spec.entries], dtype=np.float64)
        orders = np.array([o for _, o, _ in spec.entries], dtype=np.int64)
        self.ent_owner = np.array([owners[k] for k, _, _ in spec.entries], dtype=np.int64)
        self.ent_order = orders
        # Probability of an entry per allocation = volume share / block size.
        self.ent_cum = np.cumsum(shares / (1 << orders))
        self.own_ids = np.array(list(owners.values()), dtype=np.int64)
        self.own_cum = np.cumsum([shares[self.ent_owner == o].sum() for o in self.own_ids])
        self.refused_pages = 0
        self.ops = 0

    def used_pages(self) -> int:
        return int(sum(self.zone.a.own_pages[o] for o in self.own_ids))

    def tick(self, seconds: float = 1.0) -> None:
        """One tick: free `churn` of random allocations, then allocate back up
        to the fill target (what was freed plus at most the ramp rate)."""
        page_mib = (1 << 20) // C.PAGE_SIZE
        a = self.zone.a
        args = (a, self.ent_owner, self.ent_order, self.ent_cum, self.own_ids, self.own_cum)
        volume = int(self.spec.churn_mib_per_s * seconds * page_mib)
        before = self.used_pages()
        _, frees, _ = churn(*args, volume, 0, WMARK_LOW, self.rng)
        used = self.used_pages()
        target = int(self.spec.fill * self.zone.nr_pages)
        ramp = int(self.spec.ramp_mib_per_s * seconds * page_mib)
        grow = min(max(target - used, 0), before - used + ramp)
        allocs, _, refused = churn(*args, 0, grow, WMARK_LOW, self.rng)
        self.ops += allocs + frees
        self.refused_pages += refused
