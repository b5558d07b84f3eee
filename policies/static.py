"""A fixed balloon schedule, the same for every guest of a host.

The default is the benchmark of the seed series (balloon compaction, Linux 3.8):
inflate 1 GiB in 256 MiB chunks, one a minute, then deflate in the same chunks.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, GiB, MiB, Policy, clamp_target, current_memory

Schedule = tuple[tuple[float, int], ...]


@POLICIES.parameters("static")
@dataclass(frozen=True)
class StaticParams(Params):
    """The schedule; its step times may be any finite number, its balloons are
    ints of bytes >= 0, in order of time (checked in `check`)."""

    schedule: Schedule | None = param(
        None, "(time_s, balloon bytes) steps in order of time; None: the seed series' 1 GiB ramp", min=None
    )

    def check(self) -> None:
        if self.schedule is None:
            return
        if any(balloon < 0 for _, balloon in self.schedule):
            raise ValueError(f"parameter 'schedule' must have balloon sizes >= 0 (got {self.schedule!r})")
        times = [t for t, _ in self.schedule]
        if times != sorted(times):
            raise ValueError(f"parameter 'schedule' must be in order of time (got {self.schedule!r})")


@dataclass(frozen=True)
class RampParams(Params):
    """The steps of `ramp_schedule`; the defaults are the seed series' benchmark."""

    inflate: int = param(1 * GiB, "bytes the balloon grows to")
    chunk: int = param(256 * MiB, "bytes it grows or shrinks by at each step", positive=True)
    period_s: float = param(60.0, "seconds between steps")
    start_s: float = param(60.0, "time of the first inflate step, seconds")
    hold_s: float = param(60.0, "seconds the full balloon is held before the first deflate step")


@POLICIES.implementation("static")
class StaticPolicy(Policy):
    """Balloon size as a step function of time.

    `schedule` is a list of (time_s, balloon bytes) steps: from time_s on, every
    guest's balloon should be that many bytes (so its target memory is
    memory - balloon, clamped to [balloon_min, memory]). Before the first step
    the balloon is 0. None means `StaticPolicy.ramp()`'s schedule.
    """

    name = "static"
    Params = StaticParams

    def __init__(self, params: StaticParams | None = None) -> None:
        self.params: StaticParams = StaticParams() if params is None else params
        self.schedule: Schedule = ramp_schedule() if self.params.schedule is None else self.params.schedule
        self._times = [t for t, _ in self.schedule]

    @classmethod
    def ramp(cls, **steps: Any) -> StaticPolicy:
        """The policy of `ramp_schedule(RampParams(**steps))` (see there); RampParams
        validates the steps (ints of bytes, float seconds)."""
        return cls(StaticParams(schedule=ramp_schedule(RampParams(**steps))))

    def balloon_at(self, time_s: float) -> int:
        """The scheduled balloon size at `time_s`."""
        i = bisect.bisect_right(self._times, time_s)
        return self.schedule[i - 1][1] if i else 0

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        balloon = self.balloon_at(host.time_s)
        out = {}
        for g in guests:
            target = clamp_target(g, g.memory - balloon)
            if target != current_memory(g):
                out[g.guest_id] = target
        return out


def ramp_schedule(ramp: RampParams = RampParams()) -> Schedule:
    """Inflate `inflate` bytes in `chunk`-sized steps every `period_s` from
    `start_s`, hold the full balloon for `hold_s`, then deflate in the same
    chunks every `period_s`. The defaults give the seed series' benchmark:
    0 B before 60 s, 256 MiB at 60 s, ... 1 GiB at 240 s, 768 MiB at 300 s,
    ... 0 B from 480 s on."""
    n = math.ceil(ramp.inflate / ramp.chunk)
    steps = [(0.0, 0)]
    for i in range(n):
        steps.append((ramp.start_s + i * ramp.period_s, min((i + 1) * ramp.chunk, ramp.inflate)))
    full_s = ramp.start_s + (n - 1) * ramp.period_s if n else ramp.start_s
    for j in range(n):
        steps.append((full_s + ramp.hold_s + j * ramp.period_s, max(ramp.inflate - (j + 1) * ramp.chunk, 0)))
    return tuple(steps)
