"""Host balloon policies behind one small interface (see base.py).

    from policies import make_policy, check_policy
    policy = make_policy("proxmox", target_percent=75)
    targets = policy.decide(host, guests)   # {guest_id: target guest memory, bytes}

POLICIES registers each policy's parameters class and implementation by name:
"none" (never balloons), "static" (a fixed schedule; the seed series' 1 GiB
ramp by default), "mom" (oVirt MOM's 02-balloon.policy), "proxmox"
(Proxmox VE's AutoBalloon.pm), "esx" (VMware ESX's shares with the idle
memory tax), "senpai" (Meta's Senpai/TMO pressure feedback), "fpr" (free
page reporting alone, no targets) and "virtio-mem" (memory blocks plugged
and unplugged, sized by Hyper-V Dynamic Memory's rule).
"""

from .base import DEVICES, POLICIES, Policy, PolicyCheckError, check_policy
from .esx import EsxParams, EsxPolicy
from .fpr import FprParams, FprPolicy
from .mom import MomParams, MomPolicy
from .none import NoneParams, NonePolicy
from .proxmox import ProxmoxParams, ProxmoxPolicy
from .senpai import SenpaiParams, SenpaiPolicy
from .static import StaticParams, StaticPolicy
from .virtio_mem import VirtioMemParams, VirtioMemPolicy, virtio_mem_block


def make_policy(name: str, /, **params: object) -> Policy:
    """A new policy of the registered `name` with `params` (fields of its
    parameters class; the rest keep the modelled system's defaults).

    Raises ValueError for an unknown name, an unknown parameter, or a bad value,
    naming the culprit.
    """
    return POLICIES.implementation_of(name)(POLICIES.make_params(name, params))


__all__ = [
    "DEVICES",
    "POLICIES",
    "Policy",
    "PolicyCheckError",
    "check_policy",
    "make_policy",
    "EsxParams",
    "EsxPolicy",
    "FprParams",
    "FprPolicy",
    "MomParams",
    "MomPolicy",
    "NoneParams",
    "NonePolicy",
    "ProxmoxParams",
    "ProxmoxPolicy",
    "SenpaiParams",
    "SenpaiPolicy",
    "StaticParams",
    "StaticPolicy",
    "VirtioMemParams",
    "VirtioMemPolicy",
    "virtio_mem_block",
]
