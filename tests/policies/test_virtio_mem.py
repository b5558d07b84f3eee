"""virtio-mem sized by Hyper-V Dynamic Memory's rule (policies/virtio_mem.py):
demand = mem_total - mem_available, plus a 20 % buffer, rounded up to whole
device blocks, within [balloon_min, memory]; hand-computed targets."""

import dataclasses

import pytest

from fleet.spec import SpecError, build_spec
from policies import VirtioMemPolicy, check_policy, make_policy, virtio_mem_block
from tests.policies.test_policies import GiB, MiB, guest, host

HOST = host(free=50 * GiB)  # the rule looks at the guests only


def vm(gid=1, *, demand, floor=256 * MiB, memory=4 * GiB, target=None):
    """A guest of `memory` holding all of it, `demand` bytes of it committed."""
    stats = guest(gid, memory=memory, floor=floor, free=memory - demand)
    return dataclasses.replace(stats, balloon_target=memory - (memory if target is None else target))


def test_demand_plus_buffer_in_whole_blocks():
    # 1000 MiB of demand + 20 % = 1200 MiB: 600 blocks of 2 MiB exactly
    assert VirtioMemPolicy().decide(HOST, [vm(demand=1000 * MiB)]) == {1: 1200 * MiB}
    # with 64 MiB blocks: 1200 / 64 = 18.75 -> 19 blocks = 1216 MiB
    assert make_policy("virtio-mem", block_size=64 * MiB).decide(HOST, [vm(demand=1000 * MiB)]) == {1: 1216 * MiB}
    # 10 % buffer: 1100 MiB
    assert make_policy("virtio-mem", buffer_percent=10).decide(HOST, [vm(demand=1000 * MiB)]) == {1: 1100 * MiB}


def test_floor_memory_and_unchanged_targets():
    # demand 100 MiB -> 120 MiB is below the 256 MiB floor: the floor
    assert VirtioMemPolicy().decide(HOST, [vm(demand=100 * MiB)]) == {1: 256 * MiB}
    # demand 3.5 GiB -> 4.2 GiB is above its 4 GiB: all of it, which it has been asked already
    assert VirtioMemPolicy().decide(HOST, [vm(demand=3584 * MiB)]) == {}
    # asked for 1200 MiB last round: nothing new
    assert VirtioMemPolicy().decide(HOST, [vm(demand=1000 * MiB, target=1200 * MiB)]) == {}


def test_block_size_param_and_checks():
    check_policy(VirtioMemPolicy)
    check_policy(lambda: make_policy("virtio-mem", block_size=64 * MiB))
    for bad in (1 * MiB, 3 * MiB, 128 * MiB):
        with pytest.raises(ValueError, match="'block_size' must be a power of two within 2MiB..64MiB"):
            make_policy("virtio-mem", block_size=bad)
    assert VirtioMemPolicy.device == "virtio-mem"
    assert virtio_mem_block("virtio-mem") == 2 * MiB
    assert virtio_mem_block("virtio-mem", {"block_size": 8 * MiB}) == 8 * MiB
    assert virtio_mem_block("mom") is None


def test_spec_guests_must_be_whole_blocks():
    raw = {"policy": {"name": "virtio-mem", "params": {"block_size": 64 * MiB}}, "guests": [{"memory": "288MiB"}]}
    with pytest.raises(SpecError, match=r"^guests\[0\].memory: policy virtio-mem plugs 64MiB blocks"):
        build_spec(raw)
    raw["guests"][0]["memory"] = "320MiB"
    assert build_spec(raw).policy.params == {"block_size": 64 * MiB}
