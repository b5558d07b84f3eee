"""The model logic the Ray actors wrap, testable without Ray.

`GuestPack` holds the guests one actor simulates; `HostController` is one
host: its memory (host_reclaim.Host), its balloon policy and the epoch loop
(`run`). The loop advances the guests step by step (a step is the policy
interval or the sample interval, whichever is shorter); after each step the
host reclaims if its free memory is below its low watermark (shrinker, swap,
OOM kills: host_reclaim.py), which the guests carry out at once, and records
its `hosts` row at every sample; at every policy boundary the policy decides
on what the guests report. The host actor, the benchmark and the tests each
give `run` their own `Guests`: the way to reach the host's guests.
"""

import os
import resource
import time
from typing import Protocol

import pyarrow as pa

from .guest import Guest
from .host import BackingReport
from .host_reclaim import SWAP_STORM_SHARE, Host, Reclaim
from .memory.constants import PAGE_SIZE
from .records import GuestStats, HostState
from .spec import Spec

Result = tuple[GuestStats, BackingReport, list[dict]]  # per guest: stats, backing report, samples rows
Results = list[Result]


class GuestPack:
    """Several guests in one process; each advances only when asked. A
    guest the host's OOM killer killed is dropped."""

    def __init__(self, spec: Spec, members: list[tuple[int, int, int]]):
        """members: (host id, guest id, guest group index)."""
        self.guests = {(h, g): Guest(spec, h, g, spec.guests[i]) for h, g, i in members}
        self.busy_s = 0.0

    def advance(self, host_id: int, until_s: int, targets: dict[int, int]) -> Results:
        """Advance this pack's guests of `host_id`; per guest (stats, backing
        report, samples rows)."""
        out = []
        start = time.thread_time()
        for (h, g), guest in sorted(self.guests.items()):
            if h == host_id:
                stats, rows = guest.advance(until_s, targets.get(g))
                out.append((stats, guest.report(), rows))
        self.busy_s += time.thread_time() - start
        return out

    def reclaim(self, host_id: int, actions: dict[int, Reclaim]) -> Results:
        """Carry out the host's reclaim on this pack's guests of `host_id`
        named in `actions`; per guest still alive, its new (stats, report,
        samples row of this moment if it is a sample time)."""
        out = []
        start = time.thread_time()
        for (h, g), guest in sorted(self.guests.items()):
            if h == host_id and g in actions:
                if actions[g].kill:
                    del self.guests[(h, g)]
                else:
                    out.append(guest.reclaim(actions[g]))
        self.busy_s += time.thread_time() - start
        return out

    def usage(self) -> tuple[float, int]:
        """(CPU seconds spent in `advance` and `reclaim` so far, peak RSS of
        this process in bytes). CPU time, not wall time: packs sharing a core
        do not count the time they wait for it."""
        return self.busy_s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Guests(Protocol):
    """A host's guests, wherever they run."""

    def advance(self, until_s: int, targets: dict[int, int]) -> Results: ...

    def reclaim(self, actions: dict[int, Reclaim]) -> Results: ...


class PackGuests:
    """The guests of host `host_id` in one local GuestPack."""

    def __init__(self, pack: GuestPack, host_id: int):
        self.pack, self.host_id = pack, host_id

    def advance(self, until_s: int, targets: dict[int, int]) -> Results:
        return self.pack.advance(self.host_id, until_s, targets)

    def reclaim(self, actions: dict[int, Reclaim]) -> Results:
        return self.pack.reclaim(self.host_id, actions)


Rows = dict[str, list[dict]]  # results table -> rows


