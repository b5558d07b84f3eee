"""The host's working-set sampler of one guest: VMware ESX Server's
statistical sampling (Waldspurger, OSDI 2002, section 5.3).

At the start of each sampling period ESX picks n = 100 of the VM's physical
pages uniformly at random and invalidates their mappings; the guest's next
access to each is intercepted and counted (t), and f = t/n estimates the
share of its memory in active use. Here a period is a policy interval and
f is reported in the guest's stats record (GuestStats.active_fraction) for
the host's policy to smooth (policies/esx.py).

The model has no accesses, only allocations, frees and migrations, so a
sampled page counts as touched when what holds it changed during the
period: it was allocated, freed, or its allocation moved (its owner or the
head of its allocation differ between the period's start and end). A page
allocated and left alone is idle, as is a free page left free; missed are
every read and a page freed and allocated again to the same owner in
between. Pages held by the balloon or unplugged by virtio-mem at either end
of the period are not memory the host backs and are left out of t and n
(ESX samples the pages a VM has); with none left, f is 1.0, as before the
first period ends.

The sampler has its own generator, seeded from (experiment seed, host,
guest, SAMPLER_STREAM): deterministic, and drawing from it leaves the
model's own draws unchanged.
"""

import numpy as np

from .memory import constants as C
from .memory.jit import kernel
from .memory.rng import new_rng, randbelow

SAMPLE_PAGES = 100  # ESX's default: 100 pages per sampling period
SAMPLER_STREAM = 1  # the stream after (seed, host, guest) that seeds the sampler


@kernel
def _draw(rng, n, out):
    for i in range(out.shape[0]):
        out[i] = randbelow(rng, n)


def holders(owner: np.ndarray, pflags: np.ndarray, pfns: np.ndarray) -> np.ndarray:
    """What holds each page: -1 when free, else its owner and the head of
    its allocation in one number."""
    orders = (pflags[pfns] & C.PF_ORDER_MASK).astype(np.int64)
    heads = pfns & ~((np.int64(1) << orders) - 1)
    owners = owner[pfns].astype(np.int64)
    return np.where(owners == C.OWNER_NONE, -1, heads << 8 | owners)


class WorkingSetSampler:
    """Samples `SAMPLE_PAGES` pages of a guest of `nr_pages` per period."""

    def __init__(self, nr_pages: int, seed: int, host_id: int, guest_id: int):
        self.nr_pages = nr_pages
        self.rng = new_rng(seed, host_id, guest_id, SAMPLER_STREAM)
        self.pfns = np.zeros(SAMPLE_PAGES, dtype=np.int64)
        self.held: np.ndarray | None = None  # holders at the period's start
        self.owners = np.zeros(SAMPLE_PAGES, dtype=np.int64)

    def sample(self, owner: np.ndarray, pflags: np.ndarray, excluded: tuple[int, ...]) -> float:
        """End the period on the zone's `owner` and `pflags` arrays: f of its
        sampled pages (owners in `excluded` left out), and start the next."""
        f = 1.0
        if self.held is not None:
            now = owner[self.pfns].astype(np.int64)
            counted = ~(np.isin(self.owners, excluded) | np.isin(now, excluded))
            if counted.any():
                touched = holders(owner, pflags, self.pfns) != self.held
                f = float((touched & counted).sum() / counted.sum())
        _draw(self.rng, self.nr_pages, self.pfns)
        self.held = holders(owner, pflags, self.pfns)
        self.owners = owner[self.pfns].astype(np.int64)
        return f
