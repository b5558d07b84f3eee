"""Meta's Senpai (policies/senpai.py): hand-computed steps of senpai.py's law.

Defaults: the target is 10 ms of stall per 6 s interval, so a guest's PSI
"some" share psi means a stall of psi * 6 s per interval; below the target
the limit tightens by min((0.010 / stall / 10)**2 * 0.01, 0.01), above it
backs off by min((stall / 0.010 / 20)**2 * 1.0, 1.0). Limits are floored to
4 KiB pages. Guests hold all of their 8 GiB and have a 1 GiB floor.
"""

import dataclasses

import pytest

from policies import SenpaiParams, SenpaiPolicy, check_policy, make_policy
from tests.policies.test_policies import GiB, MiB, guest, host

TARGET = 0.010 / 6  # the target share of stall
HOST = host(free=50 * GiB)  # senpai looks at the guests only


def s(gid=1, *, psi=0.0, target=None, cur=8 * GiB, memory=8 * GiB, floor=1 * GiB):
    """A guest with stall share `psi` whose last target is `target` bytes."""
    stats = guest(gid, memory=memory, cur=cur, floor=floor)
    last = memory - (cur if target is None else target)
    return dataclasses.replace(stats, psi_memory_some=psi, balloon_target=last)


def floor_page(x):
    return int(x) // 4096 * 4096


def test_first_sight_sets_nothing_then_tightens_one_percent():
    policy = SenpaiPolicy()
    # first sight: the limit is what the guest holds (8 GiB), no step
    assert policy.decide(HOST, [s()]) == {}
    # no pressure: err = 0.010 / 1e-6 = 10000 -> adj capped at 1 %:
    # 8589934592 - 85899345.92 = 8504035246.08 -> 8504033280 (page-floored)
    assert policy.decide(HOST, [s(target=8 * GiB)]) == {1: 8504033280}
    # and 1 % of that the next round
    assert policy.decide(HOST, [s(target=8504033280)]) == {1: floor_page(8504033280 * 0.99)}


def test_tightening_slows_near_the_target():
    # psi at half the target: stall 5 ms, err = 2, adj = (2/10)**2 * 0.01 = 0.0004
    policy = SenpaiPolicy()
    policy.decide(HOST, [s()])
    assert policy.decide(HOST, [s(psi=TARGET / 2, target=8 * GiB)]) == {1: floor_page(8 * GiB * (1 - 0.0004))}


def test_backs_off_above_the_target():
    policy = SenpaiPolicy()
    policy.decide(HOST, [s(cur=4 * GiB)])
    # psi ten times the target: err = 10, adj = (10/20)**2 = 0.25: 4 GiB -> 5 GiB
    assert policy.decide(HOST, [s(psi=10 * TARGET, cur=4 * GiB)]) == {1: 5 * GiB}
    # forty times: (40/20)**2 = 4, capped at max_backoff 1.0: 5 GiB doubles, capped at memory (8 GiB)
    assert policy.decide(HOST, [s(psi=40 * TARGET, cur=4 * GiB, target=5 * GiB)]) == {1: 8 * GiB}


def test_at_the_target_exactly_it_still_tightens_a_little():
    # senpai backs off only when the stall exceeds the target: err = 1, adj = 1e-4
    policy = SenpaiPolicy()
    policy.decide(HOST, [s()])
    assert policy.decide(HOST, [s(psi=TARGET, target=8 * GiB)]) == {1: floor_page(8 * GiB * (1 - 1e-4))}


def test_the_floor_bounds_the_limit():
    policy = SenpaiPolicy()
    policy.decide(HOST, [s(cur=1 * GiB + 1 * MiB, target=1 * GiB + 1 * MiB)])
    assert policy.decide(HOST, [s(cur=1 * GiB + 1 * MiB, target=1 * GiB + 1 * MiB)]) == {1: 1 * GiB}


def test_a_target_someone_else_set_resets_the_limit_to_what_the_guest_holds():
    policy = SenpaiPolicy()
    policy.decide(HOST, [s()])
    policy.decide(HOST, [s(target=8 * GiB)])  # limit 8504033280
    # the guest's last target is 6 GiB, not ours, and it holds 7 GiB: reset to 7 GiB, no step
    assert policy.decide(HOST, [s(cur=7 * GiB, target=6 * GiB)]) == {1: 7 * GiB}


def test_a_departed_guest_is_forgotten():
    policy = SenpaiPolicy()
    policy.decide(HOST, [s(1), s(2)])
    policy.decide(HOST, [s(2)])
    assert set(policy._limit) == {2}


def test_custom_target_and_params():
    # a 100 ms target per 10 s interval: psi 0.01 is exactly it (err 1)
    policy = make_policy("senpai", interval_s=10, pressure_s=0.1)
    policy.decide(HOST, [s()])
    assert policy.decide(HOST, [s(psi=0.01, target=8 * GiB)]) == {1: floor_page(8 * GiB * (1 - 1e-4))}
    check_policy(SenpaiPolicy)
    check_policy(lambda: make_policy("senpai", max_probe=0.05, coeff_backoff=5))
    with pytest.raises(ValueError, match="'max_probe' must be <= 1"):
        make_policy("senpai", max_probe=2)
    with pytest.raises(ValueError, match="'interval_s' must be > 0"):
        make_policy("senpai", interval_s=0)
    assert SenpaiParams().pressure_s == 0.010 and SenpaiPolicy.device == "balloon"
