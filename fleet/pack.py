"""The model logic the Ray actors wrap, testable without Ray.

`GuestPack` holds the guests one actor simulates; `HostController` is one
host: its accounting, its balloon policy and the epoch loop (`run`), one
decision per policy epoch, and whether the host reclaims (its free memory
below its low watermark: the deferred-split shrinker runs at the start of the
next epoch). The host actor and the benchmark both drive `run`, each with its
own way of advancing the guests.
"""

import os
import resource
import time
from collections.abc import Callable

from .guest import Guest
from .host import Host, host_low_watermark
from .records import GuestStats, HostState
from .spec import Spec


class GuestPack:
    """Several guests in one process; each advances only when asked."""

    def __init__(self, spec: Spec, members: list[tuple[int, int, int]]):
        """members: (host id, guest id, guest group index)."""
        self.guests = {(h, g): Guest(spec, h, g, spec.guests[i]) for h, g, i in members}
        self.busy_s = 0.0

    def advance(self, host_id: int, until_s: int, targets: dict[int, int], shrink: bool = False) -> "Results":
        """Advance this pack's guests of `host_id` (`shrink`: the host's
        deferred-split shrinker runs first); per guest (stats, populated
        bytes, samples rows)."""
        out = []
        start = time.thread_time()
        for (h, g), guest in sorted(self.guests.items()):
            if h == host_id:
                stats, rows = guest.advance(until_s, targets.get(g), shrink)
                out.append((stats, guest.populated_bytes(), rows))
        self.busy_s += time.thread_time() - start
        return out

    def usage(self) -> tuple[float, int]:
        """(CPU seconds spent in `advance` so far, peak RSS of this process in
        bytes). CPU time, not wall time: packs sharing a core do not count the
        time they wait for it."""
        return self.busy_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


Results = list[tuple[GuestStats, int, list[dict]]]  # per guest: stats, populated bytes, samples rows
Advance = Callable[[int, dict[int, int], bool], Results]  # (until_s, targets, shrink) -> the host's guests' results


class HostController:
    """One host: capacity, populated guest memory, the policy, the time its
    guests have reached and whether it reclaims in the next epoch."""

    def __init__(self, spec: Spec, host_id: int):
        from policies import make_policy

        self.host = Host(host_id, spec.hosts.memory)
        self.policy = make_policy(spec.policy.name, **spec.policy.params)
        self.interval = spec.experiment.policy_interval_s
        self.targets: dict[int, int] = {}
        self.low_watermark = host_low_watermark(spec.hosts.memory)
        self.shrink = False  # the host's free memory was below its low watermark at the last observe
        self.t = 0

    def run(self, until_s: int, advance: Advance, crash_at: int | None = None) -> list[dict]:
        """Run policy epochs up to `until_s`: `advance` the guests to each
        boundary with the current targets (and the shrink decision, used
        once), then let the policy decide on what they report. Returns the
        samples rows produced. `crash_at` injects a fault: the process exits
        on reaching that simulated time."""
        rows = []
        while self.t < until_s:
            nxt = min(self.t + self.interval, until_s)
            if crash_at is not None and nxt >= crash_at:
                os._exit(1)
            shrink, self.shrink = self.shrink, False
            results = advance(nxt, self.targets, shrink)
            self.t = nxt
            if self.t % self.interval == 0:
                self.observe(results, self.t)
            for _, _, guest_rows in results:
                rows.extend(guest_rows)
        return rows

    def observe(self, results: Results, time_s: int) -> dict[int, int]:
        """Take the guests' reports of an epoch; return the next targets.
        Below the host's low watermark (capacity - populated of all its
        guests, queued THPs counted whole) kswapd would run and with it the
        deferred-split shrinker: the next advance says so."""
        stats = []
        for s, populated, _ in results:
            self.host.update(s.guest_id, populated)
            stats.append(s)
        state = HostState(self.host.host_id, float(time_s), self.host.capacity, self.host.used())
        self.shrink = state.free < self.low_watermark
        stats.sort(key=lambda s: s.guest_id)
        self.targets = {int(g): int(t) for g, t in self.policy.decide(state, stats).items()}
        return self.targets
