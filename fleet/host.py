"""Host memory: what backs each guest, and the host's capacity.

`GuestBacking` is the host's view of one guest's memory (its mm, its EPT) in
2 MiB regions of guest-physical memory, with the host's THP enabled:
- a region is unpopulated until the guest touches it; the first touch of an
  unpopulated region faults in a whole host huge page (do_huge_pmd_anonymous_page);
- a balloon inflate of one 4 KiB page is a 4 KiB MADV_DONTNEED (QEMU
  `ram_block_discard_range`): inside a huge region it splits the host PMD
  (`__split_huge_pmd`, counted as thp_split_pmd) and frees that page; the
  region stays split, and later touches fault in 4 KiB pages;
- a free page report covers whole 2 MiB blocks and zaps whole regions without
  a split; a deflate is only a hint (the page is populated when touched);
- optional khugepaged re-collapses a split region (max_ptes_none = 511: any
  split region with a populated page becomes huge again, re-populating the
  discarded pages, as Andrea Arcangeli warned on linux-mm in 2016).

The guest's touches are sampled at policy boundaries: pages allocated at that
moment are taken as touched (a page allocated and freed within one epoch
between two discards is missed). Only the 2 MiB regions the guest allocated
in since the last look (the zone's `pb_dirty` marks) are examined, so an idle
guest costs nothing however large it is. The backing is updated where the guest runs
and the host policy sees its totals through the stats record.
"""

import numpy as np

from .memory import constants as C
from .memory.jit import kernel
from .memory.stream import decode

UNPOPULATED = 0
HUGE = 1
SPLIT = 2
REGION_PAGES = 1 << C.HPAGE_PMD_ORDER


@kernel
def _apply_stream(region, small, stream):
    """The host's side of a notification stream; returns (splits, pages
    discarded, change in populated 4 KiB pages of split regions). Compiled: a
    1 GiB inflate is 262,144 notifications."""
    splits = 0
    discarded = 0
    small_delta = 0
    for entry in stream:
        pfn, order, op = decode(entry)
        r = pfn // REGION_PAGES
        if op == C.STREAM_INFLATE:
            if region[r] == HUGE:
                region[r] = SPLIT
                small[r * REGION_PAGES : (r + 1) * REGION_PAGES] = True
                small_delta += REGION_PAGES
                splits += 1
            if region[r] == SPLIT and small[pfn]:
                small[pfn] = False
                small_delta -= 1
                discarded += 1
        elif op == C.STREAM_REPORT:
            last = (pfn + (1 << order)) // REGION_PAGES
            for q in range(r, last):
                if region[q] == HUGE:
                    discarded += REGION_PAGES
                elif region[q] == SPLIT:
                    for i in range(q * REGION_PAGES, (q + 1) * REGION_PAGES):
                        if small[i]:
                            small[i] = False
                            discarded += 1
                            small_delta -= 1
                region[q] = UNPOPULATED
    return splits, discarded, small_delta


@kernel
def _touch(region, small, dirty, owner, balloon):
    """Mark the regions with a page allocated to anyone but the balloon, among
    those marked dirty (and clear the marks): an unpopulated one becomes huge,
    a split one gets its newly allocated pages. Returns 4 KiB pages added."""
    added = 0
    for r in range(dirty.shape[0]):
        if not dirty[r]:
            continue
        dirty[r] = 0
        lo = r * REGION_PAGES
        if region[r] == UNPOPULATED:
            for i in range(lo, lo + REGION_PAGES):
                if owner[i] != C.OWNER_NONE and owner[i] != balloon:
                    region[r] = HUGE
                    break
        elif region[r] == SPLIT:
            for i in range(lo, lo + REGION_PAGES):
                if not small[i] and owner[i] != C.OWNER_NONE and owner[i] != balloon:
                    small[i] = True
                    added += 1
    return added


class GuestBacking:
    """Host-side backing of one guest of `nr_pages` pages. `small` is one
    byte per page but is written only in split regions, so untouched memory
    costs no resident memory (zero pages are mapped lazily)."""

    def __init__(self, nr_pages: int, khugepaged: bool = False):
        self.nr_regions = nr_pages // REGION_PAGES
        self.region = np.zeros(self.nr_regions, dtype=np.int8)
        self.small = np.zeros(nr_pages, dtype=bool)  # populated 4 KiB pages of split regions
        self.nr_small = 0  # pages set in `small`
        self.khugepaged = khugepaged
        self.splits = 0  # thp_split_pmd
        self.collapses = 0  # thp_collapse_alloc
        self.discarded = 0  # pages given back to the host

    def touch(self, dirty: np.ndarray, owner: np.ndarray, balloon: int) -> None:
        """The guest has allocated in the regions marked in `dirty` (cleared):
        pages of `owner` held by anyone but the balloon are touched."""
        self.nr_small += int(_touch(self.region, self.small, dirty, owner, balloon))

    def apply(self, stream: np.ndarray) -> None:
        """Apply the guest's notifications (memory/stream.py), in order."""
        splits, discarded, small_delta = _apply_stream(self.region, self.small, stream)
        self.splits += int(splits)
        self.discarded += int(discarded)
        self.nr_small += int(small_delta)

    def collapse(self) -> None:
        """khugepaged: collapse every split region that still has a page."""
        if not self.khugepaged:
            return
        grid = self.small.reshape(self.nr_regions, REGION_PAGES)
        split = np.flatnonzero(self.region == SPLIT)
        split = split[grid[split].any(axis=1)]
        self.collapses += len(split)
        self.region[split] = HUGE
        self.nr_small -= int(grid[split].sum())
        grid[split] = False

    def populated_pages(self) -> int:
        return self.huge_regions() * REGION_PAGES + self.nr_small

    def huge_regions(self) -> int:
        return int((self.region == HUGE).sum())


class Host:
    """A host's capacity and the guests' populated memory, as its own
    accounting sees them (HostState for the policy)."""

    def __init__(self, host_id: int, capacity: int):
        self.host_id = host_id
        self.capacity = capacity
        self.populated: dict[int, int] = {}  # guest id -> bytes

    def update(self, guest_id: int, populated_bytes: int) -> None:
        self.populated[guest_id] = populated_bytes

    def used(self) -> int:
        return sum(self.populated.values())
