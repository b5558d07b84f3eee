"""The workload interface and how workloads are built.

A workload is what runs inside one guest: bound to the guest's `Zone`, it
registers its owners once and then turns each tick of simulated time into
allocation and free requests. Allocations go through the allocator's slow
path (`Zone.alloc_gfp`, GFP_USER: kswapd wake-up, direct reclaim and direct
compaction as in the kernel); the daemons (kswapd, kcompactd) are not the
workload's business — the guest runs them between ticks (`run_workload` does
it for scripts and tests).

    make_workload(name, zone, params, rng)   validate params, build the workload
    Composite([...])                          several workloads ticked in order

Each workload's parameters are a frozen dataclass in fleet.spec.workloads,
registered with its implementation in `WORKLOADS` (fleet.spec.registry).
"""

from __future__ import annotations

import numpy as np

from ..memory import constants as C
from ..memory.zone import Zone
from ..spec.params import Params as ParamsBase
from ..spec.workloads import WORKLOADS
from .kernels import alloc_interleaved

CHUNK_PAGES = 64  # allocations of different kinds interleave in runs of up to 64 pages


# ------------------------------------------------------------------ workloads


class Workload:
    """One workload bound to one zone.

    Subclasses are registered with `@register(name)` (which sets `name` and
    `Params`, their class in fleet.spec.workloads), call `super().__init__`
    and then register their owners with `self.owner(...)`; they implement `tick` and
    extend `metrics`. Helpers keep fractional page budgets between ticks
    (`quota`), allocate through the slow path (`alloc`, `alloc_mix`) and count
    what they allocated, freed and were refused.
    """

    name = "workload"
    Params: type[ParamsBase] = ParamsBase
    params: ParamsBase | None  # subclasses narrow it to their Params class; None in a Composite

    def __init__(self, zone: Zone, params: ParamsBase, rng: np.ndarray):
        self.zone, self.params, self.rng = zone, params, rng
        self.owners: dict[str, int] = {}
        self._carry: dict[str, float] = {}
        self.allocated_pages = 0  # cumulative pages allocated
        self.freed_pages = 0  # cumulative pages freed by the workload itself
        self.refused_pages = 0  # cumulative pages asked for and refused

    # -- interface

    def tick(self, t: float, dt: float) -> None:
        """Turn the `dt` simulated seconds from time `t` into requests."""
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        """Workload figures: cumulative counters (and a few named gauges)."""
        return {
            "allocated_pages": float(self.allocated_pages),
            "freed_pages": float(self.freed_pages),
            "refused_pages": float(self.refused_pages),
        }

    # -- helpers for subclasses

    def owner(self, label: str, kind: int, migratetype: int | None = None) -> int:
        o = self.zone.register_owner(f"{self.name}-{label}", kind, migratetype)
        self.owners[label] = o
        return o

    def pages(self, *labels: str) -> int:
        """Pages the named owners hold now."""
        return int(sum(self.zone.a.own_pages[self.owners[label]] for label in labels))

    def size_pages(self, nbytes: int | None, fraction: float) -> int:
        """Pages of `nbytes`, or of `fraction` of RAM when `nbytes` is None."""
        if nbytes is None:
            return int(fraction * self.zone.nr_pages)
        return nbytes // C.PAGE_SIZE

    def quota(self, key: str, amount: float) -> int:
        """The whole part of `amount` plus what earlier ticks left over under
        `key`; the fraction is kept for the next tick (so small rates work
        with short ticks)."""
        total = self._carry.get(key, 0.0) + max(amount, 0.0)
        whole = int(total)
        self._carry[key] = total - whole
        return whole

    def rate_pages(self, key: str, bytes_per_s: int, dt: float) -> int:
        return self.quota(key, bytes_per_s * dt / C.PAGE_SIZE)

    def alloc(self, o: int, order: int, count: int) -> int:
        """`count` blocks for owner `o` through the slow path (GFP_USER);
        stops at the first failure. Returns blocks allocated."""
        if count <= 0:
            return 0
        got = self.zone.alloc_gfp(o, order, count, C.GFP_USER)
        self.allocated_pages += got << order
        self.refused_pages += (count - got) << order
        return got

    def alloc_mix(self, requests: list[tuple[int, int, int]]) -> np.ndarray:
        """Allocate several (owner, order, blocks) GFP_USER requests interleaved in
        random runs of up to CHUNK_PAGES pages, as concurrent faults and
        kernel allocations interleave in a running system. Each request stops
        at its first failure. Returns blocks allocated per request (in the
        order given)."""
        got = np.zeros(len(requests), dtype=np.int64)
        live = [i for i, r in enumerate(requests) if r[2] > 0]
        if not live:
            return got
        owners = np.array([requests[i][0] for i in live], dtype=np.int64)
        orders = np.array([requests[i][1] for i in live], dtype=np.int64)
        counts = np.array([requests[i][2] for i in live], dtype=np.int64)
        done = np.zeros(len(live), dtype=np.int64)
        refused = alloc_interleaved(
            self.zone.a, owners, orders, counts, done, C.GFP_USER, CHUNK_PAGES, self.rng, self.zone.rng
        )
        got[live] = done
        self.allocated_pages += int((done << orders).sum())
        self.refused_pages += int(refused)
        return got

    def free(self, o: int, nr_pages: int, how: str = "random") -> int:
        """Free at least `nr_pages` of owner `o` (picked oldest, newest or
        random); returns pages freed."""
        if nr_pages <= 0:
            return 0
        freed = self.zone.free_owner(o, nr_pages, self.rng, how)
        self.freed_pages += freed
        return freed

    def free_all(self, o: int) -> int:
        return self.free(o, self.zone.owner_pages(o), "oldest")


