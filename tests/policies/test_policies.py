"""Host balloon policies: the interface checker, hand-computed oVirt MOM and
Proxmox VE decisions, a port of Proxmox's own balloontest.pl, the static ramp
and the registry: its parameters classes and errors.

Sizes are bytes; a "target" is the memory the guest keeps (memory - balloon).
"""

import copy
import dataclasses

import pytest

from fleet.records import GuestStats, HostState
from fleet.spec.params import params_help
from policies import (
    DEVICES,
    POLICIES,
    MomParams,
    MomPolicy,
    Policy,
    PolicyCheckError,
    ProxmoxParams,
    ProxmoxPolicy,
    StaticParams,
    StaticPolicy,
    check_policy,
    make_policy,
)

MiB = 1 << 20
GiB = 1 << 30


def guest(gid=1, *, memory=8 * GiB, cur=None, floor=1 * GiB, free=0, shares=1000, t=0.0):
    """A guest holding `cur` bytes now (default: all of `memory`)."""
    cur = memory if cur is None else cur
    return GuestStats(
        guest_id=gid,
        host_id=0,
        time_s=t,
        memory=memory,
        balloon=memory - cur,
        balloon_target=memory - cur,
        mem_total=cur,
        mem_free=free,
        mem_available=free,
        caches=0,
        balloon_min=floor,
        shares=shares,
    )


def host(capacity=100 * GiB, free=None, used=None, t=0.0):
    used = capacity - free if used is None else used
    return HostState(host_id=0, time_s=t, capacity=capacity, used=used)


# --- the checker ------------------------------------------------------------------


@pytest.mark.parametrize("name", POLICIES.names())
def test_check_policy_passes_for_every_registered_policy(name):
    check_policy(POLICIES.implementation_of(name))  # the class: default params
    check_policy(lambda: make_policy(name))


def test_check_policy_takes_an_instance_and_leaves_it_unused():
    policy = MomPolicy(MomParams(pressure_threshold=0.3))
    before = copy.deepcopy(policy.__dict__)
    check_policy(policy, rounds=20)
    assert repr(policy.__dict__) == repr(before)


class _Bad(Policy):
    name = "bad"
    how = ""
    instances = 0

    def __init__(self):
        type(self).instances += 1
        self.odd = type(self).instances % 2 == 1

    def decide(self, host, guests):
        g = max(guests, key=lambda g: g.memory - g.balloon_min)
        if self.how == "unknown id":
            return {999_999: g.memory}
        if self.how == "float":
            return {g.guest_id: float(g.memory)}
        if self.how == "below floor":
            return {g.guest_id: g.balloon_min - 1}
        if self.how == "above memory":
            return {g.guest_id: g.memory + 1}
        if self.how == "not a dict":
            return [(g.guest_id, g.memory)]
        if self.how == "nondeterministic":  # depends on how many instances exist
            return {x.guest_id: (x.memory if self.odd else x.balloon_min) for x in guests}
        return {}


@pytest.mark.parametrize(
    "how, message",
    [
        ("unknown id", "unknown guest id 999999"),
        ("float", "not an int"),
        ("below floor", "below its floor"),
        ("above memory", "above its memory"),
        ("not a dict", "not a dict"),
        ("nondeterministic", "not deterministic"),
    ],
)
def test_check_policy_catches(how, message):
    bad = type("Bad", (_Bad,), {"how": how})
    with pytest.raises(PolicyCheckError, match=message):
        check_policy(bad)


# --- oVirt MOM (vdsm 02-balloon.policy) ---------------------------------------------
# One call: every StatAvg is the current value.


def test_mom_shrink_under_pressure_is_capped_at_5_percent():
    # host 10 GiB free of 100 GiB: host_free_percent 0.10 < 0.20 -> shrink;
    # guest_free_percent = 0.20 * 0.10 / 0.20 = 0.10
    # guest 8 GiB, 4 GiB free: used 4 GiB; floor' = max(1, 4 + 0.10*8) = 4.8 GiB
    # capped step: 8 GiB * 0.95 = 7.6 GiB = 8160437862.4 -> 8160437862 (> 4.8 GiB)
    out = MomPolicy().decide(host(free=10 * GiB), [guest(free=4 * GiB)])
    assert out == {1: 8160437862}


