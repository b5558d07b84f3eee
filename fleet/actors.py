"""The Ray actors: thin wrappers around GuestPack and HostController.

A HostPolicyActor runs its host's policy epochs: it asks the guest actors
holding its guests to advance to the next boundary (in parallel), feeds their
stats to the policy and sends the targets with the next advance. Guest actors
take one CPU each; host actors take none (they wait on their guests).
"""

import os

import ray

from .spec import build_spec
from .pack import GuestPack, HostController


@ray.remote(num_cpus=1)
class GuestActor:
    def __init__(self, raw_spec: dict, members: list[tuple[int, int, int]], crash_at: int | None = None):
        self.pack = GuestPack(build_spec(raw_spec), members)
        # fault injection: the process holding guest 0 dies at simulated time crash_at
        self.crash_at = crash_at if any(g == 0 for _, g, _ in members) else None

    def advance(self, host_id, until_s, targets):
        if self.crash_at is not None and until_s >= self.crash_at:
            os._exit(1)
        return self.pack.advance(host_id, until_s, targets)

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def usage(self) -> tuple[float, int]:
        """GuestPack.usage: (busy CPU seconds, peak RSS bytes)."""
        return self.pack.usage()


@ray.remote(num_cpus=0)
class HostPolicyActor:
    def __init__(self, raw_spec: dict, host_id: int, guest_actors: list, crash_at: int | None = None):
        self.spec = build_spec(raw_spec)
        self.crash_at = crash_at
        self.host_id = host_id
        self.controller = HostController(self.spec, host_id)
        self.guest_actors = guest_actors
        self.t = 0

    def run(self, until_s: int) -> list[dict]:
        """Run policy epochs up to `until_s`; the samples rows produced."""
        rows = []
        interval = self.spec.experiment.policy_interval_s
        while self.t < until_s:
            nxt = min(self.t + interval, until_s)
            if self.crash_at is not None and nxt >= self.crash_at:
                os._exit(1)  # fault injection: the host policy process dies
            targets = self.controller.targets
            futures = [a.advance.remote(self.host_id, nxt, targets) for a in self.guest_actors]
            results = [r for part in ray.get(futures) for r in part]
            self.t = nxt
            if self.t % interval == 0:
                self.controller.observe(results, self.t)
            for _, _, guest_rows in results:
                rows.extend(guest_rows)
        return rows
