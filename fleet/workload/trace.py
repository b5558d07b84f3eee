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

import numpy as np

from ..bitbrains import SLICE_LENGTH_S, check_vm_in_slice, load_slice
from ..memory import constants as C
from ..spec.workloads import TraceParams
from .base import Workload, register


@register("trace")
class Trace(Workload):
    """One VM's memory usage curve as the guest's anon. metrics(): the
    counters of every workload plus target_pages and anon_pages (now)."""

    params: TraceParams

    def __init__(self, zone, params: TraceParams, rng):
        super().__init__(zone, params, rng)
        check_vm_in_slice(params.vm, params.slice)
        data = load_slice(params.slice)
        self.ts, prov, used = data[params.vm]
        if params.usage_scale is None:
            frac = np.divide(used, prov, out=np.zeros(len(used)), where=prov > 0)
            pages = frac * zone.nr_pages
        else:
            pages = used * 1024.0 * params.usage_scale / C.PAGE_SIZE
        cap = int(params.max_fraction * zone.nr_pages)
        self.targets = np.minimum(pages.astype(np.int64), cap)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.target = 0

    def target_pages(self, t: float) -> int:
        """The anon target at simulated time t (step-wise between samples)."""
        s: TraceParams = self.params
        tt = s.start_s + t / s.time_scale
        if s.wrap:
            tt %= SLICE_LENGTH_S
        i = int(np.searchsorted(self.ts, tt, side="right")) - 1
        return int(self.targets[max(i, 0)])

    def tick(self, t: float, dt: float) -> None:
        s: TraceParams = self.params
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
