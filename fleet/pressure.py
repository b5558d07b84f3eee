"""A guest's memory pressure, PSI-like: the share of an interval in which
the guest's tasks were stalled on memory, as /proc/pressure/memory's `some`
line measures it (kernel/sched/psi.c; Documentation/accounting/psi.rst).

The model counts work, not time, so work becomes time at a fixed cost per
page. The stalls counted are those PSI brackets with psi_memstall_enter in
the guest's tasks: direct reclaim (`__perform_reclaim`), direct compaction
(`__alloc_pages_direct_compact`), and the host's swap-in of a page the guest
touches (`do_swap_page` -> `swap_read_folio` on the host: the vCPU waits).
The costs are modelling assumptions, not measurements: the order of
magnitude of the work each page takes on a current x86 server, untested
against a real kernel:
- RECLAIM_PAGE_S, 1 us per page direct reclaim frees (pgsteal_direct; the
  model scans what it frees): isolating it from the LRU, the rmap walk and
  unmap, freeing it (clean page cache and slab; the guest's own swap-out is
  written back asynchronously);
- COMPACT_SCAN_PAGE_S, 10 ns per pfn the direct compaction scanners pass
  (compact_migrate_scanned, compact_free_scanned): a struct page read;
- MIGRATE_PAGE_S, 2 us per page migration direct compaction attempts
  (pgmigrate_success + pgmigrate_fail while the workload runs): a 4 KiB copy
  (~0.4 us at 10 GB/s) plus unmap, TLB flush and remap;
- a host swap-in takes its page's 4 KiB at the host swap device's bandwidth
  (hosts.swap_bandwidth), the device serving the guest alone (contention
  between the host's guests is not modelled).
kswapd and kcompactd, which PSI also counts system-wide, are left out: like a
workload's cgroup pressure (what Senpai reads), only the guest's own tasks'
stalls count, and the balloon driver's own reclaim (a kworker) neither. Stall
time is capped at the length of each tick, as `some` counts time with at
least one task stalled, not task-seconds.
"""

import numpy as np

from .memory import constants as C

RECLAIM_PAGE_S = 1e-6
COMPACT_SCAN_PAGE_S = 1e-8
MIGRATE_PAGE_S = 2e-6

# The vmstat counters of the guest's direct work (read around each workload tick) and their costs.
DIRECT_COUNTERS = np.array(
    [
        C.VM_PGSTEAL_DIRECT,
        C.VM_COMPACT_MIGRATE_SCANNED,
        C.VM_COMPACT_FREE_SCANNED,
        C.VM_PGMIGRATE_SUCCESS,
        C.VM_PGMIGRATE_FAIL,
    ]
)
DIRECT_COSTS_S = np.array([RECLAIM_PAGE_S, COMPACT_SCAN_PAGE_S, COMPACT_SCAN_PAGE_S, MIGRATE_PAGE_S, MIGRATE_PAGE_S])


def direct_stall_s(before: np.ndarray, after: np.ndarray) -> float:
    """Seconds of direct reclaim and compaction between two readings of
    DIRECT_COUNTERS."""
    return float((after - before) @ DIRECT_COSTS_S)


def swap_in_s(pages: int, bandwidth: int) -> float:
    """Seconds a guest waits for `pages` swapped in at `bandwidth` bytes/s."""
    return pages * C.PAGE_SIZE / bandwidth


class StallWindow:
    """Stall seconds over a window of simulated time that starts at 0 and
    at every `close`."""

    def __init__(self) -> None:
        self.stalled = 0.0
        self.start = 0

    def add(self, seconds: float) -> None:
        self.stalled += seconds

    def share(self, now: int) -> float:
        """The share of the window up to `now` spent stalled (0..1)."""
        return min(1.0, self.stalled / (now - self.start)) if now > self.start else 0.0

    def close(self, now: int) -> float:
        """`share(now)`, and a new window from `now`."""
        out = self.share(now)
        self.stalled, self.start = 0.0, now
        return out
