"""Synthetic workload profiles: a steady server, a periodic batch job and a
build-like load of many short-lived processes.

All allocate through the slow path (GFP_USER: kswapd wake-up, direct reclaim,
direct compaction), interleaving their kinds in small runs as concurrent
faults and kernel allocations interleave. Sizes given as None default to a
share of the guest's RAM (the `*_fraction` field next to them).

Kernel facts the profiles lean on:
- page tables: one PTE page maps 512 base pages (x86-64, memory/pgtable.py),
  so a mapping of N anon base pages needs about N/512 page-table pages; a
  PMD-mapped THP keeps one deposited PTE page (`Zone.thp_fault`), owned by
  the profile's "thp-pagetable" and freed with the huge page. With PTI the
  PGD is an order-1 allocation (PGD_ALLOCATION_ORDER), one per process.
- slab: SLUB picks slab orders 0..3 (slub_max_order = 3); caches of large
  objects (task_struct, inode caches, kmalloc-2k and up) use order 3. The
  default volume shares per order below are a plausible mix, not a
  measurement. Reclaimable slab (dentries, inodes) is shrunk by reclaim.
- THP: a MADV_HUGEPAGE region faults one order-9 page per 2 MiB with the
  gfp of the defrag mode (`Zone.thp_fault`); a failed fault maps 512 base
  pages instead.
"""

from __future__ import annotations

import heapq
import math

from ..memory import constants as C
from ..memory.pgtable import pte_pages
from ..memory.rng import random01
from ..spec.workloads import BatchParams, BuildParams, ServerParams
from .base import Workload, register

THP_PAGES = 1 << C.HPAGE_PMD_ORDER


def _split_orders(pages: int, shares: tuple) -> list[tuple[int, int]]:
    """(order, blocks) that together make about `pages` pages, volume split by
    `shares` (index = order); the remainder goes to order 0."""
    total = sum(shares)
    if pages <= 0 or total <= 0:
        return [(0, max(pages, 0))]
    out = []
    used = 0
    for order, share in enumerate(shares):
        if order == 0:
            continue
        blocks = int(pages * share / total) >> order
        if blocks:
            out.append((order, blocks))
            used += blocks << order
    out.insert(0, (0, pages - used))
    return out


