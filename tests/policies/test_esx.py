"""VMware ESX Server's policy (policies/esx.py): hand-computed decisions of
min-funding revocation with the idle memory tax (Waldspurger, OSDI 2002).

With the default tax of 75 % an idle page costs k = 1/(1 - 0.75) = 4 times an
active one: a guest of shares S whose estimated active fraction is f has
weight w = S / (f + 4(1 - f)) and its shares-per-page ratio is rho = w / P.
A guest's first sample is its estimate (both moving averages start there).
Sizes in GiB unless said; targets are floored to 4 KiB pages.
"""

import dataclasses

import pytest

from policies import EsxParams, EsxPolicy, check_policy, make_policy
from policies.esx import level_fill
from tests.policies.test_policies import GiB, guest, host

PAGE = 4096


def g(gid, *, f, memory=16, cur=None, floor=1, shares=1000, target=None):
    """A guest holding `cur` GiB with sampled activity `f`; its last target is
    `target` GiB (default: what it holds)."""
    cur = memory if cur is None else cur
    stats = guest(gid, memory=memory * GiB, cur=int(cur * GiB), floor=int(floor * GiB), shares=shares)
    last = stats.memory - int((cur if target is None else target) * GiB)
    return dataclasses.replace(stats, active_fraction=f, balloon_target=last)


def pages(x):
    return int(x) // PAGE * PAGE


def test_reclaim_takes_from_the_idle_guest_first():
    # host 100 GiB with 2 GiB free (2 % < soft 4 %): reclaim 6 - 2 = 4 GiB.
    # A active (f=1): w = 1000/1 = 1000, rho = 1000/16 = 62.5;
    # B idle (f=0):   w = 1000/4 = 250,  rho = 250/16 = 15.6: the lowest.
    # All 4 GiB from B: rho_B = 250/12 = 20.8, still below A's 62.5.
    out = EsxPolicy().decide(host(100 * GiB, free=2 * GiB), [g(1, f=1.0), g(2, f=0.0)])
    assert out == {2: 12 * GiB}


def test_reclaim_until_the_ratios_meet():
    # host 300 GiB, 4 GiB free (1.3 %): reclaim 18 - 4 = 14 GiB from 32.
    # B alone would go to 2 GiB; the ratios meet first at P = L * w with
    # 1000 L + 250 L = 18 GiB: L = 0.0144, A = 14.4 GiB, B = 3.6 GiB
    # (rho_A = 1000/14.4 = rho_B = 250/3.6 = 69.4).
    out = EsxPolicy().decide(host(300 * GiB, free=4 * GiB), [g(1, f=1.0), g(2, f=0.0)])
    assert out == {1: pages(14.4 * GiB), 2: pages(3.6 * GiB)}


def test_without_tax_shares_alone_decide():
    # tax 0: k = 1, rho = S / P whatever the activity. 6 GiB to reclaim
    # (100 GiB host, nothing free) from A (2000 shares) and B (1000), 12 GiB
    # each: rho_A = 166.7, rho_B = 83.3; B gives 6 GiB and meets A at 166.7.
    out = EsxPolicy(EsxParams(idle_tax=0.0)).decide(
        host(100 * GiB, free=0), [g(1, f=0.0, memory=12, shares=2000), g(2, f=1.0, memory=12, shares=1000)]
    )
    assert out == {2: 6 * GiB}


def test_a_floor_stops_the_idle_guest_and_the_rest_comes_from_the_other():
    # 4 GiB to reclaim; idle B may give only 16 - 14 = 2 GiB (its floor);
    # the level for A then solves A + 14 = 28: A = 14 GiB.
    out = EsxPolicy().decide(host(100 * GiB, free=2 * GiB), [g(1, f=1.0), g(2, f=0.0, floor=14)])
    assert out == {1: 14 * GiB, 2: 14 * GiB}


def test_more_than_can_be_reclaimed_leaves_everyone_at_the_floor():
    # 6 GiB to reclaim (nothing free) from two guests that can give 1 + 2 GiB.
    out = EsxPolicy().decide(host(100 * GiB, free=0), [g(1, f=1.0, memory=4, floor=3), g(2, f=0.0, memory=4, floor=2)])
    assert out == {1: 3 * GiB, 2: 2 * GiB}


