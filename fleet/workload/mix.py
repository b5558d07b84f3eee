"""The seeded random mix (random_mix.RandomMix) behind the Workload interface.

Unlike the other workloads the mix allocates with the fast path only (at the
low watermark, no reclaim or compaction), as `fleet inspect` and the memory
benchmark have always used it; a refused allocation ends the tick's
allocations and is counted in refused_pages.
"""

from __future__ import annotations

from ..spec.workloads import MixParams
from ..units import MIB
from .base import Workload, register
from .random_mix import MixSpec, RandomMix


@register("mix")
class Mix(Workload):
    """RandomMix (default entries: anon, file, slab orders 0..3, kernel, page
    tables) ticked by the Workload interface."""

    params: MixParams

    def __init__(self, zone, params: MixParams, rng):
        super().__init__(zone, params, rng)
        mix_spec = MixSpec(
            fill=params.fill, churn_mib_per_s=params.churn_rate / MIB, ramp_mib_per_s=params.ramp_rate / MIB
        )
        self.mix = RandomMix(zone, mix_spec, rng)
        for o in self.mix.own_ids:
            self.owners[zone.owner_names[o]] = int(o)

    def tick(self, t: float, dt: float) -> None:
        self.mix.tick(dt)

    def metrics(self) -> dict[str, float]:
        """ops (allocations + frees) and refused_pages, cumulative; used_pages
        now (RandomMix does not count pages each way)."""
        return {
            "ops": float(self.mix.ops),
            "refused_pages": float(self.mix.refused_pages),
            "used_pages": float(self.mix.used_pages()),
        }
