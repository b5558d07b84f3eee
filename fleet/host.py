"""Host memory: what backs each guest, and the host's watermarks.

Long (about 600 lines) because the backing's four region states, its kernels,
khugepaged, the deferred-split shrinker and swap share one region array, one
PTE array and one counters array; split up, each part would import the
others'. The host-wide decisions (how much to swap from which guest, whom the
OOM killer kills) are in host_reclaim.py.

`GuestBacking` is the host's view of one guest's memory (the guest RAM of its
QEMU process: one anonymous VMA madvised MADV_HUGEPAGE, in the host's mm) in
2 MiB regions of guest-physical memory, with the host's THP enabled. A region
is in one of four states (`region`, one byte per region), and each 4 KiB page
of a region whose PMD points to a PTE table has one PTE (`pte`, one byte per
page, written only in such regions):

- UNPOPULATED: the PMD is none. The first touch faults in a whole host huge
  page (`__handle_mm_fault` takes `create_huge_pmd` only when
  `pmd_none(*vmf.pmd)`, mm/memory.c, 6.1) and the region becomes HUGE.
- HUGE: a PMD maps a THP; 512 pages resident.
- DEFERRED: the PMD was split by a 4 KiB discard (`zap_pmd_range` calls
  `__split_huge_pmd` for a range smaller than HPAGE_PMD_SIZE, counted as
  thp_split_pmd; mm/memory.c and mm/huge_memory.c, 6.1): a PTE table now maps
  the THP's subpages (PTE_SUBPAGE), and the zapped PTE's `page_remove_rmap`
  queued the folio for deferred split (`deferred_split_huge_page`,
  mm/rmap.c and mm/huge_memory.c, 6.1; `deferred_split_folio` from 6.4).
  The folio stays whole in host memory: its unmapped subpages are still
  resident (`held`). It leaves the queue when
  (a) the deferred-split shrinker runs (`deferred_split_scan` ->
      `split_huge_page`: `__split_huge_page` drops each subpage's reference,
      freeing the unmapped ones; the mapped ones become PTE_PAGE): SPLIT;
  (b) its last subpage is unmapped (the folio is freed and
      `free_transhuge_page` takes it off the queue): SPLIT;
  (c) khugepaged collapses the region: HUGE.
- SPLIT: the PMD points to a PTE table of 4 KiB pages of their own
  (PTE_PAGE) and of swap entries (PTE_SWAPPED). A discard or a free page
  report clears PTEs but the table stays (`zap_pte_range` frees pages, not
  the table; 6.1 has no empty-table reclaim), so a later touch faults one
  4 KiB page (`handle_pte_fault` -> `do_anonymous_page`), never a THP, until
  khugepaged collapses the region.

Swap (`swap_out`, asked by the host's reclaim, host_reclaim.py): the host
swaps the guest's anonymous memory out region by region, oldest first by
`last_touch` (the host's LRU as the model sees it: a region's age is the time
since the guest last allocated in it; `lru_pages`), following
`shrink_folio_list` (mm/vmscan.c, 6.1): a queued (not entirely mapped) folio
is split first (`split_folio_to_list`: its unmapped subpages are freed
without I/O); a PMD-mapped THP goes to swap whole (`add_to_swap` with
CONFIG_THP_SWAP, the x86_64 default) and `try_to_unmap(TTU_SPLIT_HUGE_PMD)`
splits its PMD into 512 swap PTEs (thp_split_pmd), or, when only part of it
fits the quota, it is split and swapped page by page
(THP_SWPOUT_FALLBACK); either way the region is SPLIT, and each swapped page's
PTE is a swap entry (PTE_SWAPPED). A guest touching a swapped page swaps it in
(`do_swap_page`: 6.1 swaps in 4 KiB pages, so the region stays SPLIT); a
discard of a swapped page frees its swap slot (`zap_pte_range` ->
`free_swap_and_cache`); khugepaged collapses a region with at most
KHUGEPAGED_MAX_PTES_SWAP swap entries, swapping them in
(`__collapse_huge_page_swapin`).

The guest's notifications (memory/stream.py) are QEMU's
`ram_block_discard_range`, MADV_DONTNEED on the host:
- a balloon inflate discards one 4 KiB page: in a HUGE region it splits the
  PMD (the region becomes DEFERRED) and unmaps the page; in a SPLIT region it
  frees a PTE_PAGE; unmapping a PTE_SUBPAGE frees nothing (the folio holds
  it) unless it was the folio's last mapped subpage (b);
- a free page report covers whole 2 MiB blocks (page_reporting_order is the
  pageblock order): a HUGE region's range is a whole PMD, so `zap_huge_pmd`
  frees the THP and leaves the PMD none (UNPOPULATED: the next touch faults a
  THP again); a SPLIT or DEFERRED region's PTEs are all cleared (a DEFERRED
  folio thereby loses its last mapping and is freed) and it stays SPLIT;
- a deflate is only a hint (the page is populated when touched).

khugepaged (`KhugepagedScan`, optional, one thread per host) scans at its
real rate; a scanned SPLIT or DEFERRED region collapses when its none PTEs
are at most max_ptes_none, repopulating every page of the region (discarded
balloon pages included, as Andrea Arcangeli warned on linux-mm in 2016).

The guest's touches are sampled at every sample and at the end of each
advance: pages allocated at that moment are taken as touched (a page
allocated and freed within one epoch between two discards is missed). Only
the 2 MiB regions the guest allocated in since the last look (the zone's
`pb_dirty` marks) are examined, so an idle guest costs nothing however large
it is. The backing is updated where the guest runs; the host sees its totals
in the guest's `BackingReport`.
"""

