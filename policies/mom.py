"""oVirt MOM (Memory Overcommitment Manager) auto-balloon policy.

A model of the production rules oVirt ships with vdsm,
`static/etc/vdsm/mom.d/02-balloon.policy`, as evaluated by MOM's policy engine
(`oVirt/mom`: `mom/Entity.py` gives StatAvg, `mom/Controllers/Balloon.py` sets
the target). Per round:

    host_free_percent = StatAvg(host mem_free) / host mem_available
    if host_free_percent < pressure_threshold and balloonEnabled: shrink_guest
    else:                                                         grow_guest
    then the QoS rule: a guest below its guaranteed balloon_min gets balloon_min.

    guest_free_percent = host_free_percent - 0.05                if critical
                         min_guest_free_percent * host_free_percent / pressure_threshold
    used      = StatAvg(balloon_cur) - StatAvg(mem_unused)
    floor'    = max(balloon_min, used + guest_free_percent * balloon_cur)
    shrink:  size = max(balloon_cur * (1 - max_balloon_change_percent), floor');
             set if size <= balloon_cur and the change is big enough
    grow (only if balloon_cur < balloon_max):
             size = min(max(balloon_cur * (1 + max_balloon_change_percent), floor'), balloon_max);
             set if the change is big enough
    big enough: |size - balloon_cur| > min_balloon_change_percent * balloon_cur

Notes where this differs from host-policies.md (A1), following the source:
- grow is not "+5 %, clamped": it is at least +5 %, and more when the guest's
  free-memory target floor' asks for more (floor' is a lower bound in grow).
- the critical case is `<= pressure_critical`; the pressure test is `<`.
- the 5 % is of the guest's current memory (balloon_cur), not of its maximum,
  although the policy's comment says "percent of total memory".

Mapping onto the records (bytes rather than MOM's KiB): host mem_free =
HostState.free, mem_available = HostState.capacity; guest balloon_cur = memory -
balloon, mem_unused = mem_free, balloon_max = memory, balloon_min = balloon_min.

StatAvg: MOM averages the last `sample-history-length` (10) monitor samples,
taken every 5 s, while the policy runs every 10 s. Here a policy sees one sample
per decide call, so the average runs over the last `sample_history_length`
calls (100 s at the default 10 s interval rather than MOM's 50 s).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, Policy, current_memory

CRITICAL_GUEST_FREE_OFFSET = -0.05  # the literal `(+ -0.05 host_free_percent)` in 02-balloon.policy


@POLICIES.parameters("mom")
@dataclass(frozen=True)
class MomParams(Params):
    """02-balloon.policy's defvars (its "percents" are fractions in [0, 1]),
    MOM's sample-history-length and vdsm's balloonEnabled."""

    pressure_threshold: float = param(
        0.20, "defvar pressure_threshold: host free share below which MOM shrinks guests", max=1, positive=True
    )
    pressure_critical: float = param(
        0.05, "defvar pressure_critical: host free share at or below which guests are pushed to swap", max=1
    )
    min_guest_free_percent: float = param(
        0.20, "defvar min_guest_free_percent: guest free share kept, scaled by host free / pressure_threshold", max=1
    )
    max_balloon_change_percent: float = param(
        0.05, "defvar max_balloon_change_percent: shrink cap and least grow per round, of current memory", max=1
    )
    min_balloon_change_percent: float = param(
        0.0025, "defvar min_balloon_change_percent: changes up to this share of current memory are skipped", max=1
    )
    sample_history_length: int = param(
        10, "MOM's sample-history-length: how many decide calls each StatAvg averages over", min=1
    )
    balloon_enabled: bool = param(True, "vdsm's balloonEnabled: when off MOM only grows guests back")


@POLICIES.implementation("mom")
class MomPolicy(Policy):
    """oVirt MOM's 02-balloon.policy (vdsm): shrink every guest toward its used
    memory plus a pressure-scaled free margin when the host's free memory falls
    below 20 %, otherwise grow ballooned guests back 5 % a round.

    Defaults are the policy's defvars; `balloon_enabled` is vdsm's
    `balloonEnabled` (00-defines.policy defaults it to 0 and the engine turns it
    on for clusters with memory balloon optimization; a balloon simulator wants
    it on). With it off, MOM only ever grows guests back.
    """

    name = "mom"
    Params = MomParams

    def __init__(self, params: MomParams | None = None) -> None:
        self.params: MomParams = MomParams() if params is None else params
        self._host_free: dict[int, deque[int]] = {}
        self._guest: dict[int, deque[tuple[int, int]]] = {}  # (balloon_cur, mem_unused)

    def _history(self, table: dict, key: int) -> deque:
        if key not in table:
            table[key] = deque(maxlen=self.params.sample_history_length)
        return table[key]

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        # the monitors: record this round's samples (MOM's Entity.statistics)
        host_free = self._history(self._host_free, host.host_id)
        host_free.append(host.free)
        present = {g.guest_id for g in guests}
        for gid in [gid for gid in self._guest if gid not in present]:
            del self._guest[gid]  # a guest that left: MOM drops its GuestMonitor
        for g in guests:
            self._history(self._guest, g.guest_id).append((current_memory(g), g.mem_free))
        if host.capacity <= 0:
            return {}

        p = self.params
        host_free_percent = (sum(host_free) / len(host_free)) / host.capacity
        if host_free_percent <= p.pressure_critical:
            # "Force guest to swap by making free memory negative"
            guest_free_percent = CRITICAL_GUEST_FREE_OFFSET + host_free_percent
        else:
            guest_free_percent = p.min_guest_free_percent * (host_free_percent / p.pressure_threshold)
        shrink = host_free_percent < p.pressure_threshold and p.balloon_enabled

        out: dict[int, int] = {}
        for g in guests:
            cur = current_memory(g)
            hist = self._guest[g.guest_id]
            used = sum(c for c, _ in hist) / len(hist) - sum(u for _, u in hist) / len(hist)
            floor = max(g.balloon_min, used + guest_free_percent * cur)
            if shrink:
                size = cur * (1 - p.max_balloon_change_percent)
                if size < floor:
                    size = floor
                if size <= cur and self._big_enough(cur, size):
                    out[g.guest_id] = int(size)
            elif cur < g.memory:  # only ballooned guests grow
                size = cur * (1 + p.max_balloon_change_percent)
                if size < floor:
                    size = floor
                if size > g.memory:
                    size = g.memory
                if self._big_enough(cur, size):
                    out[g.guest_id] = int(size)
            # the "balloon minimum guaranteed memory" QoS rule runs last
            if cur < g.balloon_min:
                out[g.guest_id] = g.balloon_min
        return out

    def _big_enough(self, cur: int, size: float) -> bool:
        """02-balloon.policy's change_big_enough."""
        return abs(size - cur) > self.params.min_balloon_change_percent * cur