def test_mom_shrink_stops_at_used_plus_free_margin():
    # as above but only 1 GiB free: used 7 GiB; floor' = 7 + 0.10*8 = 7.8 GiB
    # 7.6 GiB < 7.8 GiB -> size = 7.8 GiB = 8375186227.2 -> 8375186227
    out = MomPolicy().decide(host(free=10 * GiB), [guest(free=1 * GiB)])
    assert out == {1: 8375186227}
    # 0.5 GiB free: floor' = 7.5 + 0.8 = 8.3 GiB > balloon_cur -> no shrink
    assert MomPolicy().decide(host(free=10 * GiB), [guest(free=GiB // 2)]) == {}


def test_mom_grow_without_pressure_by_5_percent():
    # host 50 % free: grow; guest_free_percent = 0.20 * 0.50 / 0.20 = 0.50
    # guest 8 GiB max holding 4 GiB, 3 GiB free: used 1 GiB; floor' = 1 + 0.5*4 = 3 GiB
    # 4 GiB * 1.05 = 4.2 GiB = 4509715660.8 -> 4509715660
    out = MomPolicy().decide(host(free=50 * GiB), [guest(cur=4 * GiB, free=3 * GiB)])
    assert out == {1: 4509715660}


def test_mom_grow_is_clamped_to_balloon_max():
    # holding 7.875 GiB of 8: 7.875 * 1.05 = 8.27 GiB > balloon_max -> 8 GiB
    out = MomPolicy().decide(host(free=50 * GiB), [guest(cur=8 * GiB - 128 * MiB, free=4 * GiB)])
    assert out == {1: 8 * GiB}


def test_mom_grow_follows_the_free_target_when_it_asks_for_more_than_5_percent():
    # The source (not host-policies.md) makes floor' a lower bound of grow too:
    # holding 4 GiB, 0.5 GiB free: used 3.5 GiB; floor' = 3.5 + 0.5*4 = 5.5 GiB > 4.2 GiB
    out = MomPolicy().decide(host(free=50 * GiB), [guest(cur=4 * GiB, free=GiB // 2)])
    assert out == {1: 5 * GiB + GiB // 2}


def test_mom_deadband():
    # grow: holding 8 GiB - 16 MiB; to balloon_max is 16 MiB
    #   <= 0.0025 * 8176 MiB = 20.44 MiB -> no change
    assert MomPolicy().decide(host(free=50 * GiB), [guest(cur=8 * GiB - 16 * MiB, free=4 * GiB)]) == {}
    # shrink: host 10 % free, guest_free_percent 0.10; 0.8 GiB + 10 MiB free:
    #   floor' = (8 - 0.8) GiB - 10 MiB + 0.10 * 8 GiB = 8 GiB - 10 MiB (> 7.6 GiB)
    #   a 10 MiB change <= 20.48 MiB -> no change
    free = int(0.8 * GiB) + 10 * MiB
    assert MomPolicy().decide(host(free=10 * GiB), [guest(free=free)]) == {}
    # with the deadband off the same shrink happens
    out = MomPolicy(MomParams(min_balloon_change_percent=0.0)).decide(host(free=10 * GiB), [guest(free=free)])
    assert 8 * GiB - 11 * MiB < out[1] < 8 * GiB - 9 * MiB


def test_mom_respects_the_floor():
    # critical: 3 % free <= 0.05 -> guest_free_percent = -0.05 + 0.03 = -0.02
    # guest 8 GiB, 7 GiB free: used 1 GiB; 1 - 0.02*8 = 0.84 GiB
    # floor' = max(balloon_min 7900 MiB, 0.84 GiB) = 7900 MiB; 0.95*8192 MiB = 7782.4 MiB
    # < 7900 MiB -> size = 7900 MiB exactly (the floor)
    out = MomPolicy().decide(host(free=3 * GiB), [guest(free=7 * GiB, floor=7900 * MiB)])
    assert out == {1: 7900 * MiB}
    # QoS rule: a guest already below its floor is raised to it, even under pressure
    out = MomPolicy().decide(host(free=3 * GiB), [guest(cur=4 * GiB, floor=5 * GiB, free=2 * GiB)])
    assert out == {1: 5 * GiB}


def test_mom_averages_host_free_memory_over_rounds():
    g = guest(free=GiB // 2)  # used 7.5 GiB
    # alone, 2 GiB free is critical: gfp = -0.05 + 0.02 = -0.03;
    # floor' = 7.5 - 0.03*8 = 7.26 GiB < 7.6 GiB -> the capped 5 % shrink
    assert MomPolicy().decide(host(free=2 * GiB, t=10), [g]) == {1: 8160437862}
    # after a round with 30 GiB free, StatAvg(mem_free) = 16 GiB: 0.16, not critical;
    # gfp = 0.2 * 0.16 / 0.2 = 0.16; floor' = 7.5 + 0.16*8 = 8.78 GiB > 8 GiB -> no shrink
    mom = MomPolicy()
    assert mom.decide(host(free=30 * GiB, t=0), [g]) == {}  # at balloon_max: nothing to grow
    assert mom.decide(host(free=2 * GiB, t=10), [g]) == {}


def test_mom_with_ballooning_disabled_only_grows():
    # vdsm's balloonEnabled off: under pressure the grow rule runs instead
    # 10 % free: gfp 0.10; holding 4 GiB, 3 GiB free: floor' = 1 + 0.4 = 1.4 GiB; 4.2 GiB
    out = MomPolicy(MomParams(balloon_enabled=False)).decide(host(free=10 * GiB), [guest(cur=4 * GiB, free=3 * GiB)])
    assert out == {1: 4509715660}


# --- Proxmox VE (PVE/AutoBalloon.pm) ------------------------------------------------
# capacity 100 GiB, target 80 %: goal = 80 GiB - used.


def px_host(goal):
    return host(used=80 * GiB - goal)


def two_vms(**kw):
    # 4 GiB VMs at their 1 GiB floor with no free memory (under pressure), shares 2:1
    return [guest(1, memory=4 * GiB, cur=GiB, shares=2000, **kw), guest(2, memory=4 * GiB, cur=GiB, shares=1000, **kw)]


def test_proxmox_grow_splits_by_shares():
    # goal +150 MiB; pool above floors 0 + 150 MiB over 3000 shares:
    # VM1 1 GiB + 150*2000/3000 = +100 MiB, VM2 +50 MiB (both within the 100 MiB cap)
    out = ProxmoxPolicy().decide(px_host(150 * MiB), two_vms())
    assert out == {1: GiB + 100 * MiB, 2: GiB + 50 * MiB}


def test_proxmox_caps_each_vm_at_100_mib_per_round():
    # goal +600 MiB: desired +400 / +200 MiB, each capped at +100 MiB
    out = ProxmoxPolicy().decide(px_host(600 * MiB), two_vms())
    assert out == {1: GiB + 100 * MiB, 2: GiB + 100 * MiB}
    # a larger max_change lets the shares through
    out = ProxmoxPolicy(ProxmoxParams(max_change=GiB)).decide(px_host(600 * MiB), two_vms())
    assert out == {1: GiB + 400 * MiB, 2: GiB + 200 * MiB}


def test_proxmox_deadband_of_10_mib():
    vms = [guest(1, memory=4 * GiB, cur=2 * GiB, free=GiB)]
    for goal in (10 * MiB, -10 * MiB, 0):
        assert ProxmoxPolicy().decide(px_host(goal), vms) == {}
    assert ProxmoxPolicy().decide(px_host(10 * MiB + 1), vms) == {1: 2 * GiB + 10 * MiB + 1}
    assert ProxmoxPolicy().decide(px_host(-10 * MiB - 1), vms) == {1: 2 * GiB - 10 * MiB - 1}


def test_proxmox_shrink_takes_from_comfortable_vms_first():
    # goal -200 MiB. VM1 has 1 GiB free > 0.25 * 1 GiB floor: comfortable; VM2 has none.
    # Only VM1 is asked: desired = 1 GiB + (1 GiB - 200 MiB) = 2 GiB - 200 MiB,
    # capped at -100 MiB; 100 MiB are left, but VM1 moved, so VM2 is not asked.
    vms = [guest(1, memory=4 * GiB, cur=2 * GiB, free=GiB), guest(2, memory=4 * GiB, cur=2 * GiB, free=0)]
    assert ProxmoxPolicy().decide(px_host(-200 * MiB), vms) == {1: 2 * GiB - 100 * MiB}
    # nobody comfortable: no progress, so all VMs share the cut:
    # desired = 1 GiB + (2 GiB - 200 MiB) / 2 = 2 GiB - 100 MiB each
    vms = [guest(1, memory=4 * GiB, cur=2 * GiB), guest(2, memory=4 * GiB, cur=2 * GiB)]
    assert ProxmoxPolicy().decide(px_host(-200 * MiB), vms) == {1: 2 * GiB - 100 * MiB, 2: 2 * GiB - 100 * MiB}


def test_proxmox_grow_gives_to_pressured_vms_first():
    # VM1 under pressure (no free memory) gets all of +80 MiB; comfortable VM2 none
    vms = [guest(1, memory=4 * GiB, cur=2 * GiB), guest(2, memory=4 * GiB, cur=2 * GiB, free=GiB)]
    assert ProxmoxPolicy().decide(px_host(80 * MiB), vms) == {1: 2 * GiB + 80 * MiB}
    # the pressured VM has no room (floor = memory): no progress, so all VMs are
    # considered; VM1 is clamped at its max and drops out, VM2 gets the 80 MiB
    vms[0] = guest(1, memory=4 * GiB, cur=4 * GiB, floor=4 * GiB)
    assert ProxmoxPolicy().decide(px_host(80 * MiB), vms) == {2: 2 * GiB + 80 * MiB}


def test_proxmox_leaves_opted_out_and_floorless_vms_alone():
    vms = two_vms() + [guest(3, memory=4 * GiB, cur=GiB, shares=0), guest(4, memory=4 * GiB, cur=GiB, floor=0)]
    out = ProxmoxPolicy().decide(px_host(150 * MiB), vms)
    assert out == {1: GiB + 100 * MiB, 2: GiB + 50 * MiB}


def test_proxmox_raises_a_vm_below_its_floor_to_the_floor():
    # AutoBalloon.pm would step it up 100 MiB (still below the floor); the interface forbids that
    vms = [guest(1, memory=4 * GiB, cur=GiB, floor=2 * GiB)]
    assert ProxmoxPolicy().decide(px_host(GiB), vms) == {1: 2 * GiB}


# Proxmox's own test, pve-manager test/balloontest.pl, ported: abtest runs one
# round with `goal`; absim applies each round's result (freemem grows by the
# change) and lowers the goal until nothing moves. Sizes there are decimal MB.
MB, GB = 1000 * 1000, 1000 * 1000 * 1000


def status(*vms):
    return {
        vmid: dict(maxmem=maxmem, shares=shares, balloon=balloon, balloon_min=bmin, freemem=free)
        for vmid, maxmem, shares, balloon, bmin, free in vms
    }


STATUS1 = status((100, GB * 2, 2000, GB, GB, 0), (101, GB * 2, 1000, GB, GB, 0))
STATUS2 = status((100, GB * 2, 2000, GB * 2, GB * 2, 0), (101, GB * 2, 1000, GB, GB, 0))
STATUS3 = status(
    (100, GB * 2, 2000, GB * 2, GB * 2, 0),
    (101, GB * 2, 1000, GB + 7 * MB, GB, 0),
    (102, GB * 2, 1000, GB, GB, 512 * MB),
)


def ab_round(vmstatus, goal):
    guests = [
        guest(vmid, memory=d["maxmem"], cur=d["balloon"], floor=d["balloon_min"], free=d["freemem"], shares=d["shares"])
        for vmid, d in vmstatus.items()
    ]
    # capacity 10^12: 10^12 * 80 / 100 is exact, so pvestatd's goal is `goal` itself
    return ProxmoxPolicy(ProxmoxParams(max_change=100 * MB)).decide(
        host(capacity=10**12, used=8 * 10**11 - goal), guests
    )


def absim(vmstatus, goal):
    vmstatus = copy.deepcopy(vmstatus)
    total = {}
    while True:
        res = ab_round(vmstatus, goal)
        changes = 0
        for vmid, balloon in res.items():
            d = vmstatus[vmid]
            diff = balloon - d["balloon"]
            d["freemem"] = max(0, d["freemem"] + diff)
            d["balloon"] = total[vmid] = balloon
            changes += diff
        goal -= changes
        if not res:
            return total, vmstatus


@pytest.mark.parametrize(
    "vmstatus, goal, expect",
    [
        (STATUS1, 0, {}),
        (STATUS1, 90 * MB, {100: 1060 * MB, 101: 1030 * MB}),
        (STATUS1, 150 * MB, {100: 1100 * MB, 101: 1050 * MB}),
        (STATUS1, 270 * MB, {100: 1100 * MB, 101: 1090 * MB}),
        (STATUS2, 0, {}),
        (STATUS2, 18 * MB, {101: 1018 * MB}),
        (STATUS2, 500 * MB, {101: 1100 * MB}),
        (STATUS3, 0, {}),
        (STATUS3, 11 * MB, {101: 1018 * MB}),
        (STATUS3, 80 * MB, {101: 1087 * MB}),
        (STATUS3, 200 * MB, {101: 1107 * MB}),
    ],
)
def test_proxmox_balloontest_abtest(vmstatus, goal, expect):
    assert ab_round(vmstatus, goal) == expect


@pytest.mark.parametrize(
    "goal, expect",
    [
        (180 * MB, {100: 1120 * MB, 101: 1060 * MB}),
        (270 * MB, {100: 1180 * MB, 101: 1090 * MB}),
        (600 * MB, {100: 1300 * MB, 101: 1300 * MB}),
        (900 * MB, {100: 1600 * MB, 101: 1300 * MB}),
    ],
)
def test_proxmox_balloontest_absim(goal, expect):
    assert absim(STATUS1, goal)[0] == expect


def test_proxmox_balloontest_absim_grow_then_shrink():
    total, state = absim(STATUS3, 593 * MB)
    assert total == {101: 1300 * MB, 102: 1300 * MB}
    assert absim(state, -200 * MB)[0] == {101: 1200 * MB, 102: 1200 * MB}
    assert absim(state, -400 * MB)[0] == {101: 1200 * MB, 102: GB}
    assert absim(state, -593 * MB)[0] == {101: 1007 * MB, 102: GB}


# --- static schedule ----------------------------------------------------------------


def test_static_ramp_balloon_sizes():
    # the seed series' benchmark: 1 GiB in 256 MiB chunks a minute, then back
    ramp = StaticPolicy.ramp()
    expected = {
        0: 0,
        59.9: 0,
        60: 256,
        119: 256,
        120: 512,
        180: 768,
        240: 1024,
        299: 1024,
        300: 768,
        360: 512,
        420: 256,
        480: 0,
        10_000: 0,
    }
    assert {t: ramp.balloon_at(t) // MiB for t in expected} == expected
    # decide: target = memory - balloon, for guests not already there
    g = guest(memory=4 * GiB, floor=0)
    assert ramp.decide(host(free=GiB, t=130), [g]) == {1: 4 * GiB - 512 * MiB}
    assert ramp.decide(host(free=GiB, t=130), [guest(memory=4 * GiB, cur=3584 * MiB, floor=0)]) == {}
    assert StaticPolicy().schedule == ramp.schedule  # the ramp is the default


def test_static_ramp_parameters_and_clamping():
    ramp = StaticPolicy.ramp(inflate=600 * MiB, chunk=256 * MiB, period_s=10, start_s=0, hold_s=30)
    assert [(t, b // MiB) for t, b in ramp.schedule] == [
        (0, 0),
        (0, 256),
        (10, 512),
        (20, 600),
        (50, 344),
        (60, 88),
        (70, 0),
    ]
    # a balloon larger than the room above the floor stops at the floor
    g = guest(memory=1 * GiB, floor=800 * MiB)
    assert ramp.decide(host(free=GiB, t=25), [g]) == {1: 800 * MiB}


def test_static_schedule_from_lists():
    # a spec gives lists (TOML arrays): they become (float, int) steps
    static = make_policy("static", schedule=[[0, 0], [60, 256 * MiB]])
    assert static.schedule == ((0.0, 0), (60.0, 256 * MiB))
    assert static.balloon_at(59) == 0 and static.balloon_at(60) == 256 * MiB


def test_static_schedule_errors():
    with pytest.raises(ValueError, match="'schedule' must be in order of time"):
        StaticPolicy(StaticParams(schedule=[(60, 1 * MiB), (0, 0)]))
    with pytest.raises(ValueError, match="'schedule' must have balloon sizes >= 0"):
        StaticPolicy(StaticParams(schedule=[(0, -1)]))
    with pytest.raises(ValueError, match="'schedule' must be a whole number"):
        StaticParams(schedule=[(0, 0.5)])
    with pytest.raises(ValueError, match="'schedule' must be a list of 2 values"):
        StaticParams(schedule=[(0,)])
    with pytest.raises(ValueError, match="'chunk' must be > 0"):
        StaticPolicy.ramp(chunk=0)


# --- registry -------------------------------------------------------------------------


def test_registry_names_and_classes():
    assert POLICIES.names() == ["esx", "fpr", "mom", "none", "proxmox", "senpai", "static", "virtio-mem"]
    for name in POLICIES.names():
        cls = POLICIES.implementation_of(name)
        assert issubclass(cls, Policy) and cls.name == name
        assert cls.Params is POLICIES.params_class(name)
        assert cls.device in DEVICES


@pytest.mark.parametrize("name", POLICIES.names())
def test_params_are_frozen_documented_and_build_by_default(name):
    cls = POLICIES.params_class(name)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    params = POLICIES.make_params(name)
    assert params == cls()
    for field in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(params, field.name, getattr(params, field.name))
    for field, _type, default, help in params_help(cls):
        assert help and "\n" not in help, field
        assert getattr(params, field) == default
    policy = POLICIES.implementation_of(name)()  # None: the defaults
    assert policy.params == params and repr(params) in repr(policy)


def test_make_policy():
    assert isinstance(make_policy("none"), POLICIES.implementation_of("none"))
    mom = make_policy("mom", pressure_threshold=0.3)
    assert isinstance(mom, MomPolicy) and mom.params.pressure_threshold == 0.3
    assert mom.params == MomParams(pressure_threshold=0.3)
    assert make_policy("proxmox").params.max_change == 100 * MiB
    assert make_policy("proxmox", target_percent=75).params.target_percent == 75.0


def test_make_policy_errors():
    names = "esx, fpr, mom, none, proxmox, senpai, static, virtio-mem"
    with pytest.raises(ValueError, match=rf"unknown policy 'x'; choose from {names} \(lower case\)"):
        make_policy("x")
    with pytest.raises(ValueError, match=r"unknown policy 'MOM'; .*\(lower case\)"):
        make_policy("MOM")
    with pytest.raises(ValueError, match=r"policy 'mom' has no parameter 'threshold'"):
        make_policy("mom", threshold=0.2)
    with pytest.raises(ValueError, match=r"policy 'mom' has no parameter 'name'"):
        make_policy("mom", name=3)
    with pytest.raises(ValueError, match=r"policy 'none' has no parameter 'x'; its parameters: none"):
        make_policy("none", x=1)
    with pytest.raises(
        ValueError, match=r"policy 'proxmox': parameter 'max_change' must be an integer \(got '100MiB'\)"
    ):
        make_policy("proxmox", max_change="100MiB")


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("mom", dict(pressure_threshold=7), "'pressure_threshold' must be <= 1"),
        ("mom", dict(pressure_threshold=1.5), "'pressure_threshold' must be <= 1"),
        ("mom", dict(pressure_threshold=0), "'pressure_threshold' must be > 0"),
        ("mom", dict(pressure_critical=-0.1), "'pressure_critical' must not be negative"),
        ("mom", dict(min_guest_free_percent=2), "'min_guest_free_percent' must be <= 1"),
        ("mom", dict(max_balloon_change_percent=1.1), "'max_balloon_change_percent' must be <= 1"),
        ("mom", dict(min_balloon_change_percent=-1), "'min_balloon_change_percent' must not be negative"),
        ("mom", dict(sample_history_length=0), "'sample_history_length' must be >= 1"),
        ("mom", dict(sample_history_length=2.5), "'sample_history_length' must be a whole number"),
        ("mom", dict(balloon_enabled=1), "'balloon_enabled' must be true or false"),
        ("proxmox", dict(target_percent=0), "'target_percent' must be > 0"),
        ("proxmox", dict(target_percent=101), "'target_percent' must be <= 100"),
        ("proxmox", dict(max_change=0), "'max_change' must be > 0"),
        ("proxmox", dict(deadband=-1), "'deadband' must not be negative"),
        ("static", dict(schedule=[(60, MiB), (0, 0)]), "'schedule' must be in order of time"),
        ("static", dict(schedule="60:1MiB"), "'schedule' must be a list"),
    ],
)
def test_make_policy_bad_values_name_the_parameter(name, params, message):
    with pytest.raises(ValueError, match=f"^policy '{name}': parameter {message}") as e:
        make_policy(name, **params)
    assert "\n" not in str(e.value)