class Composite(Workload):
    """Several workloads on one zone, ticked in the given order each tick
    (e.g. a kernel build beside the stress-highalloc probe). Metrics are the
    parts' metrics prefixed with their names ("build.refused_pages"); a name
    used twice gets "#2", "#3"..."""

    name = "composite"

    def __init__(self, parts: list[Workload], names: list[str] | None = None):
        if not parts:
            raise ValueError("a composite needs at least one workload")
        zones = {id(p.zone) for p in parts}
        if len(zones) != 1:
            raise ValueError("the workloads of a composite must share one zone")
        self.zone, self.params, self.rng = parts[0].zone, None, parts[0].rng
        self.parts = list(parts)
        names = list(names) if names is not None else [p.name for p in parts]
        if len(names) != len(self.parts):
            raise ValueError("a composite needs one name per workload")
        seen: dict[str, int] = {}
        self.names = []
        for n in names:
            seen[n] = seen.get(n, 0) + 1
            self.names.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
        self.owners = {f"{n}.{label}": o for n, p in zip(self.names, self.parts) for label, o in p.owners.items()}

    def tick(self, t: float, dt: float) -> None:
        for part in self.parts:
            part.tick(t, dt)

    def metrics(self) -> dict[str, float]:
        out = {}
        for n, part in zip(self.names, self.parts):
            out.update({f"{n}.{k}": v for k, v in part.metrics().items()})
        return out


# ------------------------------------------------------------------ building


def register(name: str):
    """Class decorator: the implementation of workload `name`, whose
    parameters class fleet.spec.workloads registered."""

    def deco(cls):
        cls.name = name
        cls.Params = WORKLOADS.params_class(name)
        return WORKLOADS.implementation(name)(cls)

    return deco


def make_workload(name: str, zone: Zone, params: dict | None, rng: np.ndarray) -> Workload:
    """Build workload `name` on `zone` from `params` (validated: an unknown
    key or a bad value raises ValueError naming it)."""
    values = WORKLOADS.make_params(name, params)
    cls = WORKLOADS.implementation_of(name)
    try:
        return cls(zone, values, rng)
    except ValueError as e:
        raise ValueError(f"workload {name!r}: {e}") from None


def make_composite(zone: Zone, items: list[tuple[str, dict]], rng: np.ndarray) -> Composite:
    """A Composite of (name, params) items, ticked in that order."""
    parts = [make_workload(n, zone, p, rng) for n, p in items]
    return Composite(parts, [n for n, _ in items])


def run_workload(
    zone: Zone, workload: Workload, seconds: float, dt: float = 1.0, t0: float = 0.0, daemons: bool = True
) -> float:
    """Drive `workload` for `seconds` in ticks of `dt` from time `t0`, with
    kswapd and kcompactd run between ticks as the guest would (and the host
    notification stream drained). Returns the time reached."""
    n = int(round(seconds / dt))
    for i in range(n):
        workload.tick(t0 + i * dt, dt)
        if daemons:
            zone.run_daemons()
        zone.drain_stream()
    return t0 + n * dt
