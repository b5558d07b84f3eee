"""Meta's Senpai, the userspace half of TMO (Weiner et al., "TMO: Transparent
Memory Offloading in Datacenters", ASPLOS 2022).

A model of `facebookincubator/senpai: senpai.py` (the memory.high version)
with each guest as the cgroup and its balloon target as the limit. Senpai
adds up the cgroup's PSI memory "some" stall time and, once per interval
(6 s), compares it with the target pressure (10 ms of stall per interval):

    above the target: err = stall / pressure
                      adj = min((err / coeff_backoff)**2 * max_backoff, max_backoff)
                      limit += limit * adj                 # back off
    otherwise:        err = pressure / max(stall, 1 us)
                      adj = min((err / coeff_probe)**2 * max_probe, max_probe)
                      limit -= limit * adj                 # tighten, at most 1 %

with max_probe 0.01, max_backoff 1.0, coeff_probe 10 and coeff_backoff 20;
the limit stays within [min_size, max_size] and is page-aligned, and it is
reset to memory.current whenever memory.high is not what senpai last wrote
(at start and after someone else changed it).

Mapping onto the records: the limit is the target (memory kept), min_size =
balloon_min, max_size = memory, memory.current = memory - balloon, and the
stall of one senpai interval is psi_memory_some (the share of the last
policy interval stalled) times interval_s. One step per policy interval
(10 s) rather than per 6 s: senpai's backoff test runs every 1 s tick, the
model's at each policy boundary on that interval's share. A guest whose
last target is not the policy's limit (a first sight, or another writer)
restarts from what it holds, without a step that round, as senpai's grace
period after a reset does.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, Policy, clamp_target, current_memory

PAGE = 4096
MIN_STALL_S = 1e-6  # senpai's max(integral, 1): at least 1 us of stall


@POLICIES.parameters("senpai")
@dataclass(frozen=True)
class SenpaiParams(Params):
    """senpai.py's command-line defaults (interval, pressure, probe and backoff)."""

    interval_s: float = param(6.0, "--interval: seconds per which the pressure target counts", positive=True)
    pressure_s: float = param(0.010, "--pressure: seconds of memory stall per interval senpai aims for", positive=True)
    max_probe: float = param(0.01, "--max-probe: largest share of the limit taken per step", max=1)
    max_backoff: float = param(1.0, "--max-backoff: largest share of the limit given back per step")
    coeff_probe: float = param(10.0, "--coeff-probe: tighten by max_probe at 1/this of the target", positive=True)
    coeff_backoff: float = param(
        20.0, "--coeff-backoff: back off by max_backoff at this times the target", positive=True
    )


@POLICIES.implementation("senpai")
class SenpaiPolicy(Policy):
    """Senpai (TMO, ASPLOS 2022): tighten every guest's target by up to 1 %
    a step while its memory pressure stays below 10 ms per 6 s, and raise
    it, more the further above, when the pressure exceeds that. Keeps each
    guest's limit."""

    name = "senpai"
    Params = SenpaiParams

    def __init__(self, params: SenpaiParams | None = None) -> None:
        self.params: SenpaiParams = SenpaiParams() if params is None else params
        self._limit: dict[int, int] = {}

    def step(self, limit: int, psi: float) -> int:
        """senpai's tick at one interval's end: the new limit (unaligned,
        unclamped) after a stall share of `psi`."""
        p = self.params
        stall = psi * p.interval_s
        if stall > p.pressure_s:
            adj = min((stall / p.pressure_s / p.coeff_backoff) ** 2 * p.max_backoff, p.max_backoff)
            return int(limit + limit * adj)
        adj = min((p.pressure_s / max(stall, MIN_STALL_S) / p.coeff_probe) ** 2 * p.max_probe, p.max_probe)
        return int(limit - limit * adj)

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        present = {g.guest_id for g in guests}
        for gid in [gid for gid in self._limit if gid not in present]:
            del self._limit[gid]
        out = {}
        for g in guests:
            last = g.memory - g.balloon_target
            limit = self._limit.get(g.guest_id)
            if limit is None or abs(last - limit) >= PAGE:  # "Init or race condition? Reset limit to memory.current"
                limit = current_memory(g)
            else:
                limit = self.step(limit, g.psi_memory_some)
            limit = clamp_target(g, limit // PAGE * PAGE)
            self._limit[g.guest_id] = limit
            if limit != last:
                out[g.guest_id] = limit
        return out
