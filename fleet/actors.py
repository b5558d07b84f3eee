"""The Ray actors: thin wrappers around GuestPack and HostController.

A HostPolicyActor runs its host's epoch loop (`HostController.run`), advancing
the guest actors holding its guests in parallel and having them carry out
the host's reclaim. Guest actors take one CPU
each; host actors take none (they wait on their guests). Both receive the
run's Spec from Ray's object store, put there once per run.
"""

import os

import ray

from .host_reclaim import Reclaim
from .pack import GuestPack, HostController, Results, Rows
from .spec import Spec


@ray.remote(num_cpus=1)
class GuestActor:
    def __init__(self, spec: Spec, members: list[tuple[int, int, int]], crash_at: int | None = None):
        self.pack = GuestPack(spec, members)
        # fault injection: the process holding guest 0 dies at simulated time crash_at
        self.crash_at = crash_at if any(g == 0 for _, g, _ in members) else None

    def advance(self, host_id: int, until_s: int, targets: dict[int, int]) -> Results:
        if self.crash_at is not None and until_s >= self.crash_at:
            os._exit(1)
        return self.pack.advance(host_id, until_s, targets)

    def reclaim(self, host_id: int, actions: dict[int, Reclaim]) -> Results:
        return self.pack.reclaim(host_id, actions)

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def usage(self) -> tuple[float, int]:
        """GuestPack.usage: (busy CPU seconds, peak RSS bytes)."""
        return self.pack.usage()


@ray.remote(num_cpus=0)
class HostPolicyActor:
    def __init__(self, spec: Spec, host_id: int, guest_actors: list, crash_at: int | None = None):
        self.controller = HostController(spec, host_id)
        self.host_id, self.guest_actors, self.crash_at = host_id, guest_actors, crash_at

    def advance(self, until_s: int, targets: dict[int, int]) -> Results:
        futures = [a.advance.remote(self.host_id, until_s, targets) for a in self.guest_actors]
        return [r for part in ray.get(futures) for r in part]

    def reclaim(self, actions: dict[int, Reclaim]) -> Results:
        futures = [a.reclaim.remote(self.host_id, actions) for a in self.guest_actors]
        return [r for part in ray.get(futures) for r in part]

    def run(self, until_s: int) -> Rows:
        """HostController.run over the guest actors (this actor is its
        `Guests`); the rows produced."""
        return self.controller.run(until_s, self, self.crash_at)