import math
from dataclasses import dataclass

import numpy as np

from .memory import constants as C
from .memory.jit import hot_kernel, kernel
from .memory.stream import decode
from .memory.watermark import recommended_min_free_kbytes, zone_watermarks

UNPOPULATED = 0
HUGE = 1
SPLIT = 2
DEFERRED = 3
REGION_PAGES = 1 << C.HPAGE_PMD_ORDER  # HPAGE_PMD_NR

PTE_NONE = 0
PTE_PAGE = 1  # a 4 KiB page of its own
PTE_SUBPAGE = 2  # a subpage of the region's THP, queued for deferred split
PTE_SWAPPED = 3  # a swap entry: the page is in the host's swap

# khugepaged/max_ptes_swap: a collapse swaps in at most this many pages
# (the kernel's default, HPAGE_PMD_NR / 8; SCAN_EXCEED_SWAP_PTE beyond it)
KHUGEPAGED_MAX_PTES_SWAP = REGION_PAGES // 8
NEVER_TOUCHED = -1  # last_touch of a region the guest never allocated in

# GuestBacking.counts
N_HUGE = 0  # regions mapped by a PMD (HUGE)
N_PTE = 1  # present PTEs (PTE_PAGE or PTE_SUBPAGE)
N_HELD = 2  # unmapped subpages of queued folios, still resident
N_DEFERRED = 3  # folios on the deferred-split queue (DEFERRED regions)
SPLITS = 4  # thp_split_pmd
COLLAPSES = 5  # thp_collapse_alloc
DISCARDED = 6  # pages given back to the host
SHRINKER_FREED = 7  # pages the deferred-split shrinker freed
FILLED = 8  # none PTEs khugepaged filled by collapsing
N_SWAPPED = 9  # swap entries (PTE_SWAPPED): pages in the host's swap
SWAP_OUTS = 10  # pages swapped out (pswpout)
SWAP_INS = 11  # pages swapped in, by the guest's touches and by khugepaged (pswpin)
SWAP_FREED = 12  # swap entries freed by a discard or a report
NR_COUNTS = 13


@hot_kernel
def _split_pmd(region, pte, counts, r):
    """`__split_huge_pmd` of a HUGE region: a PTE table maps the 512 subpages
    of the still whole THP, which the caller's zap then queues."""
    region[r] = DEFERRED
    pte[r * REGION_PAGES : (r + 1) * REGION_PAGES] = PTE_SUBPAGE
    counts[N_HUGE] -= 1
    counts[N_PTE] += REGION_PAGES
    counts[N_DEFERRED] += 1
    counts[SPLITS] += 1


