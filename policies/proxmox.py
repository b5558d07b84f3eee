"""Proxmox VE auto-ballooning.

A model of `PVE::AutoBalloon::compute_alg1` (proxmox/pve-manager,
PVE/AutoBalloon.pm) as pvestatd calls it every 10 s (PVE/Service/pvestatd.pm,
auto_ballooning):

    goal = int(memtotal * ballooning-target / 100 - memused)   # target 80 %
    maxchange = 100 MiB per VM per round
    |goal| <= 10 MiB: nothing.
    goal > 0 (grow):   hand `goal` out to the VMs under memory pressure; if that
                       makes no progress, to all VMs.
    goal < 0 (shrink): take it from the comfortable VMs (freemem > 0.25 *
                       balloon_min); if that makes no progress, from all VMs.

Handing out `bytes` to a list of VMs (change_func) repeats until nothing is
left or nothing moves: the pool above the floors plus what is left, alloc_new,
is split by shares, `desired = balloon_min + int(alloc_new / shares_total *
shares)`, clamped to [balloon_min, maxmem]; each VM moves from its current
balloon toward `desired` by at most maxchange; VMs that need no move drop out
and the rest is split again among the others.

Mapping onto the records: a Proxmox `balloon` is the memory the guest keeps
(the target this interface returns): balloon = memory - GuestStats.balloon,
balloon_min = balloon_min, maxmem = memory, freemem = mem_free, shares =
shares; memtotal = HostState.capacity, memused = HostState.used.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, MiB, Policy, clamp_target, current_memory

COMFORTABLE_FRACTION = 0.25  # freemem > balloon_min * 0.25


@dataclass
class Vm:
    """What compute_alg1 reads of one VM (its `$vmstatus->{$vmid}`); bytes."""

    vmid: int
    balloon: int  # current guest memory
    balloon_min: int
    maxmem: int
    freemem: int
    shares: int


def compute_alg1(vms: list[Vm], goal: int, maxchange: int, deadband: int) -> dict[int, int]:
    """Proxmox's PVE::AutoBalloon::compute_alg1: new balloon values (guest
    memory) by vmid, for the VMs it moves."""
    idlist: list[Vm] = []  # VMs with a working balloon driver and a floor set
    pressured: list[Vm] = []  # idlist1: VMs with memory pressure
    comfortable: list[Vm] = []  # idlist2: VMs with enough free memory
    for d in sorted(vms, key=lambda v: v.vmid):
        if not d.balloon or not d.balloon_min:  # driver not running / no floor in config
            continue
        if d.shares <= 0:  # shares 0 opts out (negative shares: treated alike)
            continue
        idlist.append(d)
        if d.freemem and d.freemem > d.balloon_min * COMFORTABLE_FRACTION and d.balloon >= d.balloon_min:
            comfortable.append(d)
        else:
            pressured.append(d)

    res: dict[int, int] = {}
    if goal > deadband:
        rest = _change(res, pressured, goal, maxchange)
        if rest >= goal:  # no progress ==> consider all VMs
            _change(res, idlist, rest, maxchange)
    elif goal < -deadband:
        rest = _change(res, comfortable, goal, maxchange)
        if rest <= goal:  # no progress ==> consider all VMs
            _change(res, idlist, rest, maxchange)
    return res


def _change(res: dict[int, int], idlist: list[Vm], nbytes: int, maxchange: int) -> int:
    """compute_alg1's change_func: move `nbytes` (signed) into or out of the VMs
    of `idlist`, updating `res`; returns what could not be placed."""
    rest = nbytes
    repeat = True
    progress = 1
    done: set[int] = set()
    while rest and repeat and progress:
        repeat = False
        progress = 0
        live = [d for d in idlist if d.vmid not in done]
        shares_total = sum(d.shares for d in live)
        alloc_old = sum(res.get(d.vmid, d.balloon) - d.balloon_min for d in live)
        alloc_new = alloc_old + rest
        changes = 0
        for d in live:
            desired = d.balloon_min + int((alloc_new / shares_total) * d.shares)
            if desired > d.maxmem:
                desired = d.maxmem
                repeat = True
            elif desired < d.balloon_min:
                desired = d.balloon_min
                repeat = True
            if nbytes > 0 and desired - d.balloon > 0:  # grow
                balloon = min(d.balloon + maxchange, desired)
            elif desired - d.balloon < 0:  # shrink
                balloon = max(d.balloon - maxchange, desired)
            else:
                done.add(d.vmid)
                continue
            diff = balloon - d.balloon
            if diff != 0:
                old = res.get(d.vmid, d.balloon)
                res[d.vmid] = balloon
                change = balloon - old
                if change != 0:
                    changes += change
                    progress += abs(diff)
                    repeat = True
        rest -= changes
    return rest


@POLICIES.parameters("proxmox")
@dataclass(frozen=True)
class ProxmoxParams(Params):
    """Proxmox VE's auto-ballooning constants (AutoBalloon.pm, pvestatd)."""

    target_percent: float = param(
        80.0, "node option ballooning-target: percent of host memory pvestatd aims to use", max=100, positive=True
    )
    max_change: int = param(
        100 * MiB, "pvestatd's $maxchange: most bytes one VM's balloon moves per round", positive=True
    )
    deadband: int = param(
        10 * MiB, "AutoBalloon.pm's hard-coded deadband: |goal| bytes at or below which nothing moves"
    )


@POLICIES.implementation("proxmox")
class ProxmoxPolicy(Policy):
    """Proxmox VE auto-ballooning (PVE/AutoBalloon.pm, pvestatd): keep the host
    at `target_percent` of its memory by moving every participating VM toward a
    shares-weighted split of the pool above the floors, at most `max_change`
    bytes per VM per round, and not at all while the host is within `deadband`
    bytes of its goal. Stateless.

    Defaults: target_percent 80 (node option `ballooning-target`), max_change
    100 MiB (pvestatd's $maxchange), deadband 10 MiB (hard-coded in
    AutoBalloon.pm).

    One deviation: AutoBalloon.pm can step a VM that sits below its floor (floor
    raised while it runs) up by max_change, leaving a target still below the
    floor; this interface forbids such targets, so they are raised to the floor.
    """

    name = "proxmox"
    Params = ProxmoxParams

    def __init__(self, params: ProxmoxParams | None = None) -> None:
        self.params: ProxmoxParams = ProxmoxParams() if params is None else params

    def goal(self, host: HostState) -> int:
        """pvestatd's goal: bytes the host may hand out (> 0) or must take back (< 0)."""
        return int(host.capacity * self.params.target_percent / 100 - host.used)

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        vms = [Vm(g.guest_id, current_memory(g), g.balloon_min, g.memory, g.mem_free, g.shares) for g in guests]
        res = compute_alg1(vms, self.goal(host), self.params.max_change, self.params.deadband)
        by_id = {g.guest_id: g for g in guests}
        out = {}
        for vmid, balloon in res.items():
            g = by_id[vmid]
            target = clamp_target(g, balloon)
            if target != current_memory(g):  # pvestatd: "no need to change"
                out[vmid] = target
        return out
