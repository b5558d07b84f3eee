"""virtio-mem: the host plugs and unplugs guest memory in device blocks.

The device (David Hildenbrand, Linux 5.8, drivers/virtio/virtio_mem.c; QEMU
hw/virtio/virtio-mem.c) has a `requested_size` the host sets and a
`plugged_size` the guest reaches by plugging blocks (onlining them) or
unplugging them (fake-offlining with alloc_contig_range, which migrates the
movable pages out and fails on an unmovable one). The guest side is
fleet/memory/virtio_mem.py over fleet/memory/memory_hotplug.py; here the
policy's `block_size` is the device's block-size property.

Neither QEMU nor libvirt sizes virtio-mem devices by itself, so the policy
sizes each guest by Hyper-V Dynamic Memory's rule, the production system
that grows guests by hot-add: the memory the guest has committed (its
demand) plus a memory buffer of 20 % of it, between the guest's minimum and
maximum RAM (balloon_min and memory here), in whole blocks rounded up.
Hyper-V's contention rules (dropping the buffer, then memory weight) are not
modelled: every guest gets its demand plus buffer whatever the host's free
memory.

Mapping onto the records: demand = mem_total - mem_available (what the
guest could not give up without reclaiming its working set); the target is
the plugged size asked for (memory - requested unplugged size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params, param

from .base import POLICIES, MiB, Policy, clamp_target

MIN_BLOCK = 2 * MiB  # a pageblock: the driver's least subblock (virtio_mem_init_hotplug, 6.x)
MAX_BLOCK = 64 * MiB  # a block's host notifications fit the guest's stream (fleet/memory/virtio_mem.py)


@POLICIES.parameters("virtio-mem")
@dataclass(frozen=True)
class VirtioMemParams(Params):
    """The device's block size and Hyper-V Dynamic Memory's buffer."""

    block_size: int = param(
        MIN_BLOCK, "virtio-mem block-size: bytes plugged or unplugged at once, a power of two in 2MiB..64MiB"
    )
    buffer_percent: float = param(20.0, "Hyper-V memory buffer: percent of the guest's demand kept plugged above it")

    def check(self) -> None:
        b = self.block_size
        if not MIN_BLOCK <= b <= MAX_BLOCK or b & (b - 1):
            raise ValueError(f"parameter 'block_size' must be a power of two within 2MiB..64MiB (got {b!r})")


@POLICIES.implementation("virtio-mem")
class VirtioMemPolicy(Policy):
    """virtio-mem sized by Hyper-V Dynamic Memory's rule: each guest keeps
    plugged its demand plus a 20 % buffer, rounded up to whole blocks,
    within [balloon_min, memory]. Stateless."""

    name = "virtio-mem"
    device = "virtio-mem"
    Params = VirtioMemParams

    def __init__(self, params: VirtioMemParams | None = None) -> None:
        self.params: VirtioMemParams = VirtioMemParams() if params is None else params

    def plugged_size(self, g: GuestStats) -> int:
        """The requested size for guest `g`: demand plus buffer, floor
        included, rounded up to a whole block."""
        b = self.params.block_size
        demand = max(0, g.mem_total - g.mem_available)
        want = max(g.balloon_min, int(demand * (1 + self.params.buffer_percent / 100)))
        return clamp_target(g, -(-want // b) * b)

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        out = {}
        for g in guests:
            target = self.plugged_size(g)
            if target != g.memory - g.balloon_target:
                out[g.guest_id] = target
        return out


def virtio_mem_block(name: str, params: Mapping[str, Any] | None = None) -> int | None:
    """The device block size, in bytes, of policy `name` with `params` when
    it drives virtio-mem (its `device`); None for every other policy. Its
    parameters must be VirtioMemParams (or a subclass)."""
    if POLICIES.implementation_of(name).device != "virtio-mem":
        return None
    built = POLICIES.make_params(name, params)
    if not isinstance(built, VirtioMemParams):
        raise TypeError(f"policy {name!r} drives virtio-mem but its parameters are not VirtioMemParams")
    return built.block_size
