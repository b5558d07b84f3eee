"""The host balloon policy interface and its checker.

A policy is the host-side half of ballooning: at every policy boundary (default
every 10 s, as oVirt MOM and Proxmox pvestatd run) it sees its host's own
accounting (HostState) and one stats record per guest (GuestStats), and says
which guests should end up with how much memory. It never sees guest internals.

    policy = make_policy("mom")               # or MomPolicy(MomParams(pressure_threshold=0.2))
    targets = policy.decide(host, guests)     # {guest_id: target guest memory, bytes}

Each policy declares its parameters as a frozen `fleet.spec.params.Params`
dataclass whose defaults are the modelled system's own constants; both the
parameters and the policy class are registered by name in POLICIES.

`device` names the guest device a policy works through (DEVICES): "balloon"
(virtio-balloon: targets move the balloon), "virtio-mem" (targets are the
memory the guest keeps plugged, in whole device blocks) or
"free-page-reporting" (virtio-balloon's REPORTING: the guests report free
blocks and the host discards them; such a policy never sets a target).

A target is the memory the guest keeps, i.e. `memory - balloon` (what libvirt's
setMemory, MOM's balloon_target and Proxmox's `balloon` mean). Guests left out of
the result keep their current target. A policy may keep state between calls
(MOM's moving averages) but must be deterministic: no randomness, no clocks.

`check_policy` runs a policy over generated hosts and guests and raises
PolicyCheckError on anything that breaks this contract.
"""

from __future__ import annotations

import abc
import copy
import random
from collections.abc import Callable
from typing import ClassVar, NoReturn

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params as ParamsBase
from fleet.spec.registry import Registry

MiB = 1 << 20
GiB = 1 << 30


class Policy(abc.ABC):
    """A host balloon policy. Subclasses set `name` and `Params` (their frozen
    parameters class), take an instance of it (None: the defaults) as
    `self.params`, and implement `decide`."""

    name: ClassVar[str] = ""
    device: ClassVar[str] = "balloon"
    Params: ClassVar[type[ParamsBase]]
    params: ParamsBase

    def __init__(self, params: ParamsBase | None = None) -> None:
        self.params = self.Params() if params is None else params

    @abc.abstractmethod
    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        """Targets (guest memory in bytes, balloon_min <= t <= memory) for the
        guests whose memory should change; guests left out keep their target."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


POLICIES: Registry[type[Policy]] = Registry("policy")
DEVICES = ("balloon", "virtio-mem", "free-page-reporting")


def current_memory(g: GuestStats) -> int:
    """The memory the guest holds now: memory minus the balloon's actual size."""
    return g.memory - g.balloon


def clamp_target(g: GuestStats, target: int) -> int:
    """`target` clamped to what the interface allows: [balloon_min, memory]."""
    return max(g.balloon_min, min(g.memory, target))


# --- the checker ---------------------------------------------------------------


def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class PolicyCheckError(AssertionError):
    """A policy broke the interface contract; the message says where and how."""


INTERVAL_S = 10.0  # the policy interval of oVirt MOM and Proxmox pvestatd
SLEW = 512 * MiB  # how far a simulated balloon moves toward its target per round

# (overcommit = sum of guest memory / host capacity, guest demand range as a
# fraction of guest memory): a roomy host, a tight one, an overcommitted one
# (critical pressure) and a small one with the awkward guests.
_SCENARIOS = (
    ("roomy", 0.5, (0.1, 0.5)),
    ("tight", 1.0, (0.3, 0.9)),
    ("critical", 1.5, (0.6, 1.0)),
    ("edges", 1.2, (0.0, 1.0)),
)


