"""A guest: memory + balloon driver + workload + the host's backing of it.

`Guest.advance(until_s, target_bytes)` runs the guest tick by tick to the
host's next boundary: the workload's requests, the balloon driver moving
toward its target at the spec's rate in 256-page batches
(update_balloon_size_func) -- or, when the host's policy drives virtio-mem,
the virtio-mem driver plugging and unplugging blocks toward it at that rate
--, kswapd and kcompactd, free page reporting every 2 s; the host's backing
of it follows at every sample (its notifications, the pages it touched and
the swap-ins they cost, khugepaged's passes). It returns the stats record the
host sees, with the host's working-set sample of the interval
(fleet/working_set.py), and the samples rows of the interval; `Guest.reclaim`
then carries out what the host's reclaim asks of its backing (shrinker,
swap-out) and gives the new figures of the same moment. Memory pressure
(`psi_memory_some`, pressure.py) is the share of the last policy interval
(stats) or sample interval (samples) stalled in direct reclaim, direct
compaction or host swap-in. All randomness of the model comes from one
generator seeded from (experiment seed, host, guest); the working-set sampler
has its own.
"""

import pyarrow as pa

from . import pressure
from .host import REGION_PAGES, BackingReport, GuestBacking, KhugepagedScan
from .host_reclaim import Reclaim
from .memory import constants as C
from .memory import stats as S
from .memory.page_reporting import PAGE_REPORTING_DELAY
from .memory.rng import new_rng
from .memory.virtio_mem import VirtioMem
from .memory.zone import Zone
from .records import GuestStats
from .spec import GuestGroup, Spec
from .spec.guests import guest_memory, guest_params, host_guest_bytes, workload_parts
from .working_set import WorkingSetSampler
from .workload.base import make_composite, make_workload

VM_COLUMNS = C.VM_NAMES


def build_workload(name: str, zone: Zone, params: dict, rng):
    parts = workload_parts(name, params)
    if len(parts) == 1:
        return make_workload(parts[0][0], zone, parts[0][1], rng)
    return make_composite(zone, parts, rng)