@hot_kernel
def _folio_still_mapped(pte, r, pfn):
    """Whether a subpage of region r's folio other than `pfn` is still mapped,
    looking outward from `pfn` (a balloon inflates runs of pages, so the
    nearest one is usually next door)."""
    lo = r * REGION_PAGES
    hi = lo + REGION_PAGES
    for d in range(1, REGION_PAGES):
        below = pfn - d
        above = pfn + d
        if below < lo and above >= hi:
            break
        if below >= lo and pte[below] == PTE_SUBPAGE:
            return True
        if above < hi and pte[above] == PTE_SUBPAGE:
            return True
    return False


@hot_kernel
def _zap_pte(region, pte, counts, r, pfn):
    """`zap_pte_range` of one PTE: a page of its own is freed, a swap entry
    frees its slot (`free_swap_and_cache`); a subpage of the queued folio
    stays resident, unless it was the last one mapped: then the folio is
    freed (and leaves the queue) and the region is SPLIT."""
    v = pte[pfn]
    if v == PTE_NONE:
        return
    pte[pfn] = PTE_NONE
    if v == PTE_SWAPPED:
        counts[N_SWAPPED] -= 1
        counts[SWAP_FREED] += 1
        return
    counts[N_PTE] -= 1
    if v == PTE_PAGE:
        counts[DISCARDED] += 1
        return
    counts[N_HELD] += 1
    if not _folio_still_mapped(pte, r, pfn):
        counts[N_HELD] -= REGION_PAGES
        counts[DISCARDED] += REGION_PAGES
        counts[N_DEFERRED] -= 1
        region[r] = SPLIT


@kernel
def _apply_stream(region, pte, counts, stream):
    """The host's side of a notification stream, in order, on `counts`.
    Compiled: a 1 GiB inflate is 262,144 notifications."""
    for entry in stream:
        pfn, order, op = decode(entry)
        r = pfn // REGION_PAGES
        if op == C.STREAM_INFLATE:
            if region[r] == UNPOPULATED:
                continue  # nothing mapped: nothing to zap
            if region[r] == HUGE:
                _split_pmd(region, pte, counts, r)
            _zap_pte(region, pte, counts, r, pfn)
        elif op == C.STREAM_REPORT:
            last = (pfn + (1 << order)) // REGION_PAGES
            for q in range(r, last):
                if region[q] == HUGE:  # zap_huge_pmd: the THP is freed, the PMD left none
                    region[q] = UNPOPULATED
                    counts[N_HUGE] -= 1
                    counts[DISCARDED] += REGION_PAGES
                elif region[q] != UNPOPULATED:  # zap_pte_range over the whole table
                    pages = 0
                    subpages = 0
                    swapped = 0
                    for i in range(q * REGION_PAGES, (q + 1) * REGION_PAGES):
                        if pte[i] == PTE_PAGE:
                            pages += 1
                        elif pte[i] == PTE_SUBPAGE:
                            subpages += 1
                        elif pte[i] == PTE_SWAPPED:
                            swapped += 1
                        pte[i] = PTE_NONE
                    counts[N_PTE] -= pages + subpages
                    counts[DISCARDED] += pages
                    counts[N_SWAPPED] -= swapped
                    counts[SWAP_FREED] += swapped
                    if region[q] == DEFERRED:  # its last subpages unmapped: the folio is freed
                        counts[N_HELD] -= REGION_PAGES - subpages
                        counts[DISCARDED] += REGION_PAGES
                        counts[N_DEFERRED] -= 1
                    region[q] = SPLIT


@kernel
def _touch(region, pte, counts, last_touch, now, dirty, owner, balloon):
    """Mark the regions with a page allocated to anyone but the balloon, among
    those marked dirty (and clear the marks): an unpopulated one faults a THP,
    a split one (SPLIT or DEFERRED) a 4 KiB page per newly allocated page
    whose PTE is none and swaps in (`do_swap_page`) each allocated page whose
    PTE is a swap entry; each such region's `last_touch` becomes `now`."""
    for r in range(dirty.shape[0]):
        if not dirty[r]:
            continue
        dirty[r] = 0
        lo = r * REGION_PAGES
        if region[r] != SPLIT and region[r] != DEFERRED:
            for i in range(lo, lo + REGION_PAGES):
                if owner[i] != C.OWNER_NONE and owner[i] != balloon:
                    if region[r] == UNPOPULATED:
                        region[r] = HUGE
                        counts[N_HUGE] += 1
                    last_touch[r] = now
                    break
            continue
        for i in range(lo, lo + REGION_PAGES):
            if owner[i] == C.OWNER_NONE or owner[i] == balloon:
                continue
            last_touch[r] = now
            if pte[i] == PTE_NONE:
                pte[i] = PTE_PAGE
                counts[N_PTE] += 1
            elif pte[i] == PTE_SWAPPED:
                pte[i] = PTE_PAGE
                counts[N_SWAPPED] -= 1
                counts[N_PTE] += 1
                counts[SWAP_INS] += 1


