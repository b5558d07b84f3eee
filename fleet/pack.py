"""The model logic the Ray actors wrap, testable without Ray.

`GuestPack` holds the guests one actor simulates; `HostController` is one
host: its accounting and its balloon policy, one decision per policy epoch.
"""

import resource
import time

from .spec import Spec
from .guest import Guest
from .host import Host
from .records import GuestStats, HostState


class GuestPack:
    """Several guests in one process; each advances only when asked."""

    def __init__(self, spec: Spec, members: list[tuple[int, int, int]]):
        """members: (host id, guest id, guest group index)."""
        self.guests = {(h, g): Guest(spec, h, g, spec.guests[i]) for h, g, i in members}
        self.busy_s = 0.0

    def advance(self, host_id: int, until_s: int, targets: dict[int, int]) -> list[tuple[GuestStats, int, list[dict]]]:
        """Advance this pack's guests of `host_id`; per guest (stats,
        populated bytes, samples rows)."""
        out = []
        start = time.thread_time()
        for (h, g), guest in sorted(self.guests.items()):
            if h == host_id:
                stats, rows = guest.advance(until_s, targets.get(g))
                out.append((stats, guest.populated_bytes(), rows))
        self.busy_s += time.thread_time() - start
        return out

    def usage(self) -> tuple[float, int]:
        """(CPU seconds spent in `advance` so far, peak RSS of this process in
        bytes). CPU time, not wall time: packs sharing a core do not count the
        time they wait for it."""
        return self.busy_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class HostController:
    """One host: capacity, populated guest memory and the policy."""

    def __init__(self, spec: Spec, host_id: int):
        from policies import make_policy

        self.host = Host(host_id, spec.hosts.memory)
        self.policy = make_policy(spec.policy.name, **spec.policy.params)
        self.targets: dict[int, int] = {}

    def observe(self, results: list[tuple[GuestStats, int, list[dict]]], time_s: int) -> dict[int, int]:
        """Take the guests' reports of an epoch; return the next targets."""
        stats = []
        for s, populated, _ in results:
            self.host.update(s.guest_id, populated)
            stats.append(s)
        state = HostState(self.host.host_id, float(time_s), self.host.capacity, self.host.used())
        stats.sort(key=lambda s: s.guest_id)
        self.targets = {int(g): int(t) for g, t in self.policy.decide(state, stats).items()}
        return self.targets