def khugepaged_scan(spec: Spec, host_id: int, guest_id: int) -> KhugepagedScan | None:
    """The host's khugepaged as this guest sees it (None when off): the
    guests of the host laid out by guest id, from the spec alone."""
    h = spec.hosts
    if not h.khugepaged:
        return None
    regions = [nbytes // (C.PAGE_SIZE * REGION_PAGES) for nbytes in host_guest_bytes(spec, host_id)]
    return KhugepagedScan(
        pages_to_scan=h.khugepaged_pages_to_scan,
        scan_sleep_s=h.khugepaged_scan_sleep_s,
        max_ptes_none=h.khugepaged_max_ptes_none,
        offset=sum(regions[:guest_id]),
        host_regions=sum(regions),
    )


def virtio_mem_device(spec: Spec, zone: Zone) -> VirtioMem | None:
    """The guest's virtio-mem device when the host's policy drives one
    (policies: `device` "virtio-mem"), in the policy's block size; else None."""
    from policies import virtio_mem_block

    block = virtio_mem_block(spec.policy.name, spec.policy.params)
    return None if block is None else VirtioMem(zone, block // C.PAGE_SIZE)


class Guest:
    def __init__(self, spec: Spec, host_id: int, guest_id: int, group: GuestGroup):
        self.host_id, self.guest_id, self.group = host_id, guest_id, group
        self.spec = spec
        k = spec.kernel
        self.rng = new_rng(spec.experiment.seed, host_id, guest_id)
        params = guest_params(group.workload_params, spec.fleet_index(host_id, guest_id))
        self.memory = guest_memory(group, params)
        nr_pages = self.memory // C.PAGE_SIZE
        self.zone = Zone(
            nr_pages,
            era=k.era,
            balloon_compaction=k.balloon_compaction,
            swap=k.swap,
            rng=self.rng,
            balloon_isolation=None if k.balloon_isolation == "era" else k.balloon_isolation,
            pcp=k.pcp_lists,
            thp_defrag=k.thp_defrag,
        )
        self.workload = build_workload(group.workload, self.zone, params, self.rng)
        self.backing = GuestBacking(nr_pages, khugepaged_scan(spec, host_id, guest_id))
        self.balloon_rate_pages = max(1, k.balloon_rate // C.PAGE_SIZE)
        self.vmem = virtio_mem_device(spec, self.zone)
        self.target_pages = 0  # the balloon's target, or the unplugged size asked of virtio-mem
        self.sampler = WorkingSetSampler(nr_pages, spec.experiment.seed, host_id, guest_id)
        self.active_fraction = 1.0
        self.t = 0
        self.stalls = (pressure.StallWindow(), pressure.StallWindow())  # since the policy boundary, the sample
        self.psi_stats = 0.0  # psi_memory_some of the stats record
        self.psi_sample = 0.0  # of the last samples row

    # ------------------------------------------------------------ running

    def advance(self, until_s: int, target_bytes: int | None) -> tuple[GuestStats, list[dict]]:
        """Run to `until_s` with a new balloon target (guest memory the host
        wants the guest to keep, in bytes; None keeps the current target)."""
        e, k = self.spec.experiment, self.spec.kernel
        if target_bytes is not None:
            keep = max(min(target_bytes, self.memory), self.group.balloon_min)
            if self.vmem is None:
                self.target_pages = (self.memory - keep) // C.PAGE_SIZE
            else:
                self.vmem.request(-(-keep // C.PAGE_SIZE))
                self.target_pages = self.zone.nr_pages - self.vmem.requested_pages()
        rows = []
        vm = self.zone.a.vm
        while self.t < until_s:
            before = vm[pressure.DIRECT_COUNTERS]
            self.workload.tick(self.t, e.tick_s)
            self._stall(min(pressure.direct_stall_s(before, vm[pressure.DIRECT_COUNTERS]), e.tick_s))
            if self.vmem is None:
                self.zone.update_balloon_size(self.target_pages, self.balloon_rate_pages * e.tick_s)
            else:
                self.vmem.run(self.t, self.balloon_rate_pages * e.tick_s)
            self.zone.run_daemons(kcompactd=k.kcompactd, proactiveness=k.proactiveness, seconds=e.tick_s)
            if e.check:
                self.zone.check()
            self.t += e.tick_s
            if k.free_page_reporting and self.t % PAGE_REPORTING_DELAY == 0:
                self.zone.report_free_pages()
            if self.t % e.sample_interval_s == 0:
                self._sync_backing()
                self.psi_sample = self.stalls[1].close(self.t)
                rows.append(self.sample())
        if self.t % e.sample_interval_s:  # else the last tick synced it
            self._sync_backing()
        unbacked = (self.zone.balloon_owner,) if self.vmem is None else (self.zone.balloon_owner, self.vmem.owner)
        self.active_fraction = self.sampler.sample(self.zone.a.owner, self.zone.a.pflags, unbacked)
        policy = self.stalls[0]
        self.psi_stats = policy.close(self.t) if self.t % e.policy_interval_s == 0 else policy.share(self.t)
        return self.stats(), rows

    def reclaim(self, action: Reclaim) -> tuple[GuestStats, BackingReport, list[dict]]:
        """The host's reclaim on this guest's backing, at the time reached
        (host_reclaim.py): the stats record, the backing's report and the
        samples row of this moment (if it is a sample time) after it."""
        if action.shrink:
            self.backing.shrink()
        self.backing.swap_out(action.swap_out)
        rows = [self.sample()] if self.t % self.spec.experiment.sample_interval_s == 0 else []
        return self.stats(), self.report(action.lru), rows

    def _stall(self, seconds: float) -> None:
        for window in self.stalls:
            window.add(seconds)

    def _sync_backing(self) -> None:
        self.backing.apply(self.zone.take_stream())
        a = self.zone.a
        swapped_in = self.backing.touch(a.pb_dirty, a.owner, self.zone.balloon_owner, self.t)
        if swapped_in:
            self._stall(pressure.swap_in_s(swapped_in, self.spec.hosts.swap_bandwidth))
        self.backing.scan(self.t)

    # ------------------------------------------------------------ what is seen

    def stats(self) -> GuestStats:
        """The virtio-balloon stats queue: MemTotal, MemFree, MemAvailable
        (free + page cache + reclaimable slab - low watermark, as
        si_mem_available roughly does), caches, and the balloon sizes."""
        z = self.zone
        page = C.PAGE_SIZE
        vm = dict(z.vmstat_items())
        caches = vm["nr_file_pages"]
        free = z.nr_free
        available = max(0, free + caches + vm["nr_slab_reclaimable"] - z.watermark(1))
        return GuestStats(
            guest_id=self.guest_id,
            host_id=self.host_id,
            time_s=float(self.t),
            memory=self.memory,
            balloon=(z.balloon_pages() if self.vmem is None else z.nr_pages - self.vmem.plugged_pages()) * page,
            balloon_target=self.target_pages * page,
            mem_total=int(z.a.zs[C.ZS_MANAGED]) * page,
            mem_free=free * page,
            mem_available=available * page,
            caches=caches * page,
            balloon_min=self.group.balloon_min,
            active_fraction=self.active_fraction,
            shares=self.group.shares,
            psi_memory_some=self.psi_stats,
        )

    def report(self, lru: bool = False) -> BackingReport:
        """The host's accounting of this guest's memory (with its LRU when asked)."""
        return self.backing.report(self.guest_id, lru)

    def sample(self) -> dict:
        """One samples row."""
        z = self.zone
        by_order = S.free_blocks_by_order(z.a.nr_free)
        counts = z.pageblock_counts()
        row = {
            "time_s": self.t,
            "host": self.host_id,
            "guest": self.guest_id,
            "memory_bytes": self.memory,
            "free_pages": z.nr_free,
            "free_2mib_blocks": z.free_2mib_blocks(),
            "balloon_pages": z.balloon_pages(),
            "balloon_target_pages": self.target_pages,
            "managed_pages": int(z.a.zs[C.ZS_MANAGED]),
            "unmovable_pageblocks": int(counts[C.MIGRATE_UNMOVABLE]),
            "movable_pageblocks": int(counts[C.MIGRATE_MOVABLE]),
            "reclaimable_pageblocks": int(counts[C.MIGRATE_RECLAIMABLE]),
            "extfrag_index_9": S.fragmentation_index(by_order, C.HPAGE_PMD_ORDER),
            "unusable_index_9": S.unusable_free_index(by_order, C.HPAGE_PMD_ORDER),
            "host_populated_pages": self.backing.populated_pages(),
            "host_huge_regions": self.backing.huge_regions(),
            "host_thp_split_pmd": self.backing.splits,
            "host_thp_collapse": self.backing.collapses,
            "host_deferred_split_regions": self.backing.deferred_regions(),
            "host_deferred_split_freed_pages": self.backing.shrinker_freed,
            "host_swapped_pages": self.backing.swapped_pages(),
            "host_swap_in_pages": self.backing.swap_ins,
            "host_swap_out_pages": self.backing.swap_outs,
            "psi_memory_some": self.psi_sample,
        }
        for o in range(C.NR_PAGE_ORDERS):
            row[f"free_blocks_o{o}"] = int(by_order[o])
        for i, name in enumerate(VM_COLUMNS):
            row[name] = int(z.a.vm[i])
        row["workload_metrics"] = [(k, float(v)) for k, v in sorted(self.workload.metrics().items())]
        return row


def samples_schema() -> pa.Schema:
    """The Arrow schema of the `samples` table (experiment and run come from
    the hive partitions)."""
    cols = [
        pa.field("time_s", pa.int64()),
        pa.field("host", pa.int32()),
        pa.field("guest", pa.int32()),
    ]
    ints = [
        "memory_bytes",
        "free_pages",
        "free_2mib_blocks",
        "balloon_pages",
        "balloon_target_pages",
        "managed_pages",
        "unmovable_pageblocks",
        "movable_pageblocks",
        "reclaimable_pageblocks",
    ]
    cols += [pa.field(n, pa.int64()) for n in ints]
    cols += [pa.field("extfrag_index_9", pa.int32()), pa.field("unusable_index_9", pa.int32())]
    cols += [
        pa.field(n, pa.int64())
        for n in (
            "host_populated_pages",
            "host_huge_regions",
            "host_thp_split_pmd",
            "host_thp_collapse",
            "host_deferred_split_regions",
            "host_deferred_split_freed_pages",
            "host_swapped_pages",
            "host_swap_in_pages",
            "host_swap_out_pages",
        )
    ]
    cols.append(pa.field("psi_memory_some", pa.float64()))
    cols += [pa.field(f"free_blocks_o{o}", pa.int64()) for o in range(C.NR_PAGE_ORDERS)]
    cols += [pa.field(n, pa.int64()) for n in VM_COLUMNS]
    cols.append(pa.field("workload_metrics", pa.map_(pa.string(), pa.float64())))
    return pa.schema(cols)