@kernel
def _collapse(region, pte, counts, lo, hi, max_ptes_none):
    """khugepaged over regions [lo, hi) (`hpage_collapse_scan_pmd`, mm/khugepaged.c,
    6.1, `khugepaged_scan_pmd` before it): a none PMD (SCAN_PMD_NONE) or a
    PMD-mapped THP (SCAN_PMD_MAPPED) is left alone; a PTE table collapses
    unless more than `max_ptes_none` PTEs are none (SCAN_EXCEED_NONE_PTE) or
    more than KHUGEPAGED_MAX_PTES_SWAP are swap entries (SCAN_EXCEED_SWAP_PTE).
    The collapse (`collapse_huge_page`) swaps those in
    (`__collapse_huge_page_swapin`), copies the mapped pages into a new THP
    and zero-fills the rest; the old pages, or the queued folio (its last
    mapping gone), are freed."""
    for r in range(lo, hi):
        if region[r] != SPLIT and region[r] != DEFERRED:
            continue
        present = 0
        subpages = 0
        swapped = 0
        for i in range(r * REGION_PAGES, (r + 1) * REGION_PAGES):
            if pte[i] == PTE_SWAPPED:
                swapped += 1
            elif pte[i] != PTE_NONE:
                present += 1
                if pte[i] == PTE_SUBPAGE:
                    subpages += 1
        if REGION_PAGES - present - swapped > max_ptes_none or swapped > KHUGEPAGED_MAX_PTES_SWAP:
            continue
        resident = present + swapped
        if region[r] == DEFERRED:
            resident += REGION_PAGES - subpages
            counts[N_HELD] -= REGION_PAGES - subpages
            counts[N_DEFERRED] -= 1
        pte[r * REGION_PAGES : (r + 1) * REGION_PAGES] = PTE_NONE
        region[r] = HUGE
        counts[N_PTE] -= present
        counts[N_SWAPPED] -= swapped
        counts[SWAP_INS] += swapped
        counts[N_HUGE] += 1
        counts[COLLAPSES] += 1
        counts[FILLED] += REGION_PAGES - resident


@hot_kernel
def _split_folio(region, pte, counts, r):
    """`split_huge_page` of region r's queued folio: its unmapped subpages
    are freed, its mapped ones left as pages of their own. Returns the pages
    freed."""
    subpages = 0
    for i in range(r * REGION_PAGES, (r + 1) * REGION_PAGES):
        if pte[i] == PTE_SUBPAGE:
            pte[i] = PTE_PAGE
            subpages += 1
    freed = REGION_PAGES - subpages
    region[r] = SPLIT
    counts[N_HELD] -= freed
    counts[N_DEFERRED] -= 1
    counts[DISCARDED] += freed
    return freed


@kernel
def _deferred_split_scan(region, pte, counts):
    """The deferred-split shrinker over the whole queue (`deferred_split_scan`
    -> `split_huge_page`, mm/huge_memory.c, 6.1)."""
    for r in range(region.shape[0]):
        if region[r] == DEFERRED:
            counts[SHRINKER_FREED] += _split_folio(region, pte, counts, r)


