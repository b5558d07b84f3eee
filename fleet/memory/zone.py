"""`Zone`: one guest's physical memory as one object.

It owns the arrays (state.ZoneArrays), boots them as the kernel does, registers
owners and offers the allocator, the statistics and the invariant checker. The
compiled kernels do the work; this class only names things and checks
arguments.
"""

import numpy as np

from . import alloc, compaction, huge_memory, memblock, page_alloc, page_reporting, stats, virtio_balloon, vmscan
from . import constants as C
from .checker import check_zone
from .owner import PICK_NEWEST, PICK_OLDEST, PICK_RANDOM
from .rng import new_rng
from .state import copy_zone, empty_zone, state_bytes
from .stream import decode_all
from .watermark import (
    WMARK_LOW,
    WMARK_MIN,
    guest_zones,
    min_free_kbytes,
    recommended_min_free_kbytes,
    zone_watermarks,
)

PICKS = {"oldest": PICK_OLDEST, "newest": PICK_NEWEST, "random": PICK_RANDOM}

# page_group_by_mobility_disabled when the zone has fewer pages than
# pageblock_nr_pages * MIGRATE_TYPES (build_all_zonelists); MIGRATE_TYPES is 5
# in both eras without CMA (3.8: + Reserve, Isolate; 6.x: + HighAtomic, Isolate).
_MIGRATE_TYPES_KERNEL = 5
RESERVED_OWNER = "reserved"  # the owner of memblock-reserved pages
KCOMPACTD_PROACTIVE, KCOMPACTD_WORK = 0, 1  # the two kinds of kcompactd run (Zone._kcompactd)
LOWMEM_RESERVE_RATIO_DMA = 256  # sysctl_lowmem_reserve_ratio[ZONE_DMA] (6.1)


def _check_range(start: int, pages: int, nr_pages: int, what: str) -> None:
    if start < 0 or pages < 0 or start + pages > nr_pages:
        raise ValueError(f"{what} {start}+{pages} lies outside the zone")


