"""A fixed balloon schedule, the same for every guest of a host.

The default is the benchmark of the seed series (balloon compaction, Linux 3.8):
inflate 1 GiB in 256 MiB chunks, one a minute, then deflate in the same chunks.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from fleet.records import GuestStats, HostState

from .base import MiB, GiB, Policy, clamp_target, current_memory, is_int, is_number, require


class StaticPolicy(Policy):
    """Balloon size as a step function of time.

    `schedule` is a list of (time_s, balloon bytes) steps: from time_s on, every
    guest's balloon should be that many bytes (so its target memory is
    memory - balloon, clamped to [balloon_min, memory]). Before the first step
    the balloon is 0. None means `StaticPolicy.ramp()`'s schedule.
    """

    name = "static"

    def __init__(self, *, schedule: Sequence[tuple[float, int]] | None = None) -> None:
        if schedule is None:
            schedule = ramp_schedule()
        require(isinstance(schedule, Sequence) and not isinstance(schedule, str),
                "schedule", schedule, "a list of (time_s, balloon_bytes) steps")
        steps = []
        for step in schedule:
            ok = (isinstance(step, Sequence) and len(step) == 2 and is_number(step[0])
                  and is_int(step[1]) and step[1] >= 0)
            require(ok, "schedule", step, "made of (time_s, balloon_bytes >= 0 as int) steps")
            steps.append((float(step[0]), int(step[1])))
        times = [t for t, _ in steps]
        require(times == sorted(times), "schedule", schedule, "in order of time")
        self.schedule = steps
        self._times = times

    @classmethod
    def ramp(cls, **steps) -> "StaticPolicy":
        """The policy of `ramp_schedule(**steps)` (see there)."""
        return cls(schedule=ramp_schedule(**steps))

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


def ramp_schedule(inflate: int = 1 * GiB, chunk: int = 256 * MiB, period_s: float = 60.0,
                  start_s: float = 60.0, hold_s: float = 60.0) -> list[tuple[float, int]]:
    """Inflate `inflate` bytes in `chunk`-sized steps every `period_s` from
    `start_s`, hold the full balloon for `hold_s`, then deflate in the same
    chunks every `period_s`. The defaults give the seed series' benchmark:
    0 B before 60 s, 256 MiB at 60 s, ... 1 GiB at 240 s, 768 MiB at 300 s,
    ... 0 B from 480 s on."""
    require(is_int(inflate) and inflate >= 0, "inflate", inflate, "an int of bytes >= 0")
    require(is_int(chunk) and chunk > 0, "chunk", chunk, "an int of bytes > 0")
    for param, value in (("period_s", period_s), ("start_s", start_s), ("hold_s", hold_s)):
        require(is_number(value) and value >= 0, param, value, "a number of seconds >= 0")
    n = math.ceil(inflate / chunk)
    steps = [(0.0, 0)]
    for i in range(n):
        steps.append((start_s + i * period_s, min((i + 1) * chunk, inflate)))
    full_s = start_s + (n - 1) * period_s if n else start_s
    for j in range(n):
        steps.append((full_s + hold_s + j * period_s, max(inflate - (j + 1) * chunk, 0)))
    return steps
