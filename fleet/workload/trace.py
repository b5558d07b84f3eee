"""Trace-driven workload: the guest's anonymous memory follows one real VM's
memory usage from the Bitbrains trace (GWA-T-12 "Rnd", Shen, Beek, Iosup,
CCGrid 2015; see data/README.md for the attribution and how the shipped
24-hour slice was cut).

The trace has one sample per VM every 5 minutes; between samples the usage
is held (step-wise). Trace time is measured from the slice's start,
2013-07-01 00:00 CEST (Unix 1372629600): simulated time t maps to trace time
start_s + t / time_scale. By default the target is the VM's usage as a share
of what it was provisioned, times the guest's RAM; with `usage_scale` it is
the usage in bytes times that factor. Each tick allocates (GFP_USER, slow
path) or frees (random allocations, as a heap shrinking) order-0 anon toward
the target at the end of the tick, at most `rate` bytes/s when it is set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..memory import constants as C
from .base import Spec, Workload, param, register

DATA_FILE = Path(__file__).with_name("data") / "bitbrains-rnd-2013-07-01.parquet"
SLICE_START_S = 1372629600  # 2013-07-01 00:00 CEST, Unix seconds
SLICE_LENGTH_S = 86400
SAMPLE_S = 300


@functools.lru_cache(maxsize=1)
def load_slice() -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The shipped slice: vm -> (seconds since SLICE_START_S, provisioned KiB,
    used KiB), sorted by time. Read once per process."""
    import pyarrow.parquet as pq

    table = pq.read_table(DATA_FILE, columns=["vm", "timestamp_s", "mem_provisioned_kb", "mem_usage_kb"])
    vm = table["vm"].to_numpy()
    ts = table["timestamp_s"].to_numpy() - SLICE_START_S
    prov = table["mem_provisioned_kb"].to_numpy()
    used = table["mem_usage_kb"].to_numpy()
    order = np.lexsort((ts, vm))
    vm, ts, prov, used = vm[order], ts[order], prov[order], used[order]
    bounds = np.flatnonzero(np.diff(vm)) + 1
    out = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(vm)]):
        out[int(vm[lo])] = (ts[lo:hi], prov[lo:hi], used[lo:hi])
    return out


def trace_vms() -> list[int]:
    """VM numbers with samples in the shipped slice."""
    return sorted(load_slice())


@dataclass(frozen=True)
class TraceSpec(Spec):
    vm: int = param(1, "VM number in the Bitbrains Rnd trace (1..500; see trace_vms() for those in the slice)",
                    min=1, max=500)
    time_scale: float = param(1.0, "simulated seconds per trace second (0.01: the day in 14.4 min)", positive=True)
    start_s: float = param(0.0, "trace time at simulated time 0, seconds after 2013-07-01 00:00 CEST")
    usage_scale: float | None = param(None, "target = usage bytes x this; None: usage/provisioned x guest RAM")
    max_fraction: float = param(0.9, "cap of the target as a share of guest RAM", max=1)
    rate: int = param(0, "at most this many bytes/s of anon allocated or freed (0: reach the target each tick)")
    wrap: bool = param(True, "after the 24 h slice, start it over (False: hold the last sample)")


@register("trace")
class Trace(Workload):
    """One VM's memory usage curve as the guest's anon. metrics(): the
    counters of every workload plus target_pages and anon_pages (now)."""

    Spec = TraceSpec

    def __init__(self, zone, spec: TraceSpec, rng):
        super().__init__(zone, spec, rng)
        data = load_slice()
        if spec.vm not in data:
            raise ValueError(
                f"parameter 'vm': VM {spec.vm} has no samples in the shipped slice (2013-07-01); "
                f"it starts later in the month (got {spec.vm!r})"
            )
        self.ts, prov, used = data[spec.vm]
        if spec.usage_scale is None:
            frac = np.divide(used, prov, out=np.zeros(len(used)), where=prov > 0)
            pages = frac * zone.nr_pages
        else:
            pages = used * 1024.0 * spec.usage_scale / C.PAGE_SIZE
        cap = int(spec.max_fraction * zone.nr_pages)
        self.targets = np.minimum(pages.astype(np.int64), cap)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.target = 0

    def target_pages(self, t: float) -> int:
        """The anon target at simulated time t (step-wise between samples)."""
        s: TraceSpec = self.spec
        tt = s.start_s + t / s.time_scale
        if s.wrap:
            tt %= SLICE_LENGTH_S
        i = int(np.searchsorted(self.ts, tt, side="right")) - 1
        return int(self.targets[max(i, 0)])

    def tick(self, t: float, dt: float) -> None:
        s: TraceSpec = self.spec
        self.target = self.target_pages(t + dt)
        diff = self.target - self.pages("anon")
        if s.rate:
            limit = self.rate_pages("rate", s.rate, dt)
            diff = max(-limit, min(diff, limit))
        if diff > 0:
            self.alloc(self.anon, 0, diff)
        elif diff < 0:
            self.free(self.anon, -diff, "random")

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out["target_pages"] = float(self.target)
        out["anon_pages"] = float(self.pages("anon"))
        return out