def test_grow_gives_the_surplus_to_the_highest_ratio():
    # host 100 GiB, 10 GiB free (high state): 10 - 6 = 4 GiB to hand back.
    # Both hold 8 of 16 GiB: rho_A = 1000/8 = 125 (active), rho_B = 250/8 =
    # 31.3. A takes all 4 GiB: at 12 GiB rho_A = 83.3, still above B's.
    out = EsxPolicy().decide(host(100 * GiB, free=10 * GiB), [g(1, f=1.0, cur=8), g(2, f=0.0, cur=8)])
    assert out == {1: 12 * GiB}


def test_soft_and_high_thresholds_make_a_deadband():
    policy = EsxPolicy()
    guests = [g(1, f=0.5), g(2, f=0.5)]
    # 5 % free, coming from the high state: no reclaim (soft is 4 %), nothing to grow
    assert policy.decide(host(100 * GiB, free=5 * GiB), guests) == {}
    # 3 % free: reclaiming, 3 GiB split evenly (same weights)
    assert policy.decide(host(100 * GiB, free=3 * GiB), guests) == {1: pages(14.5 * GiB), 2: pages(14.5 * GiB)}
    # back at 5 %: still reclaiming until free exceeds high (6 %): 1 GiB more
    assert policy.decide(host(100 * GiB, free=5 * GiB), guests) == {1: pages(15.5 * GiB), 2: pages(15.5 * GiB)}
    # 7 %: high state again; nobody is ballooned (they hold all of it): nothing
    assert policy.decide(host(100 * GiB, free=7 * GiB), guests) == {}


def test_only_changed_targets_are_sent():
    # the reclaim of the first test, with B already asked for 12 GiB
    out = EsxPolicy().decide(host(100 * GiB, free=2 * GiB), [g(1, f=1.0), g(2, f=0.0, cur=16, target=12)])
    assert out == {}


def test_moving_averages_and_their_maximum():
    # samples 0.2, 0.8, 0.2; slow gain 0.1, fast 0.5:
    # slow 0.2, 0.26, 0.254; fast 0.2, 0.5, 0.35; estimate max(slow, fast, sample)
    policy = EsxPolicy()
    estimates = [policy.active(g(1, f=f)) for f in (0.2, 0.8, 0.2)]
    assert estimates == pytest.approx([0.2, 0.8, 0.35])
    assert policy._slow[1] == pytest.approx(0.254)


def test_opted_out_and_floored_guests():
    # shares 0: left alone though idle; a guest below its floor gets the floor
    out = EsxPolicy().decide(
        host(100 * GiB, free=2 * GiB), [g(1, f=0.0, shares=0), g(2, f=1.0), g(3, f=1.0, cur=0.5, floor=1)]
    )
    assert out == {2: 12 * GiB, 3: 1 * GiB}


def test_level_fill_meets_the_total():
    x = level_fill([1.0, 2.0, 3.0], [0.0, 5.0, 0.0], [10.0, 10.0, 2.0], 14.0)
    # 3 capped at 2, 2 at least 5: L * 1 + L * 2 = 12 with L = 4: 4, 8, 2
    assert x == pytest.approx([4.0, 8.0, 2.0])
    assert level_fill([1.0], [1.0], [2.0], 0.0) == [1.0]
    assert level_fill([1.0], [1.0], [2.0], 9.0) == [2.0]


def test_check_policy_and_params():
    check_policy(EsxPolicy)
    check_policy(lambda: make_policy("esx", idle_tax=0.0, soft=0.06))
    with pytest.raises(ValueError, match="'soft' must be <= high=0.06"):
        make_policy("esx", soft=0.1)
    with pytest.raises(ValueError, match="'idle_tax' must be <= 0.99"):
        make_policy("esx", idle_tax=1)
    with pytest.raises(ValueError, match="'fast_gain' must be > 0"):
        make_policy("esx", fast_gain=0)
    assert EsxParams().idle_tax == 0.75 and EsxPolicy.device == "balloon"