@kernel
def _swap_out(region, pte, counts, order, quota):
    """Swap out up to `quota` pages, taking the regions in `order`
    (`shrink_folio_list`, mm/vmscan.c, 6.1): a queued folio is split first
    (freeing its unmapped subpages); a THP that fits the quota whole goes out
    whole, its PMD split into swap entries (thp_split_pmd); one that does not
    is split and swapped page by page, as are the pages of a SPLIT region.
    Returns the pages swapped out."""
    done = 0
    for k in range(order.shape[0]):
        if done >= quota:
            break
        r = order[k]
        if region[r] == UNPOPULATED:
            continue
        if region[r] == DEFERRED:
            _split_folio(region, pte, counts, r)
        lo = r * REGION_PAGES
        if region[r] == HUGE:
            region[r] = SPLIT
            pte[lo : lo + REGION_PAGES] = PTE_PAGE
            counts[N_HUGE] -= 1
            counts[N_PTE] += REGION_PAGES
            counts[SPLITS] += 1
        for i in range(lo, lo + REGION_PAGES):
            if done >= quota:
                break
            if pte[i] == PTE_PAGE:
                pte[i] = PTE_SWAPPED
                done += 1
    counts[N_PTE] -= done
    counts[N_SWAPPED] += done
    counts[SWAP_OUTS] += done
    return done


@dataclass(frozen=True)
class KhugepagedScan:
    """The host's one khugepaged thread as one guest sees it: which of the
    guest's regions its cursor passes, a function of simulated time and of
    the sizes of the host's guests only, so that each guest computes it alone.

    The rules (mm/khugepaged.c, 6.1): `khugepaged()` loops `khugepaged_do_scan`
    then sleeps `khugepaged_scan_sleep_millisecs` (default 10000); a pass
    scans `khugepaged_pages_to_scan` (default HPAGE_PMD_NR * 8 = 4096) units
    of progress, and `khugepaged_scan_mm_slot` adds HPAGE_PMD_NR per 2 MiB
    range it scans, whatever the range holds (none, PMD-mapped, a PTE table;
    collapsed or not), checking `progress >= pages` after each range; its mm
    slots (the QEMU processes, queued by `__khugepaged_enter` as each
    madvises its guest RAM) are scanned one after another, each from low to
    high address, and the cursor stays where a pass stopped.

    The model: pass k (k >= 1) runs at k * scan_sleep_s and scans the
    host-wide ranges [(k-1) * P, k * P) modulo the host's regions N, with
    P = ceil(pages_to_scan / HPAGE_PMD_NR); the guests are laid out in
    guest-id order, each guest's regions in pfn order (`offset` is the
    number of regions of the guests before it; a wrap starts over at guest 0).
    Left out: the one unit of progress per mm visit and per skipped VMA (for
    a pages_to_scan that is a multiple of HPAGE_PMD_NR, as the default is,
    they cost no range unless a pass makes 512 of them), QEMU's other VMAs
    (with THP enabled=madvise only guest RAM is eligible), and the kernel's
    cut of a pass at its second passage through the list head (only a pass
    longer than all the host's guests meets it; the model then scans them
    all, once)."""

    pages_to_scan: int
    scan_sleep_s: int
    max_ptes_none: int
    offset: int  # regions of the host's guests before this one
    host_regions: int  # regions of all the host's guests

    @property
    def ranges_per_pass(self) -> int:
        return math.ceil(self.pages_to_scan / REGION_PAGES)

    def ranges(self, after_s: int, until_s: int, nr_regions: int) -> list[tuple[int, int]]:
        """The guest's regions [lo, hi) (its own numbering; a guest of
        `nr_regions`) scanned by the passes at times in (after_s, until_s]."""
        first = after_s // self.scan_sleep_s + 1
        last = until_s // self.scan_sleep_s
        if last < first:
            return []
        n, p = self.host_regions, self.ranges_per_pass
        start, length = (first - 1) * p, (last - first + 1) * p
        if length >= n:
            return [(0, nr_regions)]
        a = start % n
        b = a + length  # < 2n: the guest's copies at offset and offset + n
        out = []
        for base in (self.offset, self.offset + n):
            lo, hi = max(a, base), min(b, base + nr_regions)
            if lo < hi:
                out.append((lo - base, hi - base))
        return out


@kernel
def _mapped_per_region(region, pte, out):
    """Mapped pages of each region (its swappable anonymous memory): 512 for
    a HUGE one, its present PTEs for one with a PTE table."""
    for r in range(region.shape[0]):
        if region[r] == HUGE:
            out[r] = REGION_PAGES
        elif region[r] != UNPOPULATED:
            n = 0
            for i in range(r * REGION_PAGES, (r + 1) * REGION_PAGES):
                if pte[i] == PTE_PAGE or pte[i] == PTE_SUBPAGE:
                    n += 1
            out[r] = n


