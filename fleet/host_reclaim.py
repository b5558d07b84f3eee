"""The host's memory across its guests: its accounting (RAM, swap, OOM
kills) and its reclaim decisions, pure and testable; the HostController
(pack.py) has the guests carry them out (GuestBacking, host.py).

The host's free memory is its capacity minus the RAM backing its guests
(`BackingReport.resident`, queued huge pages counted whole; no host page
cache or host kernel use is modelled). At each boundary, after the guests
ran up to it, the host reclaims when its free memory is below its low
watermark, as kswapd, woken there, would have during the interval
(`wakeup_kswapd` below low, `balance_pgdat` up to high; an allocation that
finds less than min reclaims directly, then calls `out_of_memory`;
mm/page_alloc.c, mm/vmscan.c, mm/oom_kill.c, 6.1):

1. the deferred-split shrinker splits every queued folio (shrink_slab's
   `deferred_split_scan`): its unmapped subpages are freed without I/O;
2. if free memory is still below high and the host has swap, it swaps out
   guest anonymous memory up to high (`shrink_folio_list`'s `add_to_swap`),
   at most what the swap device has room for and what its bandwidth moves in
   the interval, less what the interval's swap-ins used. Victims, coldest
   first across the host (`swap_quotas`): the host's anon LRU as the model
   sees it, a region's age being the time since its guest last allocated in
   it (the guests' `lru` reports); ties go to the lower guest id, then the
   lower region;
3. while free memory is below min, the OOM killer kills the guest with the
   highest `oom_badness` (rss + swap entries + page tables, all
   oom_score_adj 0; a tie goes to the first in the task list, the guest
   started first: the lower id, as `select_bad_process` keeps the first of
   equal points). Its RAM and swap are freed and its rows end.

A `swap_storm` is a sample interval in which the host swapped out, on
average, at least SWAP_STORM_SHARE of its RAM per second.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from .host import REGION_PAGES, BackingReport, host_watermarks
from .memory.constants import PAGE_SIZE

SWAP_STORM_SHARE = 0.01  # swap-out of 1% of the host's RAM per second, over a sample interval


@dataclass(frozen=True)
class Reclaim:
    """What the host asks of one guest's backing at a boundary, done in
    this order."""

    shrink: bool = False  # run the deferred-split shrinker
    lru: bool = False  # report the guest's LRU (BackingReport.lru)
    swap_out: int = 0  # pages to swap out, coldest first
    kill: bool = False  # the OOM killer kills the guest


def badness(r: BackingReport) -> int:
    """`oom_badness` in pages: rss + swap entries + page tables."""
    return r.resident + r.swapped + r.page_tables


def oom_victim(reports: Iterable[BackingReport]) -> int:
    """The guest the OOM killer picks: the highest badness, the lower id on a tie."""
    return min(reports, key=lambda r: (-badness(r), r.guest_id)).guest_id


def swap_quotas(reports: Iterable[BackingReport], pages: int) -> dict[int, int]:
    """`pages` of swap-out split among the guests, the oldest mapped pages
    of the host first (by their `lru` reports; ties: the lower guest id)."""
    buckets = sorted((t, r.guest_id, n) for r in reports for t, n in r.lru)
    out: dict[int, int] = {}
    for _, guest, n in buckets:
        if pages <= 0:
            break
        take = min(n, pages)
        out[guest] = out.get(guest, 0) + take
        pages -= take
    return out


class Host:
    """One host's memory as its own accounting sees it, in pages: capacity,
    watermarks, the swap device, the latest report of each living guest,
    and what the killed guests had done."""

    def __init__(self, host_id: int, capacity: int, swap_size: int, swap_bandwidth: int):
        self.host_id = host_id
        self.capacity = capacity // PAGE_SIZE
        self.swap_size = swap_size // PAGE_SIZE
        self.swap_bandwidth = swap_bandwidth  # bytes/s
        self.wmin, self.low, self.high = (w // PAGE_SIZE for w in host_watermarks(capacity))
        self.reports: dict[int, BackingReport] = {}
        self.kills: list[tuple[int, int]] = []  # (guest id, badness in pages)
        self._retired_ins = 0  # swap-ins and swap-outs of killed guests
        self._retired_outs = 0

    def update(self, report: BackingReport) -> None:
        self.reports[report.guest_id] = report

    def kill(self, guest_id: int) -> None:
        """The OOM killer's victim: its memory and swap are freed."""
        r = self.reports.pop(guest_id)
        self.kills.append((guest_id, badness(r)))
        self._retired_ins += r.swap_ins
        self._retired_outs += r.swap_outs

    # ------------------------------------------------------------ figures

    def resident(self) -> int:
        return sum(r.resident for r in self.reports.values())

    def free(self) -> int:
        return self.capacity - self.resident()

    def swap_used(self) -> int:
        return sum(r.swapped for r in self.reports.values())

    def swap_ins(self) -> int:
        """Pages swapped in so far (cumulative, killed guests included)."""
        return self._retired_ins + sum(r.swap_ins for r in self.reports.values())

    def swap_outs(self) -> int:
        return self._retired_outs + sum(r.swap_outs for r in self.reports.values())

    def huge_coverage(self) -> float | None:
        """The share of the guests' resident memory that host huge pages map
        (None when nothing is resident)."""
        resident = self.resident()
        if not resident:
            return None
        return sum(r.huge_regions for r in self.reports.values()) * REGION_PAGES / resident

    # ------------------------------------------------------------ decisions

    def needs_reclaim(self) -> bool:
        """Free memory below low: kswapd is awake."""
        return self.free() < self.low

    def first_pass(self) -> dict[int, Reclaim]:
        """Step 1: the shrinker on every guest holding queued folios, and the
        LRU of every guest when swap-out may follow (free memory, less what
        the shrinker frees, below high, and a swap device)."""
        held = sum(r.held for r in self.reports.values())
        lru = self.swap_size > 0 and self.free() + held < self.high
        return {g: Reclaim(shrink=r.held > 0, lru=lru) for g, r in self.reports.items() if r.held or lru}

    def swap_budget(self, interval_s: int, swapped_in: int) -> int:
        """Pages the swap device can still take in an interval of
        `interval_s` whose swap-ins moved `swapped_in` pages."""
        moved = self.swap_bandwidth * interval_s // PAGE_SIZE - swapped_in
        return max(0, min(self.swap_size - self.swap_used(), moved))

    def second_pass(self, interval_s: int, swapped_in: int) -> dict[int, Reclaim]:
        """Steps 2 and 3 on the reports after step 1: swap-out up to high
        within the budget, then OOM kills while free memory stays below min
        (a victim's planned swap-out is dropped)."""
        free = self.free()
        quotas: dict[int, int] = {}
        if self.swap_size > 0 and free < self.high:
            quotas = swap_quotas(self.reports.values(), min(self.high - free, self.swap_budget(interval_s, swapped_in)))
        free += sum(quotas.values())
        alive = dict(self.reports)
        kills = []
        while free < self.wmin and alive:
            victim = oom_victim(alive.values())
            free += alive.pop(victim).resident - quotas.pop(victim, 0)
            kills.append(victim)
        out = {g: Reclaim(swap_out=q) for g, q in quotas.items() if q}
        out.update({g: Reclaim(kill=True) for g in kills})
        return out
