"""Free page reporting alone (policies/fpr.py): no targets, and the checker
holds a free-page-reporting policy to that; the spec turns the guests'
reporting on for it (fleet/spec/build.py)."""

import pytest

from fleet.spec import SpecError, build_spec
from policies import FprPolicy, Policy, PolicyCheckError, check_policy
from tests.policies.test_policies import GiB, guest, host


def test_fpr_never_sets_a_target():
    policy = FprPolicy()
    assert FprPolicy.device == "free-page-reporting"
    assert policy.decide(host(100 * GiB, free=0), [guest(1, cur=8 * GiB), guest(2, cur=2 * GiB)]) == {}
    check_policy(FprPolicy)


class _Reporter(Policy):
    name = "reporter"
    device = "free-page-reporting"

    def __init__(self):
        pass

    def decide(self, host, guests):
        return {g.guest_id: g.memory for g in guests}


class _Odd(_Reporter):
    device = "memory-hotplug"


def test_check_policy_holds_devices_to_their_contract():
    with pytest.raises(PolicyCheckError, match="a free-page-reporting policy sets no targets"):
        check_policy(_Reporter)
    with pytest.raises(PolicyCheckError, match="device 'memory-hotplug' is not one of balloon, virtio-mem"):
        check_policy(_Odd)


def spec(kernel=None):
    return {
        "kernel": kernel or {},
        "policy": {"name": "fpr"},
        "guests": [{"memory": "1GiB"}],
    }


def test_fpr_implies_free_page_reporting():
    assert build_spec(spec()).kernel.free_page_reporting is True
    assert build_spec(spec({"free_page_reporting": True})).kernel.free_page_reporting is True
    assert build_spec({"guests": [{"memory": "1GiB"}]}).kernel.free_page_reporting is False
    assert build_spec(spec()).flat()["kernel.free_page_reporting"] is True


def test_fpr_refuses_reporting_turned_off_in_one_line():
    with pytest.raises(SpecError, match=r"^kernel.free_page_reporting: policy fpr is free page reporting; leave"):
        build_spec(spec({"free_page_reporting": False}))