class HostController:
    """One host: its memory, the policy, the time its guests have reached."""

    def __init__(self, spec: Spec, host_id: int):
        from policies import make_policy

        h, e = spec.hosts, spec.experiment
        self.host = Host(host_id, h.memory, h.swap_size, h.swap_bandwidth)
        self.policy = make_policy(spec.policy.name, **spec.policy.params)
        self.interval = e.policy_interval_s
        self.sample_interval = e.sample_interval_s
        self.step = min(e.policy_interval_s, e.sample_interval_s)  # one divides the other
        self.targets: dict[int, int] = {}
        self.t = 0
        self._swap_ins = 0  # the host's swap-ins at the last boundary
        self._swap_outs = 0  # its swap-outs at the last sample

    def run(self, until_s: int, guests: Guests, crash_at: int | None = None) -> Rows:
        """Run steps up to `until_s` (see the module's docstring). Returns
        the rows produced: `samples`, `hosts` and `events`. `crash_at`
        injects a fault: the process exits on reaching that simulated time."""
        rows: Rows = {"samples": [], "hosts": [], "events": []}
        while self.t < until_s:
            nxt = min(self.t + self.step, until_s)
            if crash_at is not None and nxt >= crash_at:
                os._exit(1)
            results = {s.guest_id: (s, report, r) for s, report, r in guests.advance(nxt, self.targets)}
            interval_s, self.t = nxt - self.t, nxt
            rows["events"] += self.reclaim(results, guests, interval_s)
            if self.t % self.sample_interval == 0:
                rows["hosts"].append(self.hosts_row())
                rows["events"] += self.swap_storm()
            if self.t % self.interval == 0:
                rows["events"] += self.observe(results)
            for g in sorted(results):
                rows["samples"] += results[g][2]
        return rows

    def reclaim(self, results: dict[int, Result], guests: Guests, interval_s: int) -> list[dict]:
        """The host's accounting after a step and, below its low watermark,
        its reclaim (host_reclaim.py): `results` is updated to what the
        guests report after it (a killed guest leaves it). Returns the
        oom_kill events."""
        host = self.host
        for _, report, _ in results.values():
            host.update(report)
        events = []
        if host.needs_reclaim():
            swapped_in = host.swap_ins() - self._swap_ins
            for first in (True, False):
                actions = host.first_pass() if first else host.second_pass(interval_s, swapped_in)
                if not actions:
                    continue
                for s, report, rows in guests.reclaim(actions):
                    host.update(report)
                    results[s.guest_id] = (s, report, rows)
                for g in sorted(g for g, a in actions.items() if a.kill):
                    host.kill(g)
                    del results[g]
                    events.append(self.event("oom_kill", g, host.kills[-1][1] * PAGE_SIZE, None))
        self._swap_ins = host.swap_ins()
        return events

    def observe(self, results: dict[int, Result]) -> list[dict]:
        """The policy decides on the guests' reports; the new targets are
        kept for the next steps. Returns a `target` event per guest whose
        target changed."""
        host = self.host
        state = HostState(host.host_id, float(self.t), host.capacity * PAGE_SIZE, host.resident() * PAGE_SIZE)
        stats = [results[g][0] for g in sorted(results)]
        decided = {int(g): int(t) for g, t in self.policy.decide(state, stats).items()}
        events = [
            self.event("target", g, self.targets.get(g), t)
            for g, t in sorted(decided.items())
            if self.targets.get(g) != t
        ]
        self.targets = decided
        return events

    def swap_storm(self) -> list[dict]:
        """A `swap_storm` event if the last sample interval was one
        (host_reclaim.SWAP_STORM_SHARE); new_bytes = its swap-out."""
        outs = self.host.swap_outs()
        swapped, self._swap_outs = (outs - self._swap_outs) * PAGE_SIZE, outs
        if swapped and swapped >= SWAP_STORM_SHARE * self.host.capacity * PAGE_SIZE * self.sample_interval:
            return [self.event("swap_storm", None, None, swapped)]
        return []

    def event(self, kind: str, guest: int | None, old: int | None, new: int | None) -> dict:
        return {
            "time_s": self.t,
            "host": self.host.host_id,
            "guest": guest,
            "event": kind,
            "old_bytes": old,
            "new_bytes": new,
        }

    def hosts_row(self) -> dict:
        h = self.host
        return {
            "time_s": self.t,
            "host": h.host_id,
            "host_memory_bytes": h.capacity * PAGE_SIZE,
            "host_resident_bytes": h.resident() * PAGE_SIZE,
            "host_free_bytes": h.free() * PAGE_SIZE,
            "host_swap_used_bytes": h.swap_used() * PAGE_SIZE,
            "host_swap_in_bytes": h.swap_ins() * PAGE_SIZE,
            "host_swap_out_bytes": h.swap_outs() * PAGE_SIZE,
            "host_huge_coverage": h.huge_coverage(),
            "host_oom_kills": len(h.kills),
            "host_guests": len(h.reports),
        }


def hosts_schema() -> pa.Schema:
    """The `hosts` table: one row per host per sample, after the host's
    reclaim at that moment; swap-in and swap-out bytes and OOM kills are
    cumulative."""
    cols = [pa.field("time_s", pa.int64()), pa.field("host", pa.int32())]
    cols += [
        pa.field(n, pa.int64())
        for n in (
            "host_memory_bytes",
            "host_resident_bytes",
            "host_free_bytes",
            "host_swap_used_bytes",
            "host_swap_in_bytes",
            "host_swap_out_bytes",
        )
    ]
    cols += [pa.field("host_huge_coverage", pa.float64())]
    cols += [pa.field("host_oom_kills", pa.int64()), pa.field("host_guests", pa.int32())]
    return pa.schema(cols)


def events_schema() -> pa.Schema:
    """The `events` table: `target` (a policy decision that changed a
    guest's target: old and new guest memory to keep, old null at the first
    decision), `oom_kill` (the victim; old_bytes its oom_badness: resident +
    swap + page tables) and `swap_storm` (guest null; new_bytes the interval's
    swap-out)."""
    return pa.schema(
        [
            pa.field("time_s", pa.int64()),
            pa.field("host", pa.int32()),
            pa.field("guest", pa.int32()),
            pa.field("event", pa.string()),
            pa.field("old_bytes", pa.int64()),
            pa.field("new_bytes", pa.int64()),
        ]
    )
