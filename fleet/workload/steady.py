"""`steady`: a fixed allocation rate at a constant footprint, the benchmark's
standard guest load (issue 6): every second `rate` bytes of order-0 pages are
freed at random and allocated again, `slab_share` of them unmovable slab and
the rest anon; `thp_share` of the anon is faulted in MADV_HUGEPAGE regions
(one order-9 fault per 2 MiB, falling back to base pages as
do_huge_pmd_anonymous_page does when the fault fails).

The footprint is reached first at `ramp_rate`; from then on what is freed
each tick is allocated again in the same tick, so the footprint stays put
and the guest's daemons see a steady stream of order-0 traffic.
"""

from __future__ import annotations

from ..memory import constants as C
from ..spec.workloads import SteadyParams
from .base import register
from .profiles import THP_PAGES, _Helpers


@register("steady")
class Steady(_Helpers):
    """Constant footprint, constant churn. metrics(): the common counters
    plus thp_fault_alloc and thp_fault_fallback."""

    params: SteadyParams

    def __init__(self, zone, params: SteadyParams, rng):
        super().__init__(zone, params, rng)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.thp = self.owner("thp", C.KIND_THP)
        self.thp_pt = self.owner("thp-pagetable", C.KIND_PAGETABLE)
        self.slab = self.owner("slab", C.KIND_SLAB)
        self.thp_alloc = self.thp_fallback = 0

    def tick(self, t: float, dt: float) -> None:
        s: SteadyParams = self.params
        held = self.pages("anon", "thp", "slab")
        target = self.size_pages(None, s.footprint_fraction)
        if held < target:
            budget = min(target - held, self.rate_pages("ramp", s.ramp_rate, dt))
        else:
            budget = self.rate_pages("churn", s.rate, dt)
        slab = self.quota("slab", budget * s.slab_share)
        anon = budget - slab
        nr_thp = self.quota("thp", anon * s.thp_share / THP_PAGES)
        if held >= target:
            self.free(self.slab, slab, "random")
            freed_thp = self.free_thp(nr_thp * THP_PAGES)
            self.free(self.anon, anon - freed_thp, "random")
        made = self.thp_faults(nr_thp)
        self.alloc_mix([(self.anon, 0, max(anon - made, 0)), (self.slab, 0, slab)])
