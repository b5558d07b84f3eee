"""The parameters of every workload, registered in WORKLOADS by name.

They live here, apart from the workloads (fleet/workload/, which import the
numba kernels), so that a spec is checked without compiling anything; each
workload's module docstring says what the parameters drive. Sizes are bytes,
rates bytes per second, times seconds; None sizes default to the share of
RAM in the `*_fraction` field beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..memory.constants import MAX_PAGE_ORDER
from ..units import KIB, MIB
from .params import Params, param
from .registry import Registry

WORKLOADS: Registry = Registry("workload")

SLAB_ORDER_SHARES = (0.55, 0.15, 0.10, 0.20)  # volume share of slab orders 0..3
_SLAB_HELP = "volume shares of slab orders 0, 1, 2, 3 (SLUB uses orders up to 3)"
TRACE_SLICES = ("2013-07-01", "first24h")  # the shipped Bitbrains slices (workload/trace.py)


def check_slab_order_shares(shares: tuple[float, ...]) -> None:
    if len(shares) != 4:
        raise ValueError(f"parameter 'slab_order_shares' needs 4 shares (got {shares!r})")


@WORKLOADS.parameters("server")
@dataclass(frozen=True)
class ServerParams(Params):
    anon_bytes: int | None = param(None, "anonymous working set in bytes; None: anon_fraction of RAM")
    anon_fraction: float = param(0.5, "anonymous working set as a share of RAM (when anon_bytes is None)", max=1)
    anon_rate: int = param(128 * MIB, "bytes/s the anon working set grows by until it is reached")
    anon_churn_rate: int = param(1 * MIB, "bytes/s of anon freed at random and faulted again (heap churn)")
    thp_fraction: float = param(0.05, "share of the anon growth faulted in MADV_HUGEPAGE regions (THP)", max=1)
    file_bytes: int | None = param(None, "page cache cap in bytes (the data set read); None: file_fraction of RAM")
    file_fraction: float = param(0.3, "page cache cap as a share of RAM (when file_bytes is None)", max=1)
    file_rate: int = param(16 * MIB, "bytes/s of file reads that miss the cache while below the cap")
    file_churn_rate: int = param(1 * MIB, "bytes/s of cache replaced at the cap (oldest dropped, new read)")
    slab_bytes: int | None = param(None, "slab footprint in bytes; None: slab_fraction of RAM")
    slab_fraction: float = param(0.02, "slab footprint as a share of RAM (when slab_bytes is None)", max=1)
    slab_reclaimable_share: float = param(0.5, "share of slab that is reclaimable (dentries, inodes)", max=1)
    slab_rate: int = param(4 * MIB, "bytes/s the slab grows by until its footprint is reached")
    slab_churn_rate: int = param(256 * KIB, "bytes/s of slab freed at random and allocated again")
    slab_order_shares: tuple[float, ...] = param(SLAB_ORDER_SHARES, _SLAB_HELP)

    def check(self) -> None:
        check_slab_order_shares(self.slab_order_shares)


@WORKLOADS.parameters("batch")
@dataclass(frozen=True)
class BatchParams(Params):
    peak_bytes: int | None = param(None, "anon each job reaches at its peak in bytes; None: peak_fraction of RAM")
    peak_fraction: float = param(0.6, "anon peak as a share of RAM (when peak_bytes is None)", max=1)
    ramp_s: float = param(60.0, "seconds a job takes to ramp its anon from 0 to the peak")
    hold_s: float = param(120.0, "seconds a job holds its peak before it exits (freeing all its memory)")
    period_s: float = param(300.0, "seconds between job starts (>= ramp_s + hold_s)", positive=True)
    start_s: float = param(0.0, "time of the first job start")
    input_bytes: int | None = param(None, "file data each job reads during its ramp; None: input_fraction of RAM")
    input_fraction: float = param(0.1, "input read per job as a share of RAM (when input_bytes is None)", max=1)
    thp_fraction: float = param(0.0, "share of the job's anon faulted in MADV_HUGEPAGE regions (THP)", max=1)

    def check(self) -> None:
        if self.period_s < self.ramp_s + self.hold_s:
            raise ValueError(
                f"parameter 'period_s' must be >= ramp_s + hold_s = {self.ramp_s + self.hold_s:g} "
                f"(got {self.period_s:g})"
            )


@WORKLOADS.parameters("build")
@dataclass(frozen=True)
class BuildParams(Params):
    procs_per_s: float = param(8.0, "short-lived processes (compiler runs) started per second")
    proc_lifetime_s: float = param(2.0, "mean process lifetime in seconds (each lives 0.5..1.5 times it)")
    proc_anon_bytes: int = param(16 * MIB, "anon bytes each process faults (heap, stack)")
    proc_slab_bytes: int = param(64 * KIB, "unmovable slab bytes per process (task, mm, vmas, files), freed at exit")
    file_bytes: int | None = param(None, "page cache cap in bytes; None: file_fraction of RAM")
    file_fraction: float = param(0.4, "page cache cap as a share of RAM (when file_bytes is None)", max=1)
    file_rate: int = param(32 * MIB, "bytes/s of sources read and objects written (new page cache)")
    dentry_rate: int = param(1 * MIB, "bytes/s of reclaimable slab (dentries, inodes) allocated")
    dentry_bytes: int | None = param(None, "reclaimable slab cap in bytes; None: dentry_fraction of RAM")
    dentry_fraction: float = param(0.05, "reclaimable slab cap as a share of RAM (when dentry_bytes is None)", max=1)
    slab_churn_rate: int = param(512 * KIB, "bytes/s of unmovable slab (kmalloc buffers) allocated and freed")
    slab_order_shares: tuple[float, ...] = param(SLAB_ORDER_SHARES, _SLAB_HELP)
    stop_s: float | None = param(None, "time the build ends (running processes still exit); None: never")

    def check(self) -> None:
        check_slab_order_shares(self.slab_order_shares)


@WORKLOADS.parameters("mix")
@dataclass(frozen=True)
class MixParams(Params):
    fill: float = param(0.80, "share of RAM the mix keeps allocated", max=1)
    churn_rate: int = param(64 * MIB, "bytes/s freed at random and allocated again")
    ramp_rate: int = param(1024 * MIB, "bytes/s allocated while filling up to `fill`")


@WORKLOADS.parameters("steady")
@dataclass(frozen=True)
class SteadyParams(Params):
    footprint_fraction: float = param(0.6, "memory held (anon + slab) as a share of RAM", max=1)
    ramp_rate: int = param(1024 * MIB, "bytes/s allocated until the footprint is reached")
    rate: int = param(16 * MIB, "bytes/s freed at random and allocated again once at the footprint")
    slab_share: float = param(0.1, "share of the traffic that is unmovable order-0 slab", max=1)
    thp_share: float = param(0.05, "share of the anon traffic faulted as THP (madvised regions)", max=1)


@WORKLOADS.parameters("highalloc")
@dataclass(frozen=True)
class HighallocParams(Params):
    pass_starts_s: tuple[float, ...] = param((60.0, 180.0, 300.0), "start time of each pass (s), non-decreasing")
    percent: float = param(95.0, "share of RAM each pass tries to allocate, in percent", max=100)
    order: int = param(9, "order of the blocks attempted, 1..10 (9: 2 MiB)", min=1, max=MAX_PAGE_ORDER)
    rate: int = param(16 * MIB, "bytes/s of attempts (16 MiB/s: eight order-9 attempts a second)", positive=True)

    def check(self) -> None:
        starts = self.pass_starts_s
        if not starts:
            raise ValueError("parameter 'pass_starts_s' needs at least one pass")
        if any(b < a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"parameter 'pass_starts_s' must be non-decreasing (got {list(starts)!r})")


HOLE_PATTERNS = ("random", "strided")


@WORKLOADS.parameters("holes")
@dataclass(frozen=True)
class HolesParams(Params):
    in_use: float = param(0.7, "share of RAM the workload faults as anon memory before punching holes", max=1)
    holes: float = param(0.25, "share of that memory freed as holes (strided: 1/N, every Nth page)", max=1)
    pattern: str = param(
        "random",
        "random (pages picked at random) or strided (every Nth page in allocation order, as MADV_DONTNEED "
        "of every Nth page of a mapping)",
        choices=HOLE_PATTERNS,
    )
    fill_rate: int = param(1024 * MIB, "bytes/s faulted until in_use is reached (the holes are punched then)")
    leave_s: float | None = param(None, "time the workload exits, freeing all its memory; None: never")
    compact_s: float | None = param(None, "time of echo 1 > /proc/sys/vm/compact_memory; None: never")
    probe_every_s: float = param(0.0, "a THP probe every this many seconds (0: none), on a copy of memory")
    probe_fraction: float = param(
        0.1, "share of RAM each THP probe faults in MADV_HUGEPAGE memory (at most what is free above high)", max=1
    )

    def check(self) -> None:
        if self.pattern == "strided" and self.holes > 0 and abs(1 / round(1 / self.holes) - self.holes) > 1e-9:
            raise ValueError(f"parameter 'holes' must be 1/N (every Nth page) with pattern strided (got {self.holes})")


@WORKLOADS.parameters("trace")
@dataclass(frozen=True)
class TraceParams(Params):
    vm: int = param(
        1, "VM number in the Bitbrains Rnd trace (1..500; see trace_vms() for those in the slice)", min=1, max=500
    )
    slice: str = param(
        "2013-07-01",
        "2013-07-01 (the calendar day, 425 VMs) or first24h (each VM's first 24 h, all 500)",
        choices=TRACE_SLICES,
    )
    time_scale: float = param(1.0, "simulated seconds per trace second (0.01: the day in 14.4 min)", positive=True)
    start_s: float = param(0.0, "trace time at simulated time 0, seconds after 2013-07-01 00:00 CEST")
    usage_scale: float | None = param(None, "target = usage bytes x this; None: usage/provisioned x guest RAM")
    max_fraction: float = param(0.9, "cap of the target as a share of guest RAM", max=1)
    rate: int = param(0, "at most this many bytes/s of anon allocated or freed (0: reach the target each tick)")
    wrap: bool = param(True, "after the 24 h slice, start it over (False: hold the last sample)")
