"""Host balloon policies behind one small interface (see base.py).

    from policies import make_policy, check_policy
    policy = make_policy("proxmox", target_percent=75)
    targets = policy.decide(host, guests)   # {guest_id: target guest memory, bytes}

POLICIES registers each policy's parameters class and implementation by name:
"none" (never balloons), "static" (a fixed schedule; the seed series' 1 GiB
ramp by default), "mom" (oVirt MOM's 02-balloon.policy) and "proxmox"
(Proxmox VE's AutoBalloon.pm).
"""

from .base import POLICIES, Policy, PolicyCheckError, check_policy
from .mom import MomParams, MomPolicy
from .none import NoneParams, NonePolicy
from .proxmox import ProxmoxParams, ProxmoxPolicy
from .static import StaticParams, StaticPolicy


def make_policy(name: str, /, **params: object) -> Policy:
    """A new policy of the registered `name` with `params` (fields of its
    parameters class; the rest keep the modelled system's defaults).

    Raises ValueError for an unknown name, an unknown parameter, or a bad value,
    naming the culprit.
    """
    return POLICIES.implementation_of(name)(POLICIES.make_params(name, params))


__all__ = [
    "POLICIES",
    "Policy",
    "PolicyCheckError",
    "check_policy",
    "make_policy",
    "MomParams",
    "MomPolicy",
    "NoneParams",
    "NonePolicy",
    "ProxmoxParams",
    "ProxmoxPolicy",
    "StaticParams",
    "StaticPolicy",
]
