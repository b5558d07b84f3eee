"""The plain records that cross layer boundaries: what a host sees of a guest
(the virtio-balloon stats queue plus the balloon's actual and target size) and
of itself. Policies see only these, never guest internals.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class GuestStats:
    """One guest as its host sees it at a policy boundary; sizes in bytes.

    active_fraction is the share of a random sample of the guest's pages
    touched during the last interval (VMware ESX's working-set estimate
    f = t/n, Waldspurger OSDI 2002; fleet/working_set.py says what "touched"
    means in the model; 1.0 before the first sample). A virtio-mem guest
    (a policy whose `device` is "virtio-mem") reports its unplugged memory
    as `balloon` and the unplugged size asked of it as `balloon_target`
    (memory - plugged size, memory - requested size), so memory - balloon
    is what a guest holds with either device.

    mem_total, mem_free, mem_available and caches are the guest's
    VIRTIO_BALLOON_S_MEMTOT, S_MEMFREE, S_AVAIL and S_CACHES; balloon is the
    device's `actual`, balloon_target the last target the host set.
    balloon_min and balloon_max bound what a policy may leave the guest
    (memory = max size minus balloon): the guest keeps at least balloon_min
    bytes and at most balloon_max bytes (oVirt MOM's guaranteed floor and
    maximum; Proxmox's `balloon` minimum and `memory`). shares is the Proxmox
    weight (0 = opted out). psi_memory_some is the share (0..1) of the last
    policy interval in which the guest's tasks were stalled on memory, as
    PSI's `memory some` counts it: direct reclaim, direct compaction and the
    host's swap-in of pages the guest touched (fleet/pressure.py).
    """

    guest_id: int
    host_id: int
    time_s: float
    memory: int  # configured (maximum) guest memory
    balloon: int
    balloon_target: int
    mem_total: int
    mem_free: int
    mem_available: int
    caches: int
    balloon_min: int  # the least memory the guest keeps (memory - balloon >= this)
    active_fraction: float = 1.0  # sampled share of its pages touched in the last interval (ESX's f)
    shares: int = 1000
    psi_memory_some: float = 0.0  # share of the last interval stalled on memory (PSI "some")


@dataclass(frozen=True)
class HostState:
    """The host's own accounting; sizes in bytes. used = populated guest
    memory plus the host's own use; free = capacity - used."""

    host_id: int
    time_s: float
    capacity: int
    used: int

    @property
    def free(self) -> int:
        return self.capacity - self.used