def _make_guests(rng: random.Random, kind: str, host_id: int) -> list[dict]:
    guests = []
    n = rng.randint(1, 6)
    for i in range(n):
        memory = rng.randint(1, 32) * 256 * MiB
        floor = rng.randint(0, memory // MiB) * MiB
        shares = rng.choice((1000, 1000, 500, 2000))
        if kind == "edges":
            # floor == memory (no room), floor 0, opted out, a tiny guest
            case = i % 4
            if case == 0:
                floor = memory
            elif case == 1:
                floor = 0
            elif case == 2:
                shares = 0
            else:
                memory, floor = 64 * MiB, 32 * MiB
        cur = rng.randint(floor // MiB, memory // MiB) * MiB
        guests.append(
            dict(
                guest_id=host_id * 100 + i,
                memory=memory,
                floor=floor,
                shares=shares,
                cur=cur,
                target=cur,
                demand=rng.random(),
            )
        )
    return guests


def _world(rng: random.Random, kind: str, overcommit: float, demand: tuple[float, float], host_id: int, rounds: int):
    """Yield (host, guests) for `rounds` rounds; send back each round's targets."""
    guests = _make_guests(rng, kind, host_id)
    capacity = max(64 * MiB, int(sum(g["memory"] for g in guests) / overcommit))
    host_own = rng.randint(0, capacity // 8)
    lo, hi = demand
    for r in range(rounds):
        t = r * INTERVAL_S
        records = []
        populated = 0
        for g in guests:
            # the guest's demand wanders; its free memory is what it holds minus it
            g["demand"] = min(1.0, max(0.0, g["demand"] + rng.uniform(-0.1, 0.1)))
            used = int(g["memory"] * (lo + (hi - lo) * g["demand"]))
            free = max(0, g["cur"] - used)
            caches = min(free, rng.randint(0, g["cur"] // 4))
            populated += min(g["cur"], used + caches)
            records.append(
                GuestStats(
                    guest_id=g["guest_id"],
                    host_id=host_id,
                    time_s=t,
                    memory=g["memory"],
                    balloon=g["memory"] - g["cur"],
                    balloon_target=g["memory"] - g["target"],
                    mem_total=g["cur"],
                    mem_free=free,
                    mem_available=free + caches,
                    caches=caches,
                    balloon_min=g["floor"],
                    active_fraction=rng.random(),
                    shares=g["shares"],
                    psi_memory_some=rng.choice((0.0, rng.uniform(0.0, 0.002), rng.uniform(0.0, 0.2))),
                )
            )
        host_own = min(capacity // 4, max(0, host_own + rng.randint(-64, 64) * MiB))
        host = HostState(host_id=host_id, time_s=t, capacity=capacity, used=min(capacity, host_own + populated))
        targets = yield host, records
        for g in guests:  # the balloons move toward the (possibly new) targets
            g["target"] = targets.get(g["guest_id"], g["target"])
            step = max(-SLEW, min(SLEW, g["target"] - g["cur"]))
            g["cur"] += step


def _check_output(policy: Policy, where: str, guests: list[GuestStats], out: object) -> None:
    def fail(msg: str) -> NoReturn:
        raise PolicyCheckError(f"policy {policy.name!r} ({type(policy).__name__}), {where}: {msg}")

    if not isinstance(out, dict):
        fail(f"decide returned {type(out).__name__}, not a dict of guest id -> target bytes")
    if out and policy.device == "free-page-reporting":
        fail(f"a {policy.device} policy sets no targets, but decide returned {out}")
    by_id = {g.guest_id: g for g in guests}
    for gid, target in out.items():
        if not is_int(gid) or gid not in by_id:
            fail(f"returned unknown guest id {gid!r}; this host's guests are {sorted(by_id)}")
        g = by_id[gid]
        if not is_int(target):
            fail(f"guest {gid}: target {target!r} is a {type(target).__name__}, not an int of bytes")
        if target < 0:
            fail(f"guest {gid}: target {target} is negative")
        if target < g.balloon_min:
            fail(f"guest {gid}: target {target} is below its floor balloon_min={g.balloon_min}")
        if target > g.memory:
            fail(f"guest {gid}: target {target} is above its memory={g.memory}")


def check_policy(policy: Policy | Callable[[], Policy], rounds: int = 60, seed: int = 0) -> None:
    """Run a policy over generated hosts and guests and check the contract.

    `policy` is an unused Policy instance (copied for each run) or a zero-argument
    factory such as the class itself. For each of four generated hosts (roomy,
    tight, critically overcommitted, and one with awkward guests: floor equal to
    memory, floor 0, shares 0, a 64 MiB guest) it runs `rounds` policy intervals
    of 10 s in which guests' demand, sampled activity and memory pressure
    wander and their balloons move toward the targets set. The policy's
    `device` must be one of DEVICES. Every result must map known guest ids
    to int targets within [balloon_min, memory] (and be empty for a
    free-page-reporting policy), must not modify its inputs, and a second
    fresh instance fed the same records must return the same results
    (determinism).
    Raises PolicyCheckError saying which host, round and guest broke what.
    """
    if isinstance(policy, Policy):
        template = policy
        factory: Callable[[], Policy] = lambda: copy.deepcopy(template)  # noqa: E731
    elif callable(policy):
        factory = policy
    else:
        raise TypeError(f"check_policy needs a Policy or a factory of one, not {policy!r}")

    rng = random.Random(seed)
    for host_id, (kind, overcommit, demand) in enumerate(_SCENARIOS):
        first = factory()
        if not isinstance(first, Policy):
            raise PolicyCheckError(f"{policy!r} made {first!r}, which is not a Policy")
        if not isinstance(first.name, str) or not first.name:
            raise PolicyCheckError(f"{type(first).__name__} has no name")
        if first.device not in DEVICES:
            raise PolicyCheckError(f"policy {first.name!r}: device {first.device!r} is not one of {', '.join(DEVICES)}")
        world = _world(rng, kind, overcommit, demand, host_id, rounds)
        history = []
        step = next(world)
        for r in range(rounds):
            host, guests = step
            where = f"host {host_id} ({kind}), round {r} (t={host.time_s:g}s)"
            arg = list(guests)
            out = first.decide(host, arg)
            if arg != guests:
                raise PolicyCheckError(f"policy {first.name!r}, {where}: decide modified the guest list")
            _check_output(first, where, guests, out)
            history.append((host, guests, dict(out)))
            try:
                step = world.send(out)
            except StopIteration:
                break
        second = factory()
        for r, (host, guests, expected) in enumerate(history):
            got = second.decide(host, list(guests))
            if got != expected:
                raise PolicyCheckError(
                    f"policy {first.name!r} is not deterministic: on host {host_id} ({kind}), "
                    f"round {r}, two fresh instances given the same records returned "
                    f"{expected} and {got}"
                )