class Zone:
    """The memory of one guest: `nr_pages` page frames in one zone.

    era: "3.8" or "6.x", the kernel whose rules the model follows where they
    differ (watermarks, fallback stealing, boot free-list order, compaction
    details, /proc texts). balloon_compaction: the seed's switch (balloon pages
    Movable and migratable) — off is the world before Linux 3.8. rng: the
    guest's one generator state (fleet.memory.rng.new_rng); reclaim draws from
    it. reserved: memblock-reserved (start pfn, pages) ranges, owned by
    "reserved" and not freed to the buddy allocator (memblock_reserve) unless
    free_reserved_area frees them later; managed pages and the watermarks
    exclude them, as the kernel's zone->managed_pages does. thp: THP is enabled (always or
    madvise), so min_free_kbytes is raised as khugepaged does
    (watermark.recommended_min_free_kbytes, for the zones a QEMU guest of
    this size has). other_zone_pages: managed pages of guest zones the model
    leaves out (the DMA zone in validation); they take their share of
    min_free_kbytes and, taken as all free, may keep the node balanced for
    6.x's wakeup_kswapd (page_alloc.wakeup_kswapd). balloon_isolation:
    "seed" or "merged-3.8", how the migrate scanner may isolate balloon
    pages (compaction.isolate_migratepages);
    None picks the era's (constants.BALLOON_ISOLATION_DEFAULT). thp_defrag:
    /sys/kernel/mm/transparent_hugepage/defrag, the one system-wide mode
    every THP fault obeys (huge_memory.DEFRAG_MODES). pcp: the
    era's per-cpu page lists (page_alloc.zone_batchsize, zone_highsize);
    False frees every page straight to the buddy lists.
    """

    def __init__(
        self,
        nr_pages: int,
        era: str = "6.x",
        watermark_scale_factor: int = 10,
        balloon_compaction: bool = True,
        deflate_on_oom: bool = False,
        swap: bool = False,
        rng: np.ndarray | None = None,
        reserved: tuple[tuple[int, int], ...] = (),
        thp: bool = True,
        other_zone_pages: int = 0,
        balloon_isolation: str | None = None,
        pcp: bool = True,
        thp_defrag: str = "madvise",
    ):
        if era not in C.ERAS:
            raise ValueError(f"era must be one of {', '.join(C.ERAS)}, got {era!r}")
        balloon_isolation = balloon_isolation or C.BALLOON_ISOLATION_DEFAULT[era]
        if balloon_isolation not in C.BALLOON_ISOLATION:
            raise ValueError(f"balloon_isolation must be one of {', '.join(C.BALLOON_ISOLATION)}")
        if thp_defrag not in huge_memory.DEFRAG_MODES:
            raise ValueError(f"thp_defrag must be one of {', '.join(huge_memory.DEFRAG_MODES)}")
        self.thp_defrag = thp_defrag
        if not 1 <= watermark_scale_factor <= 3000:
            raise ValueError("watermark_scale_factor must be within 1..3000")
        self.era = era
        self.a = empty_zone(nr_pages)
        self.owner_names: list[str] = ["(free)"]
        zs = self.a.zs
        managed = nr_pages
        if reserved:
            o = self.register_owner(RESERVED_OWNER, C.KIND_KERNEL)
            for start, pages in reserved:
                _check_range(start, pages, nr_pages, "reserved range")
                memblock.memblock_reserve(self.a, o, start, start + pages)
            managed -= self.owner_pages(o)
        zs[C.ZS_NR_PAGES] = nr_pages
        zs[C.ZS_MANAGED] = managed
        zs[C.ZS_ERA] = C.ERAS[era]
        zs[C.ZS_MOBILITY_DISABLED] = int(managed < C.PAGEBLOCK_NR_PAGES * _MIGRATE_TYPES_KERNEL)
        self._wmark_setup = (watermark_scale_factor, thp, other_zone_pages, pcp)
        self.init_per_zone_wmark_min()
        zs[C.ZS_EXTFRAG_THRESHOLD] = 500
        zs[C.ZS_SWAP] = int(swap)
        zs[C.ZS_DEFLATE_ON_OOM] = int(deflate_on_oom)
        zs[C.ZS_BALLOON_COMPACTION] = int(balloon_compaction)
        zs[C.ZS_BALLOON_ISOLATION] = C.BALLOON_ISOLATION[balloon_isolation]
        memblock.boot_free_all(self.a)
        self.rng = new_rng(0, 0) if rng is None else rng
        # Balloon pages: GFP_HIGHUSER_MOVABLE with the seed, GFP_HIGHUSER before.
        mt = C.MIGRATE_MOVABLE if balloon_compaction else C.MIGRATE_UNMOVABLE
        zs[C.ZS_BALLOON_OWNER] = self.register_owner("balloon", C.KIND_BALLOON, mt)
        self.stream_totals = np.zeros(3, dtype=np.int64)  # pages per STREAM_* op
        self._drained: list[np.ndarray] = []
        # kcompactd's run that yielded the vCPU (run_daemons' budget): which
        # kind it is (KCOMPACTD_PROACTIVE or KCOMPACTD_WORK), its
        # compact_control, its lists of isolated pages, and the fragmentation
        # score it started from or the order it was woken for.
        self._kcompactd: tuple[int, np.ndarray, np.ndarray, np.ndarray, int] | None = None

    def init_per_zone_wmark_min(self) -> None:
        """min_free_kbytes, the watermarks and the per-cpu lists' batch and
        high from the managed pages now: at boot, and again after memory
        hotplug (`init_per_zone_wmark_min` and `zone_pcp_update`, which
        online_pages and offline_pages call; memory_hotplug.py). The rule of
        boot is used both times: lowmem is the managed pages (plus the
        guest zones left out of the model)."""
        watermark_scale_factor, thp, other_zone_pages, pcp = self._wmark_setup
        zs, era = self.a.zs, C.ERAS[self.era]
        managed, nr_pages = int(zs[C.ZS_MANAGED]), int(zs[C.ZS_NR_PAGES])
        lowmem = managed + other_zone_pages
        if thp:
            mfk = recommended_min_free_kbytes(lowmem, era, guest_zones(nr_pages + other_zone_pages))
        else:
            mfk = min_free_kbytes(lowmem, era)
        zs[C.ZS_MIN_FREE_KBYTES] = mfk
        zs[C.ZS_WMARK_MIN : C.ZS_WMARK_PROMO + 1] = zone_watermarks(managed, era, watermark_scale_factor, mfk, lowmem)
        if other_zone_pages:
            # The lower zone's high watermark (its share of min_free_kbytes)
            # plus its lowmem_reserve against requests that may use this zone
            # (setup_per_zone_lowmem_reserve: managed / lowmem_reserve_ratio).
            _, _, high, _ = zone_watermarks(other_zone_pages, era, watermark_scale_factor, mfk, lowmem)
            zs[C.ZS_LOWER_ZONE_BALANCED] = other_zone_pages > high + managed // LOWMEM_RESERVE_RATIO_DMA
        self._zone_pcp_update(0, pcp)

    # ------------------------------------------------------------ owners

    def register_owner(self, name: str, kind: int, migratetype: int | None = None) -> int:
        """Register an owner of `kind` (constants.KIND_*) and return its id.

        The migratetype defaults to the kind's (gfp_migratetype); the balloon
        passes its own, which depends on the balloon-compaction switch.
        """
        o = len(self.owner_names)
        if o >= C.MAX_OWNERS:
            raise ValueError(f"at most {C.MAX_OWNERS - 1} owners per guest")
        self.a.own_kind[o] = kind
        self.a.own_mt[o] = C.KIND_MIGRATETYPE[kind] if migratetype is None else migratetype
        self.owner_names.append(name)
        return o

    def owner_pages(self, o: int) -> int:
        return int(self.a.own_pages[o])

    # ------------------------------------------------------------ allocator

    @property
    def nr_pages(self) -> int:
        return int(self.a.zs[C.ZS_NR_PAGES])

    @property
    def nr_free(self) -> int:
        return int(self.a.zs[C.ZS_NR_FREE])

    def watermark(self, which: int) -> int:
        return int(self.a.zs[C.ZS_WMARK_MIN + which])

    def alloc(self, o: int, order: int = 0, wmark: int = WMARK_MIN) -> int:
        """Allocate one block; the head pfn, or -1 if refused."""
        if not 0 <= order <= C.MAX_PAGE_ORDER:
            raise ValueError(f"order must be within 0..{C.MAX_PAGE_ORDER}")
        return int(page_alloc.alloc_pages(self.a, order, o, wmark))

    def alloc_bulk(self, o: int, order: int, count: int, wmark: int = WMARK_LOW) -> int:
        """Allocate up to `count` blocks; returns how many were allocated."""
        return int(page_alloc.alloc_pages_bulk(self.a, o, order, count, wmark))

    def free(self, pfn: int) -> int:
        """Free the allocation whose head is `pfn`; returns pages freed."""
        flags = int(self.a.pflags[pfn])
        if not flags & C.PF_HEAD or self.a.owner[pfn] == C.OWNER_NONE:
            raise ValueError(f"pfn {pfn} is not the head of an allocation")
        return int(page_alloc.free_pages(self.a, pfn))

    def free_owner(self, o: int, nr_pages: int, rng: np.ndarray, how: str = "random") -> int:
        """Free at least `nr_pages` of owner `o` (fewer if it has fewer)."""
        return int(page_alloc.free_owner_pages(self.a, o, nr_pages, PICKS[how], rng))

    def free_owner_every(self, o: int, n: int) -> int:
        """Free every `n`th allocation of owner `o`, oldest first
        (page_alloc.free_every_nth); returns pages freed."""
        if n < 1:
            raise ValueError("n must be at least 1")
        return int(page_alloc.free_every_nth(self.a, o, n))

    def alloc_gfp(self, o: int, order: int, count: int, gfp: int = C.GFP_USER) -> int:
        """`count` allocations through the slow path (reclaim, compaction);
        returns how many succeeded before the first failure."""
        return int(alloc.alloc_pages_gfp_bulk(self.a, o, order, count, gfp, self.rng))

    # ------------------------------------------------------------ daemons, compaction

    def compact_memory(self) -> None:
        """`echo 1 > /proc/sys/vm/compact_memory`: sync, whole zone, skip hints
        ignored (compact_node)."""
        compaction.init_cc(self.a, -1, compaction.MIGRATE_SYNC, 1, 1, 0, 0)
        self._run_compaction()

    def _run_compaction(self) -> int:
        result = compaction.compact_zone(self.a)
        while result == compaction.COMPACT_SUSPENDED:
            self.drain_stream()
            result = compaction.compact_zone(self.a)
        return int(result)

    def _kcompactd_end(self, kind: int, result: int, start: int) -> None:
        """kcompactd's run ends or yields. A yielded run keeps its state, its
        compact_control and its two lists of isolated pages, for
        continue_kcompactd. A proactive run that ended without lowering the
        score (`start`) puts the next check off by 32 s (kcompactd's
        `timeout << COMPACT_MAX_DEFER_SHIFT`); a run woken for work at
        order `start` ends as kcompactd_do_work does (kcompactd_done), drops
        the wake-ups for that order or below that came while it ran (they
        set kcompactd_max_order, which its end resets) and restarts the
        500 ms timeout."""
        a = self.a
        if result == compaction.COMPACT_YIELDED:
            self._kcompactd = (kind, a.cc.copy(), a.cc_migrate.copy(), a.cc_free.copy(), start)
            return
        self._kcompactd = None
        if kind == KCOMPACTD_WORK:
            compaction.kcompactd_done(a, start, result)
            if a.zs[C.ZS_KCOMPACTD_WAKE] <= start + 1:
                a.zs[C.ZS_KCOMPACTD_WAKE] = 0
            a.zs[C.ZS_PROACTIVE_WAIT_MS] = 0
        elif result != compaction.COMPACT_SKIPPED and compaction.fragmentation_score(a) >= start:
            a.zs[C.ZS_PROACTIVE_WAIT_MS] = compaction.PROACTIVE_DEFER_MS

    def continue_kcompactd(self, budget: int = 0) -> None:
        """Give kcompactd's yielded run the vCPU again, for `budget` more
        migrations (0: until it ends). A proactive run finishes the batch it
        holds and then gives way if kswapd has been woken meanwhile, as
        6.1's does (compaction.compact_finished). Direct compaction used the
        zone's cc and lists meanwhile, so the run's own are put back first."""
        if self._kcompactd is None:
            return
        kind, cc, migratepages, freepages, start = self._kcompactd
        a = self.a
        a.cc[:], a.cc_migrate[:], a.cc_free[:] = cc, migratepages, freepages
        a.cc[compaction.CC_BUDGET] = cc[compaction.CC_NR_MIGRATED] + budget if budget else 0
        self._kcompactd_end(kind, self._run_compaction(), start)

    def run_daemons(self, kcompactd: bool = True, proactiveness: int = 0, seconds: float = 1, budget: int = 0) -> bool:
        """What runs in a round of `seconds` between ticks: kswapd if woken;
        in 6.x kcompactd for the order kswapd was woken for (pageblock order
        after a boosted kswapd run), and a proactive compaction check. As in
        6.1's kcompactd loop, the check gives way in a round in which kswapd
        was woken (should_proactive_compact_node and __compact_finished test
        kswapd_is_running), and a run that did not lower the fragmentation
        score puts the next check off by 32 s (the 500 ms timeout <<
        COMPACT_MAX_DEFER_SHIFT) unless kcompactd is woken for work
        meanwhile, which resets the timeout. One check per round: a caller
        that follows the kernel's 500 ms timer calls with `seconds` 0.5. In 3.8 kswapd's own async
        compaction for that order (compaction.kswapd_compact_38), which no
        switch turns off. The skip bits a direct compaction that ran the
        scanners to their meeting point asked to flush are cleared when a
        kswapd that was woken goes back to sleep (kswapd_try_to_sleep), not
        in a round in which kswapd slept throughout. `budget` > 0: a
        kcompactd run started here, woken for work or proactive, yields after
        that many migrations and is resumed by continue_kcompactd (kcompactd
        sharing the vCPU with the task beside it). kcompactd is one thread:
        while its run is live no other starts, and a wake-up for work waits
        for the run's end (it sets kcompactd_max_order), which drops it when
        the run was woken for that order or a higher one. Returns True if
        kcompactd_do_work ran: a kswapd woken for order 0 and not boosted
        wakes no kcompactd (6.1 wakeup_kcompactd returns at order 0)."""
        zs = self.a.zs
        woken = int(zs[C.ZS_KSWAPD_WAKE]) - 1
        kswapd_ran = woken >= 0
        vmscan.balance_pgdat(self.a, self.rng)
        woken = max(woken, int(zs[C.ZS_KCOMPACTD_WAKE]) - 1)
        zs[C.ZS_KCOMPACTD_WAKE] = 0
        if kswapd_ran and zs[C.ZS_BLOCKSKIP_FLUSH]:
            compaction.reset_isolation_suitable(self.a)  # kswapd_try_to_sleep
        if self.era != "6.x":
            if woken > 0 and compaction.kswapd_compact_38(self.a, woken) == compaction.COMPACT_SUSPENDED:
                self._run_compaction()
            return False
        kcompactd_woken = kcompactd and woken > 0
        if kcompactd_woken and self._kcompactd is not None:
            zs[C.ZS_KCOMPACTD_WAKE] = woken + 1  # kcompactd_max_order: for when the live run ends
            return False
        if kcompactd_woken:
            result = compaction.kcompactd_do_work(self.a, woken, budget)
            if result == compaction.COMPACT_SUSPENDED:
                result = self._run_compaction()
            self._kcompactd_end(KCOMPACTD_WORK, result, woken)
        if not proactiveness or self._kcompactd is not None:
            return kcompactd_woken
        if zs[C.ZS_PROACTIVE_WAIT_MS] > 0:
            zs[C.ZS_PROACTIVE_WAIT_MS] = max(0, int(zs[C.ZS_PROACTIVE_WAIT_MS]) - round(seconds * 1000))
            return kcompactd_woken
        if kswapd_ran:
            return kcompactd_woken
        before = compaction.fragmentation_score(self.a)
        result = compaction.proactive_compact(self.a, proactiveness, budget)
        if result == compaction.COMPACT_SUSPENDED:
            result = self._run_compaction()
        self._kcompactd_end(KCOMPACTD_PROACTIVE, result, before)
        return kcompactd_woken

    # ------------------------------------------------------------ balloon

    @property
    def balloon_owner(self) -> int:
        return int(self.a.zs[C.ZS_BALLOON_OWNER])

    def balloon_pages(self) -> int:
        return int(self.a.own_pages[self.balloon_owner])

    def inflate(self, nr_pages: int) -> int:
        """One `fill_balloon` batch (<= 256 pages), each page through the
        __GFP_NORETRY slow path. Returns pages inflated."""
        done = int(virtio_balloon.fill_balloon(self.a, min(nr_pages, virtio_balloon.BALLOON_BATCH), self.rng))
        self.drain_stream()
        return done

    def deflate(self, nr_pages: int) -> int:
        """One `leak_balloon` batch (<= 256 pages). Returns pages deflated."""
        done = int(virtio_balloon.leak_balloon(self.a, min(nr_pages, virtio_balloon.BALLOON_BATCH)))
        self.drain_stream()
        return done

    def update_balloon_size(self, target_pages: int, budget: int) -> None:
        """Move the balloon toward `target_pages` by at most `budget` pages, a
        batch at a time, stopping at the first short batch
        (virtio_balloon.update_balloon_size); the host stream is drained as it fills."""
        done = False
        while not done:
            budget, done = virtio_balloon.update_balloon_size(self.a, target_pages, budget, self.rng)
            self.drain_stream()

    def report_free_pages(self) -> int:
        """One free page reporting pass; returns blocks reported."""
        n = int(page_reporting.report_free_pages(self.a))
        self.drain_stream()
        return n

    def drain_stream(self) -> np.ndarray:
        """Take the host notifications buffered so far (stream.py entries)."""
        n = int(self.a.zs[C.ZS_STREAM_LEN])
        out = self.a.stream[:n].copy()
        self.a.zs[C.ZS_STREAM_LEN] = 0
        if n:
            _, orders, ops = decode_all(out)
            pages = np.int64(1) << orders
            self.stream_totals += np.bincount(ops, weights=pages, minlength=3).astype(np.int64)
            self._drained.append(out)
        return out

    def take_stream(self) -> np.ndarray:
        """Every host notification since the last call, in order (for the host
        model); drains the buffer first."""
        self.drain_stream()
        out = np.concatenate(self._drained) if self._drained else np.zeros(0, dtype=np.int64)
        self._drained = []
        return out

    # ------------------------------------------------------------ THP

    def thp_fault(self, thp_owner: int, anon_owner: int, pt_owner: int, nr_faults: int, madvised: bool = True):
        """PMD faults in a region (MADV_HUGEPAGE if `madvised`) under the
        zone's defrag mode, each huge page with its deposited PTE page
        (`pt_owner`, a page-table owner); returns (huge pages, fallbacks,
        base pages missing)."""
        mode = huge_memory.DEFRAG_MODES.index(self.thp_defrag)
        got = huge_memory.thp_fault(self.a, thp_owner, anon_owner, pt_owner, nr_faults, mode, madvised, self.rng)
        return tuple(int(x) for x in got)

    def free_thp(self, thp_owner: int, pt_owner: int, nr_pages: int, rng: np.ndarray, how: str = "random") -> int:
        """Unmap huge pages of `thp_owner` until at least `nr_pages` pages are
        freed, with their deposited PTE pages (huge_memory.zap_huge_pmds);
        returns the huge pages' pages freed."""
        return int(huge_memory.zap_huge_pmds(self.a, thp_owner, pt_owner, nr_pages, PICKS[how], rng))

    # ------------------------------------------------------------ statistics

    def free_2mib_blocks(self) -> int:
        """Free 2 MiB blocks as /proc/buddyinfo shows them (per-cpu lists left out)."""
        return stats.free_2mib_blocks(self.a.nr_free)

    @property
    def pcp_pages(self) -> int:
        """Free pages on the per-cpu lists (zoneinfo's pagesets `count`)."""
        return int(self.a.zs[C.ZS_PCP_COUNT])

    @property
    def pcp_high(self) -> int:
        """The per-cpu lists' `high` (zoneinfo's pagesets `high`)."""
        return int(self.a.zs[C.ZS_PCP_HIGH])

    def clear_pcp_free_factor(self) -> None:
        """What a run of order-0 allocations from the per-cpu lists does to
        6.1's pcp->free_factor: each halves it (rmqueue_pcplist), so a few
        short processes leave it at 0 and the next order 1..3 free does not
        empty the lists (free_high)."""
        self.a.zs[C.ZS_PCP_FREE_FACTOR] = 0

    def clear_watermark_boost(self) -> None:
        """What a write of vm.min_free_kbytes does besides recomputing the
        watermarks (6.1 `__setup_per_zone_wmarks`): watermark_boost = 0. The
        model keeps min_free_kbytes itself: only the validation recorder's
        drain writes it, and puts the old value back."""
        self.a.zs[C.ZS_WATERMARK_BOOST] = 0

    def free_reserved_area(self, start: int, pages: int) -> None:
        """Free reserved pfns start..start+pages-1 late in boot, as free_initmem
        and free_initrd_mem do (memblock.free_reserved_area)."""
        reserved = self.owner_names.index(RESERVED_OWNER) if RESERVED_OWNER in self.owner_names else -1
        _check_range(start, pages, self.nr_pages, "range")
        if reserved < 0 or not np.all(self.a.owner[start : start + pages] == reserved):
            raise ValueError(f"range {start}+{pages} is not all memblock-reserved")
        memblock.free_reserved_area(self.a, start, start + pages)

    def drain_pcp(self) -> None:
        """Every per-cpu page back to the buddy lists (drain_all_pages)."""
        page_alloc.drain_pages_zone(self.a)

    def set_pcp_high_fraction(self, fraction: int) -> None:
        """Write vm.percpu_pagelist_high_fraction (6.1's sysctl handler ->
        `zone_pcp_update`): batch from the managed pages of the moment (a
        balloon without DEFLATE_ON_OOM has lowered them), high from
        `zone_highsize` (fraction 0: the low watermark plus the boost of the
        moment). The lists keep their pages until a free spills them."""
        if self.era != "6.x" or not self.a.zs[C.ZS_PCP_HIGH]:
            raise ValueError("percpu_pagelist_high_fraction needs the 6.x era's per-cpu lists")
        if fraction != 0 and fraction < 8:
            raise ValueError("percpu_pagelist_high_fraction must be 0 or at least 8")
        self._zone_pcp_update(fraction, True)

    def _zone_pcp_update(self, fraction: int, pcp: bool) -> None:
        """`zone_pcp_update`: pcp->batch from the managed pages now, pcp->high
        from `zone_highsize` with low_wmark_pages (the boost included); high
        0 for a zone without lists."""
        zs, era = self.a.zs, C.ERAS[self.era]
        managed = int(zs[C.ZS_MANAGED])
        batch = page_alloc.zone_batchsize(era, managed, int(zs[C.ZS_NR_PAGES]))
        low = int(zs[C.ZS_WMARK_LOW] + zs[C.ZS_WATERMARK_BOOST])
        zs[C.ZS_PCP_BATCH] = batch
        zs[C.ZS_PCP_HIGH] = page_alloc.zone_highsize(era, batch, low, managed, fraction) if pcp else 0

    def free_2mib_blocks_drained(self) -> int:
        """Free 2 MiB blocks once the per-cpu lists were drained, measured on
        a copy: the zone itself is left as it is."""
        a = copy_zone(self.a)
        page_alloc.drain_pages_zone(a)
        return stats.free_2mib_blocks(a.nr_free)

    def pageblock_counts(self) -> np.ndarray:
        """Number of pageblocks per migratetype."""
        return np.bincount(self.a.pb_mt, minlength=C.NR_MIGRATETYPES)

    def pages_of_kinds(self) -> np.ndarray:
        """Pages held per owner kind (index: constants.KIND_*)."""
        a = self.a
        pages_of = np.zeros(C.NR_KINDS, dtype=np.int64)
        for o in range(1, len(self.owner_names)):
            pages_of[a.own_kind[o]] += a.own_pages[o]
        return pages_of

    def vmstat_items(self) -> list[tuple[str, int]]:
        """The /proc/vmstat counters the model keeps, in the kernel's names
        where the kernel has the counter (the extfrag ones are the model's
        counts of the mm_page_alloc_extfrag trace event)."""
        a = self.a
        pages_of = self.pages_of_kinds()
        return [
            ("nr_free_pages", self.nr_free),
            ("nr_anon_pages", int(pages_of[C.KIND_ANON])),
            ("nr_file_pages", int(pages_of[C.KIND_FILE])),
            ("nr_slab_reclaimable", int(pages_of[C.KIND_SLAB_RECLAIMABLE])),
            ("nr_slab_unreclaimable", int(pages_of[C.KIND_SLAB])),
            ("nr_page_table_pages", int(pages_of[C.KIND_PAGETABLE])),
            ("nr_kernel_misc", int(pages_of[C.KIND_KERNEL])),
            ("nr_anon_transparent_hugepages", int(pages_of[C.KIND_THP]) >> C.HPAGE_PMD_ORDER),
            ("nr_balloon_pages", int(pages_of[C.KIND_BALLOON])),
            ("nr_free_2mib_blocks", self.free_2mib_blocks()),
            ("nr_managed_pages", int(a.zs[C.ZS_MANAGED])),
        ] + [(name, int(a.vm[i])) for i, name in enumerate(C.VM_NAMES)]

    def proc_text(self, name: str) -> str:
        """One kernel file's text: buddyinfo, pagetypeinfo, vmstat,
        extfrag_index or unusable_index."""
        a = self.a
        if name == "buddyinfo":
            return stats.buddyinfo(a.nr_free)
        if name == "pagetypeinfo":
            return stats.pagetypeinfo(a.nr_free, a.pb_mt, C.ERAS[self.era])
        if name == "vmstat":
            return stats.vmstat(self.vmstat_items())
        if name == "extfrag_index":
            return stats.extfrag_index(a.nr_free)
        if name == "unusable_index":
            return stats.unusable_index(a.nr_free)
        raise ValueError(f"unknown kernel file {name!r}")

    def state_bytes_per_page(self) -> float:
        return state_bytes(self.a) / self.nr_pages

    def check(self, isolated=None) -> None:
        """Run the invariant checker (raises AssertionError)."""
        check_zone(self.a, isolated)


__all__ = ["Zone", "WMARK_MIN", "WMARK_LOW", "PICKS"]
