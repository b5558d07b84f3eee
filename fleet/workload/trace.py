"""Trace-driven workload: the guest's anonymous memory follows one real VM's
memory usage from the Bitbrains trace (GWA-T-12 "Rnd", Shen, Beek, Iosup,
CCGrid 2015; see data/README.md for the attribution and how the shipped
slices were cut).

The trace has one sample per VM every 5 minutes; between samples the usage
is held (step-wise). Two 24-hour slices ship: `2013-07-01`, the calendar day
(425 VMs), whose trace time is measured from 2013-07-01 00:00 CEST (Unix
1372629600); and `first24h`, each of the 500 VMs' first 24 hours in the
month, whose trace time is measured from the VM's first sample. Simulated
time t maps to trace time start_s + t / time_scale. By default the target is
the VM's usage as a share of what it was provisioned, times the guest's RAM;
with `usage_scale` it is the usage in bytes times that factor. Each tick allocates (GFP_USER, slow
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

DATA = Path(__file__).with_name("data")
SLICE_START_S = 1372629600  # 2013-07-01 00:00 CEST, Unix seconds
# name -> (file, trace time origin: Unix seconds, or None for each VM's first sample)
SLICES = {
    "2013-07-01": ("bitbrains-rnd-2013-07-01.parquet", SLICE_START_S),
    "first24h": ("bitbrains-rnd-2013-07-first24h.parquet", None),
}
VMS_FILE = DATA / "bitbrains-rnd-2013-07-vms.parquet"
SLICE_LENGTH_S = 86400


@functools.lru_cache(maxsize=2)
def load_slice(name: str = "2013-07-01") -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A shipped slice: vm -> (trace seconds since the slice's origin,
    provisioned KiB, used KiB), sorted by time. Read once per process."""
    import pyarrow.parquet as pq

    file, origin = SLICES[name]
    table = pq.read_table(DATA / file, columns=["vm", "timestamp_s", "mem_provisioned_kb", "mem_usage_kb"])
    vm = table["vm"].to_numpy()
    ts = table["timestamp_s"].to_numpy()
    prov = table["mem_provisioned_kb"].to_numpy()
    used = table["mem_usage_kb"].to_numpy()
    order = np.lexsort((ts, vm))
    vm, ts, prov, used = vm[order], ts[order], prov[order], used[order]
    bounds = np.flatnonzero(np.diff(vm)) + 1
    out = {}
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(vm)]):
        start = ts[lo] if origin is None else origin
        out[int(vm[lo])] = (ts[lo:hi] - start, prov[lo:hi], used[lo:hi])
    return out


def trace_vms(name: str = "2013-07-01") -> list[int]:
    """VM numbers with samples in a shipped slice."""
    return sorted(load_slice(name))


@functools.lru_cache(maxsize=1)
def _provisioned_max_kb() -> dict[int, int]:
    import pyarrow.parquet as pq

    t = pq.read_table(VMS_FILE)
    return dict(zip(t["vm"].to_pylist(), t["mem_provisioned_max_kb"].to_pylist()))


def provisioned_bytes(vm: int) -> int:
    """The most memory the trace ever provisioned VM `vm` in July 2013."""
    return _provisioned_max_kb()[vm] * 1024


@dataclass(frozen=True)
class TraceSpec(Spec):
    vm: int = param(1, "VM number in the Bitbrains Rnd trace (1..500; see trace_vms() for those in the slice)",
                    min=1, max=500)
    slice: str = param("2013-07-01", "2013-07-01 (the calendar day, 425 VMs) or first24h (each VM's first 24 h, all 500)",
                       choices=tuple(SLICES))
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
        data = load_slice(spec.slice)
        if spec.vm not in data:
            raise ValueError(
                f"parameter 'vm': VM {spec.vm} has no samples in the slice 2013-07-01; "
                f"it starts later in the month (use slice = \"first24h\") (got {spec.vm!r})"
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
