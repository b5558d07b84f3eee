"""What a guest gives its host's new policies: the working-set sample ESX
smooths (fleet/working_set.py) and the virtio-mem device a virtio-mem policy
drives (fleet/guest.py over fleet/memory/virtio_mem.py)."""

import numpy as np

from fleet.guest import Guest
from fleet.memory import constants as C
from fleet.spec import build_spec
from fleet.working_set import SAMPLE_PAGES, WorkingSetSampler, holders

MiB = 1 << 20


def test_holders_tell_free_pages_owners_and_allocations_apart():
    # pfns 0-1 a free order-1 block; 2-3 an order-1 allocation of owner 3; 4-7 an order-2 one of owner 5
    owner = np.array([0, 0, 3, 3, 5, 5, 5, 5], dtype=np.uint8)
    pflags = np.array([C.PF_BUDDY | 1, 0, C.PF_HEAD | 1, 1, C.PF_HEAD | 2, 2, 2, 2], dtype=np.uint16)
    got = holders(owner, pflags, np.arange(8, dtype=np.int64))
    assert list(got) == [-1, -1, 2 << 8 | 3, 2 << 8 | 3] + [4 << 8 | 5] * 4


def test_the_sample_is_the_share_of_sampled_pages_whose_holder_changed():
    n = 1 << 16
    owner = np.full(n, 1, dtype=np.uint8)
    pflags = np.full(n, C.PF_HEAD, dtype=np.uint16)
    s = WorkingSetSampler(n, 7, 0, 3)
    assert s.sample(owner, pflags, ()) == 1.0  # no period has ended yet
    pfns = s.pfns.copy()
    owner[pfns[:30]] = 0  # freed
    owner[pfns[30:40]] = 2  # balloon at the end: left out
    expected = len(set(pfns[:30]) - set(pfns[30:40])) / np.isin(pfns, pfns[30:40], invert=True).sum()
    assert s.sample(owner, pflags, (2,)) == expected
    # nothing changes in the next period: f = 0; then every sampled page balloon-held: 1.0
    assert s.sample(owner, pflags, (2,)) == 0.0
    owner[:] = 2
    assert s.sample(owner, pflags, (2,)) == 1.0


def test_samples_are_deterministic_per_guest():
    a, b, c = (WorkingSetSampler(1 << 20, 1, 0, g) for g in (0, 0, 1))
    owner = np.zeros(1 << 20, dtype=np.uint8)
    pflags = np.zeros(1 << 20, dtype=np.uint16)
    for s in (a, b, c):
        s.sample(owner, pflags, ())
    assert (a.pfns == b.pfns).all() and not (a.pfns == c.pfns).all() and len(a.pfns) == SAMPLE_PAGES


def small_spec(policy):
    return build_spec(
        {
            "kernel": {"proactiveness": 0},
            "policy": policy,
            "guests": [
                {
                    "memory": "256MiB",
                    "balloon_min": "64MiB",
                    "workload": "steady",
                    "workload_params": {"footprint_fraction": 0.1, "slab_share": 0.0},
                }
            ],
        }
    )


def test_a_guest_reports_its_working_set_sample():
    guest = Guest(small_spec({"name": "esx"}), 0, 0, small_spec({"name": "esx"}).guests[0])
    assert guest.stats().active_fraction == 1.0
    first, _ = guest.advance(10, None)
    second, _ = guest.advance(20, None)
    assert first.active_fraction == 1.0 and 0.0 <= second.active_fraction < 1.0
    twin = Guest(small_spec({"name": "esx"}), 0, 0, small_spec({"name": "esx"}).guests[0])
    twin.advance(10, None)
    assert twin.advance(20, None)[0] == second


def test_a_virtio_mem_guest_unplugs_toward_its_target_and_reports_it():
    spec = small_spec({"name": "virtio-mem", "params": {"block_size": 4 * MiB}})
    guest = Guest(spec, 0, 0, spec.guests[0])
    assert guest.vmem is not None and guest.vmem.block_pages == 1024
    guest.advance(10, None)
    populated = guest.report().resident * 4096
    stats, rows = guest.advance(20, 130 * MiB)  # rounded up to 132 MiB: 33 blocks
    assert stats.balloon == stats.balloon_target == 256 * MiB - 132 * MiB
    assert stats.mem_total == 132 * MiB and rows[-1]["managed_pages"] == 132 * MiB // 4096
    assert rows[-1]["balloon_target_pages"] == (256 - 132) * MiB // 4096 and rows[-1]["balloon_pages"] == 0
    assert guest.report().resident * 4096 <= min(populated, 132 * MiB)
    guest.zone.check()
    stats, _ = guest.advance(30, 256 * MiB)
    assert stats.balloon == 0 and stats.mem_total == 256 * MiB
    guest.zone.check()


def test_a_balloon_policy_guest_has_no_virtio_mem():
    spec = small_spec({"name": "mom"})
    assert Guest(spec, 0, 0, spec.guests[0]).vmem is None