class _Helpers(Workload):
    """Shared steps: page tables that follow anon, THP faults, slab churn."""

    # the owners and counters of the profiles that fault THP (set in their __init__)
    anon: int
    thp: int
    thp_pt: int  # the huge pages' deposited PTE pages
    thp_alloc: int
    thp_fallback: int

    def slab_requests(self, o: int, pages: int, shares: tuple) -> list[tuple[int, int, int]]:
        return [(o, order, blocks) for order, blocks in _split_orders(pages, shares) if blocks > 0]

    def sync_page_tables(self, pt: int, mapped_base_pages: int) -> list[tuple[int, int, int]]:
        """Free page tables above what `mapped_base_pages` need; return the
        allocation request for the pages missing."""
        want = pte_pages(mapped_base_pages)
        have = self.zone.owner_pages(pt)
        if have > want:
            self.free(pt, have - want, "newest")
            return []
        return [(pt, 0, want - have)]

    def fault_thp_share(self, grow: int, fraction: float) -> int:
        """Fault `fraction` of `grow` new anon pages as THP (whole PMDs, the
        fraction of a PMD carried to the next tick); returns the base pages
        still to allocate."""
        nr = min(self.quota("thp", grow * fraction / THP_PAGES), grow // THP_PAGES)
        return max(grow - self.thp_faults(nr), 0)

    def thp_faults(self, nr: int) -> int:
        """`nr` madvised PMD faults under the kernel's defrag mode; returns
        the pages they produced (huge or fallback base pages; the deposited
        PTE pages not counted)."""
        if nr <= 0:
            return 0
        huge, fallback, missing = self.zone.thp_fault(self.thp, self.anon, self.thp_pt, nr, True)
        self.thp_alloc += huge
        self.thp_fallback += fallback
        made = nr * THP_PAGES - missing
        self.allocated_pages += made + huge  # the base pages, the huge pages and their deposits
        self.refused_pages += missing
        return made

    def free_thp(self, nr_pages: int, how: str = "random") -> int:
        """Unmap huge pages until at least `nr_pages` are freed, with their
        deposited PTE pages; returns the huge pages' pages freed."""
        if nr_pages <= 0:
            return 0
        tables = self.zone.owner_pages(self.thp_pt)
        freed = self.zone.free_thp(self.thp, self.thp_pt, nr_pages, self.rng, how)
        self.freed_pages += freed + tables - self.zone.owner_pages(self.thp_pt)
        return freed

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        if hasattr(self, "thp_alloc"):  # the profiles that fault THP
            out["thp_fault_alloc"] = float(self.thp_alloc)
            out["thp_fault_fallback"] = float(self.thp_fallback)
        return out


# ---------------------------------------------------------------- server


@register("server")
class Server(_Helpers):
    """A steady server: an anon working set ramped up to its size and then
    churned lightly, part of it in THP (madvised regions); page cache growing
    toward a cap from file reads and then slowly replaced; slab grown to a
    small footprint and churned; page tables following the anon mappings."""

    params: ServerParams

    def __init__(self, zone, params: ServerParams, rng):
        super().__init__(zone, params, rng)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.thp = self.owner("thp", C.KIND_THP)
        self.thp_pt = self.owner("thp-pagetable", C.KIND_PAGETABLE)
        self.file = self.owner("file", C.KIND_FILE)
        self.slab = self.owner("slab", C.KIND_SLAB)
        self.slab_r = self.owner("slab_reclaimable", C.KIND_SLAB_RECLAIMABLE)
        self.pt = self.owner("pagetable", C.KIND_PAGETABLE)
        self.thp_alloc = self.thp_fallback = 0
        self.file_read_pages = 0

    def tick(self, t: float, dt: float) -> None:
        s: ServerParams = self.params
        req = []
        # anon: ramp toward the working set, part of the growth as THP faults
        target = self.size_pages(s.anon_bytes, s.anon_fraction)
        grow = min(max(target - self.pages("anon", "thp"), 0), self.rate_pages("anon", s.anon_rate, dt))
        grow = self.fault_thp_share(grow, s.thp_fraction)
        churn = self.free(self.anon, self.rate_pages("anon_churn", s.anon_churn_rate, dt), "random")
        req.append((self.anon, 0, grow + churn))
        # page cache: reads toward the cap, then replacement of the oldest
        cap = self.size_pages(s.file_bytes, s.file_fraction)
        have = self.pages("file")
        read = min(max(cap - have, 0), self.rate_pages("file", s.file_rate, dt))
        if have >= cap:
            read += self.free(self.file, self.rate_pages("file_churn", s.file_churn_rate, dt), "oldest")
        self.file_read_pages += read
        req.append((self.file, 0, read))
        # slab: grow to the footprint, churn at random
        req += self._slab(s, dt)
        req += self.sync_page_tables(self.pt, self.pages("anon") + grow + churn)
        self.alloc_mix(req)

    def _slab(self, s: ServerParams, dt: float) -> list:
        footprint = self.size_pages(s.slab_bytes, s.slab_fraction)
        grow = min(max(footprint - self.pages("slab", "slab_reclaimable"), 0), self.rate_pages("slab", s.slab_rate, dt))
        churn = self.rate_pages("slab_churn", s.slab_churn_rate, dt)
        req = []
        share = s.slab_reclaimable_share
        for o, part in ((self.slab_r, share), (self.slab, 1.0 - share)):
            n = self.quota(f"slab{o}", (grow + churn) * part)
            freed = self.free(o, min(self.quota(f"slabfree{o}", churn * part), self.zone.owner_pages(o)))
            req += self.slab_requests(o, max(n, freed), s.slab_order_shares)
        return req

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out["file_read_pages"] = float(self.file_read_pages)
        return out


# ---------------------------------------------------------------- batch


@register("batch")
class Batch(_Helpers):
    """A periodic batch job: starting every `period_s`, it ramps its anon
    linearly to the peak over `ramp_s` (reading its input into the page cache
    meanwhile), holds it for `hold_s`, then exits and frees its anon and page
    tables at once. The page cache it read stays until reclaim takes it."""

    params: BatchParams

    def __init__(self, zone, params: BatchParams, rng):
        super().__init__(zone, params, rng)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.thp = self.owner("thp", C.KIND_THP)
        self.thp_pt = self.owner("thp-pagetable", C.KIND_PAGETABLE)
        self.file = self.owner("file", C.KIND_FILE)
        self.pt = self.owner("pagetable", C.KIND_PAGETABLE)
        self.thp_alloc = self.thp_fallback = 0
        self.job = -1  # index of the running job, -1 when none runs
        self.last_job = -1
        self.jobs_started = 0
        self.jobs_exited = 0
        self.job_grown = 0  # anon pages the running job asked for so far
        self.job_read = 0
        self.peak_reached = 0

    def _job_start(self, k: int) -> float:
        return self.params.start_s + k * self.params.period_s

    def _exit(self) -> None:
        for o in (self.anon, self.thp, self.thp_pt, self.pt):
            self.free_all(o)
        self.job = -1
        self.jobs_exited += 1

    def tick(self, t: float, dt: float) -> None:
        s: BatchParams = self.params
        te = t + dt
        if self.job >= 0 and te >= self._job_start(self.job) + s.ramp_s + s.hold_s:
            self._exit()
        if te > s.start_s:
            k = math.ceil((te - s.start_s) / s.period_s) - 1  # the last job started before te
            if k > self.last_job and te < self._job_start(k) + s.ramp_s + s.hold_s:
                if self.job >= 0:
                    self._exit()
                self.job = self.last_job = k
                self.jobs_started += 1
                self.job_grown = self.job_read = 0
        if self.job < 0:
            return
        frac = 1.0 if s.ramp_s == 0 else min(1.0, (te - self._job_start(self.job)) / s.ramp_s)
        peak = self.size_pages(s.peak_bytes, s.peak_fraction)
        grow = max(int(peak * frac) - self.job_grown, 0)
        self.job_grown += grow
        read = max(int(self.size_pages(s.input_bytes, s.input_fraction) * frac) - self.job_read, 0)
        self.job_read += read
        grow = self.fault_thp_share(grow, s.thp_fraction)
        req = [(self.anon, 0, grow), (self.file, 0, read)]
        req += self.sync_page_tables(self.pt, self.pages("anon") + grow)
        self.alloc_mix(req)
        self.peak_reached = max(self.peak_reached, self.pages("anon", "thp"))

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out["jobs_started"] = float(self.jobs_started)
        out["jobs_exited"] = float(self.jobs_exited)
        out["peak_anon_pages"] = float(self.peak_reached)
        return out


# ---------------------------------------------------------------- build


@register("build")
class Build(_Helpers):
    """A build (make -j): processes start at `procs_per_s`, each faulting its
    anon, an order-1 PGD plus its PTE pages, and some unmovable slab, and
    free them all when it exits a couple of seconds later; meanwhile sources
    and objects stream through the page cache (the oldest replaced once the
    cap is reached), dentries and inodes fill reclaimable slab, and kmalloc
    buffers churn unmovable slab. An exiting process frees as many pages as
    it got: the oldest anon and page tables of the build (processes live
    about equally long) and random unmovable slab."""

    params: BuildParams

    def __init__(self, zone, params: BuildParams, rng):
        super().__init__(zone, params, rng)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.file = self.owner("file", C.KIND_FILE)
        self.slab = self.owner("slab", C.KIND_SLAB)
        self.slab_r = self.owner("slab_reclaimable", C.KIND_SLAB_RECLAIMABLE)
        self.pt = self.owner("pagetable", C.KIND_PAGETABLE)  # PTE, PMD and PUD pages
        self.pgd = self.owner("pgd", C.KIND_PAGETABLE)  # order-1 PGDs (own owner: freed exactly)
        self.live: list[tuple[float, int, int, int, int, int]] = []  # (exit, seq, anon, pte, pgd, slab) heap
        self.slab_overfreed = 0  # slab freed beyond what exits asked (whole slabs), owed back
        self.seq = 0
        self.started = 0
        self.exited = 0
        self.file_written_pages = 0

    def _exits(self, te: float) -> None:
        while self.live and self.live[0][0] <= te:
            _, _, anon, pte, pgd, slab = heapq.heappop(self.live)
            self.free(self.anon, anon, "oldest")
            self.free(self.pt, pte, "oldest")
            self.free(self.pgd, pgd, "oldest")
            ask = slab - self.slab_overfreed
            if ask > 0:
                self.slab_overfreed = self.free(self.slab, ask, "random") - ask
            else:
                self.slab_overfreed = -ask
            self.exited += 1

    def tick(self, t: float, dt: float) -> None:
        s: BuildParams = self.params
        te = t + dt
        self._exits(te)
        if s.stop_s is not None and t >= s.stop_s:
            return  # the build is over: the system is at rest
        # new processes: anon, page tables (order-1 PGD with PTI, PTE pages), slab
        births = self.quota("procs", s.procs_per_s * dt)
        anon_pages = s.proc_anon_bytes // C.PAGE_SIZE
        pte = pte_pages(anon_pages) + 2  # PTEs plus a PUD and a PMD page
        slab_pages = s.proc_slab_bytes // C.PAGE_SIZE
        exits = [t + dt * (i + 0.5) / births + s.proc_lifetime_s * (0.5 + random01(self.rng)) for i in range(births)]
        req = [(self.anon, 0, births * anon_pages), (self.pgd, 1, births), (self.pt, 0, births * pte)]
        req += self.slab_requests(self.slab, births * slab_pages, s.slab_order_shares)
        # page cache: new sources and objects, the oldest dropped at the cap
        cap = self.size_pages(s.file_bytes, s.file_fraction)
        new = self.rate_pages("file", s.file_rate, dt)
        over = self.pages("file") + new - cap
        if over > 0:
            self.free(self.file, over, "oldest")
        self.file_written_pages += new
        req.append((self.file, 0, new))
        # dentries and inodes up to their cap; kmalloc churn
        dcap = self.size_pages(s.dentry_bytes, s.dentry_fraction)
        dnew = self.rate_pages("dentry", s.dentry_rate, dt)
        dover = self.pages("slab_reclaimable") + dnew - dcap
        if dover > 0:
            self.free(self.slab_r, dover, "random")
        req += self.slab_requests(self.slab_r, dnew, s.slab_order_shares)
        churn = self.rate_pages("slab_churn", s.slab_churn_rate, dt)
        held = len(self.live) * slab_pages  # per-process slab, freed at exit
        self.free(self.slab, min(churn, max(self.pages("slab") - held, 0)), "random")
        req += self.slab_requests(self.slab, churn, s.slab_order_shares)
        got = self.alloc_mix(req)
        # what the new processes really got (a refusal leaves them smaller)
        for i, exit_t in enumerate(exits):

            def mine(total: int, i: int = i) -> int:
                return int(total // births + (i < total % births))

            heapq.heappush(self.live, (exit_t, self.seq, mine(got[0]), mine(got[2]), 2 * mine(got[1]), slab_pages))
            self.seq += 1
        self.started += births

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out["procs_started"] = float(self.started)
        out["procs_exited"] = float(self.exited)
        out["file_written_pages"] = float(self.file_written_pages)
        return out
