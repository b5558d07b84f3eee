"""VMware ESX Server: share-based allocation with the idle memory tax.

A model of Waldspurger, "Memory Resource Management in VMware ESX Server"
(OSDI 2002), sections 5 (shares vs. working sets) and 6.3 (dynamic
reallocation):

- Min-funding revocation with the idle memory tax (5.2): memory is reclaimed
  from the guest with the lowest adjusted shares-per-page ratio

      rho = S / (P * (f + k * (1 - f))),   k = 1 / (1 - tax)

  (S shares, P pages held, f the active fraction; tax 75 %, ESX's
  Mem.IdleTax default): an idle page costs k = 4 times an active one.
  Taking pages from the lowest rho until the ratios meet gives each guest
  that gives anything the same rho, i.e. P = L * w with w = S / (f + k(1-f))
  for one level L; a guest is never taken below its floor (ESX's min,
  balloon_min here). Growing, the surplus goes to the highest rho first,
  the same level rule run upward, up to each guest's memory (ESX's max).
- Idleness from sampling (5.3): ESX samples 100 random pages of each VM per
  30 s period (f = t/n); the guest model does the sampling and reports
  f of the last interval (GuestStats.active_fraction, fleet/working_set.py).
  Estimates are smoothed by a slow and a fast exponentially weighted moving
  average, and ESX uses the largest of the slow one, the fast one and the
  fast one including the current period; here the last term is the current
  period's sample itself (a policy sees one sample per interval). The paper
  does not give the gains; `slow_gain` and `fast_gain` are the model's.
- Free memory states (6.3; the thresholds from secondary sources, not
  checked against the paper's text): high 6 %, soft 4 %, hard 2 %, low 1 %
  of host memory. In the high state no memory is reclaimed; below soft the
  host reclaims, with targets that drive free memory back above high, and
  it returns to the high state once free memory exceeds high (a
  hysteresis between the two thresholds). The hard
  and low states pick ESX's mechanism (paging, blocking); here the targets
  drive the balloon in every state and the host's own swap is the last
  resort when memory runs out (fleet/host.py). In the high state the free
  memory above high is handed back to ballooned guests.

Mapping onto the records: S = shares (0: the guest is left alone, as the
spec's shares mean), P = memory - balloon (what the guest holds now), min =
balloon_min, max = memory, f = the smoothed active fraction; host free =
HostState.free, host memory = HostState.capacity. Targets are whole 4 KiB
pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, Policy, clamp_target, current_memory

PAGE = 4096


@POLICIES.parameters("esx")
@dataclass(frozen=True)
class EsxParams(Params):
    """ESX Server's constants (OSDI 2002) and the model's smoothing gains."""

    idle_tax: float = param(
        0.75, "Mem.IdleTax: share of a guest's idle memory that may be reclaimed (k = 1/(1-tax)), below 1", max=0.99
    )
    high: float = param(0.06, "high free-memory threshold, share of host memory: reclaim drives free above it", max=1)
    soft: float = param(0.04, "soft free-memory threshold, share of host memory: below it the host reclaims", max=1)
    slow_gain: float = param(0.1, "gain of the slow moving average of the sampled activity", max=1, positive=True)
    fast_gain: float = param(0.5, "gain of the fast moving average of the sampled activity", max=1, positive=True)

    def check(self) -> None:
        if self.soft > self.high:
            raise ValueError(f"parameter 'soft' must be <= high={self.high:g} (got {self.soft!r})")


def level_fill(weights: list[float], lows: list[float], highs: list[float], total: float) -> list[float]:
    """x_i = clamp(L * w_i, lo_i, hi_i) for the one level L at which the x_i
    add up to `total` (weights > 0, lo_i <= hi_i; a total outside [sum lo,
    sum hi] gives all lows or all highs): min-funding revocation run to
    its end, every guest that moved at the same shares-per-page ratio."""

    def at(level: float) -> float:
        return sum(min(hi, max(lo, level * w)) for w, lo, hi in zip(weights, lows, highs))

    points = sorted({b / w for w, lo, hi in zip(weights, lows, highs) for b in (lo, hi)})
    level = points[0] if total <= at(points[0]) else points[-1]
    for a, b in zip(points, points[1:]):
        fa, fb = at(a), at(b)
        if fa < total <= fb:
            level = a + (total - fa) * (b - a) / (fb - fa)
            break
    return [min(hi, max(lo, level * w)) for w, lo, hi in zip(weights, lows, highs)]


@POLICIES.implementation("esx")
class EsxPolicy(Policy):
    """VMware ESX Server (Waldspurger, OSDI 2002): below the soft threshold,
    reclaim by ballooning from the guests with the lowest idle-taxed
    shares-per-page ratio until free memory would be back at the high
    threshold; above high, hand the surplus back to ballooned guests with
    the highest ratio. Keeps per host the reclaim state and per guest the
    moving averages of its sampled activity."""

    name = "esx"
    Params = EsxParams

    def __init__(self, params: EsxParams | None = None) -> None:
        self.params: EsxParams = EsxParams() if params is None else params
        self._reclaiming: dict[int, bool] = {}
        self._slow: dict[int, float] = {}
        self._fast: dict[int, float] = {}

    def active(self, g: GuestStats) -> float:
        """Update the guest's moving averages with its new sample; the
        estimate is the largest of slow, fast and the sample itself."""
        p, f, gid = self.params, g.active_fraction, g.guest_id
        slow = self._slow[gid] = self._slow.get(gid, f) + p.slow_gain * (f - self._slow.get(gid, f))
        fast = self._fast[gid] = self._fast.get(gid, f) + p.fast_gain * (f - self._fast.get(gid, f))
        return max(slow, fast, f)

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        p = self.params
        present = {g.guest_id for g in guests}
        for table in (self._slow, self._fast):
            for gid in [gid for gid in table if gid not in present]:
                del table[gid]
        k = 1 / (1 - p.idle_tax)
        weight = {}
        for g in guests:
            f = self.active(g)
            weight[g.guest_id] = g.shares / (f + k * (1 - f))
        if host.capacity <= 0:
            return {}
        reclaiming = self._reclaiming.get(host.host_id, False)
        if host.free < p.soft * host.capacity:
            reclaiming = True
        elif host.free > p.high * host.capacity:
            reclaiming = False
        self._reclaiming[host.host_id] = reclaiming
        surplus = host.free - round(p.high * host.capacity)  # bytes above the high threshold
        held = {g.guest_id: current_memory(g) for g in guests}
        if reclaiming and surplus < 0:  # take from the lowest ratio, down to the floors
            pool = [g for g in guests if g.shares > 0 and held[g.guest_id] > g.balloon_min]
            lows = [float(g.balloon_min) for g in pool]
            highs = [float(held[g.guest_id]) for g in pool]
            total = sum(highs) + surplus
        elif not reclaiming and surplus > 0:  # give to the highest ratio, up to their memory
            pool = [g for g in guests if g.shares > 0 and g.balloon_min <= held[g.guest_id] < g.memory]
            lows = [float(held[g.guest_id]) for g in pool]
            highs = [float(g.memory) for g in pool]
            total = sum(lows) + surplus
        else:
            pool = []
        out: dict[int, int] = {}
        if pool:
            sizes = level_fill([weight[g.guest_id] for g in pool], lows, highs, total)
            for g, size in zip(pool, sizes):
                out[g.guest_id] = clamp_target(g, round(size) // PAGE * PAGE)
        for g in guests:  # a floor above what the guest holds: the floor
            if held[g.guest_id] < g.balloon_min:
                out[g.guest_id] = g.balloon_min
        last = {g.guest_id: g.memory - g.balloon_target for g in guests}
        return {gid: t for gid, t in out.items() if t != last[gid]}