@dataclass(frozen=True)
class BackingReport:
    """What the host's own accounting knows of one guest's memory, in pages
    (a plain record, sent from the guest's actor to its host's)."""

    guest_id: int
    resident: int  # host RAM backing the guest (GuestBacking.populated_pages)
    swapped: int  # pages in the host's swap
    held: int  # unmapped subpages of queued folios: what the shrinker would free
    page_tables: int  # PTE tables (regions with one), as oom_badness counts mm_pgtables_bytes
    huge_regions: int
    swap_ins: int  # cumulative
    swap_outs: int  # cumulative
    lru: tuple[tuple[int, int], ...] = ()  # (last touch time, mapped pages), oldest first; when asked


class GuestBacking:
    """Host-side backing of one guest of `nr_pages` pages; `khugepaged` is
    the host's scan as this guest sees it (None: khugepaged off). `pte` is
    one byte per page but is written only in regions with a PTE table, so
    untouched memory costs no resident memory (zero pages are mapped
    lazily)."""

    def __init__(self, nr_pages: int, khugepaged: KhugepagedScan | None = None):
        self.nr_regions = nr_pages // REGION_PAGES
        self.region = np.zeros(self.nr_regions, dtype=np.int8)
        self.pte = np.zeros(nr_pages, dtype=np.uint8)
        self.counts = np.zeros(NR_COUNTS, dtype=np.int64)
        self.last_touch = np.full(self.nr_regions, NEVER_TOUCHED, dtype=np.int64)
        self.khugepaged = khugepaged
        self.scanned_to_s = 0  # khugepaged's passes up to this time are applied

    # ------------------------------------------------------------ events

    def touch(self, dirty: np.ndarray, owner: np.ndarray, balloon: int, now: int) -> int:
        """The guest has allocated in the regions marked in `dirty` (cleared):
        pages of `owner` held by anyone but the balloon are touched, at time
        `now`. Returns the pages swapped in."""
        before = int(self.counts[SWAP_INS])
        _touch(self.region, self.pte, self.counts, self.last_touch, now, dirty, owner, balloon)
        return int(self.counts[SWAP_INS]) - before

    def apply(self, stream: np.ndarray) -> None:
        """Apply the guest's notifications (memory/stream.py), in order."""
        _apply_stream(self.region, self.pte, self.counts, stream)

    def scan(self, until_s: int) -> None:
        """khugepaged's passes since the last call, up to `until_s`."""
        k = self.khugepaged
        if k is not None:
            for lo, hi in k.ranges(self.scanned_to_s, until_s, self.nr_regions):
                _collapse(self.region, self.pte, self.counts, lo, hi, k.max_ptes_none)
        self.scanned_to_s = max(self.scanned_to_s, until_s)

    def shrink(self) -> None:
        """The host reclaims: the deferred-split shrinker splits every queued
        folio."""
        if self.counts[N_DEFERRED]:
            _deferred_split_scan(self.region, self.pte, self.counts)

    def swap_out(self, quota: int) -> int:
        """The host swaps out `quota` pages (fewer if the guest has fewer
        mapped), least recently touched regions first (ties: lower region
        first). Returns the pages swapped out."""
        if quota <= 0:
            return 0
        order = np.argsort(self.last_touch, kind="stable")
        return int(_swap_out(self.region, self.pte, self.counts, order, quota))

    # ------------------------------------------------------------ figures

    def populated_pages(self) -> int:
        """Host memory backing the guest: huge pages, mapped 4 KiB pages and
        the unmapped subpages that queued folios still hold."""
        c = self.counts
        return int(c[N_HUGE] * REGION_PAGES + c[N_PTE] + c[N_HELD])

    def lru_pages(self) -> tuple[tuple[int, int], ...]:
        """The guest's mapped pages by the time their region was last
        touched, oldest first: the order `swap_out` takes them in."""
        mapped = np.zeros(self.nr_regions, dtype=np.int64)
        _mapped_per_region(self.region, self.pte, mapped)
        keep = mapped > 0
        times, where = np.unique(self.last_touch[keep], return_inverse=True)
        pages = np.bincount(where, weights=mapped[keep], minlength=len(times))
        return tuple((int(t), int(p)) for t, p in zip(times, pages))

    def report(self, guest_id: int, lru: bool = False) -> BackingReport:
        c = self.counts
        return BackingReport(
            guest_id=guest_id,
            resident=self.populated_pages(),
            swapped=int(c[N_SWAPPED]),
            held=int(c[N_HELD]),
            page_tables=int(((self.region == SPLIT) | (self.region == DEFERRED)).sum()),
            huge_regions=int(c[N_HUGE]),
            swap_ins=int(c[SWAP_INS]),
            swap_outs=int(c[SWAP_OUTS]),
            lru=self.lru_pages() if lru else (),
        )

    def huge_regions(self) -> int:
        return int(self.counts[N_HUGE])

    def deferred_regions(self) -> int:
        return int(self.counts[N_DEFERRED])

    def swapped_pages(self) -> int:
        return int(self.counts[N_SWAPPED])

    @property
    def splits(self) -> int:
        return int(self.counts[SPLITS])

    @property
    def collapses(self) -> int:
        return int(self.counts[COLLAPSES])

    @property
    def discarded(self) -> int:
        return int(self.counts[DISCARDED])

    @property
    def shrinker_freed(self) -> int:
        return int(self.counts[SHRINKER_FREED])

    @property
    def filled(self) -> int:
        return int(self.counts[FILLED])

    @property
    def swap_ins(self) -> int:
        return int(self.counts[SWAP_INS])

    @property
    def swap_outs(self) -> int:
        return int(self.counts[SWAP_OUTS])

    @property
    def swap_freed(self) -> int:
        return int(self.counts[SWAP_FREED])

    def check(self) -> None:
        """Recount every counter of state from the arrays (for tests)."""
        grid = self.pte.reshape(self.nr_regions, REGION_PAGES)
        subpages = (grid == PTE_SUBPAGE).sum(axis=1)
        deferred = self.region == DEFERRED
        with_table = (self.region == SPLIT) | deferred
        assert not grid[~with_table].any(), "PTEs outside regions with a PTE table"
        assert not subpages[~deferred].any(), "subpages outside queued folios"
        assert subpages[deferred].all(), "a queued folio with no subpage mapped"
        assert not (grid[deferred] == PTE_SWAPPED).any(), "a swap entry in a queued folio's table"
        c = self.counts
        assert c[N_HUGE] == (self.region == HUGE).sum()
        assert c[N_PTE] == ((grid == PTE_PAGE) | (grid == PTE_SUBPAGE)).sum()
        assert c[N_SWAPPED] == (grid == PTE_SWAPPED).sum()
        assert c[N_DEFERRED] == deferred.sum()
        assert c[N_HELD] == (REGION_PAGES - subpages[deferred]).sum()
        assert (self.last_touch[self.region == HUGE] != NEVER_TOUCHED).all(), "a huge page never touched"


def host_watermarks(memory_bytes: int) -> tuple[int, int, int]:
    """The (min, low, high) watermarks, in bytes, of a 6.x host of
    `memory_bytes` with THP enabled: free memory below low wakes kswapd
    (and so the shrinkers), which reclaims up to high; an allocation that
    would leave less than min enters direct reclaim, and then the OOM killer.
    One zone of that many pages and no host page cache: min_free_kbytes as
    THP raises it (`set_recommended_min_free_kbytes`, called from
    `start_stop_khugepaged` whenever THP is enabled, mm/khugepaged.c 6.1; at
    least `calculate_min_free_kbytes`) and `__setup_per_zone_wmarks`'s low =
    min + max(min / 4, managed * watermark_scale_factor / 10000), high = low
    + the same step (memory/watermark.py). An 8 GiB host: min 5,632 pages,
    low 7,729, high 9,826."""
    pages = memory_bytes // C.PAGE_SIZE
    mfk = recommended_min_free_kbytes(pages, C.ERA_6_X, nr_zones=1)
    wmin, low, high = zone_watermarks(pages, C.ERA_6_X, mfk=mfk)[:3]
    return wmin * C.PAGE_SIZE, low * C.PAGE_SIZE, high * C.PAGE_SIZE
