"""Host balloon policies behind one small interface (see base.py).

    from policies import make_policy, check_policy
    policy = make_policy("proxmox", target_percent=75)
    targets = policy.decide(host, guests)   # {guest_id: target guest memory, bytes}

REGISTRY maps each policy's name to its class: "none" (never balloons),
"static" (a fixed schedule; the seed series' 1 GiB ramp by default), "mom"
(oVirt MOM's 02-balloon.policy) and "proxmox" (Proxmox VE's AutoBalloon.pm).
"""

from .base import Policy, PolicyCheckError, check_policy
from .mom import MomPolicy
from .none import NonePolicy
from .proxmox import ProxmoxPolicy
from .static import StaticPolicy

REGISTRY: dict[str, type[Policy]] = {
    "none": NonePolicy,
    "static": StaticPolicy,
    "mom": MomPolicy,
    "proxmox": ProxmoxPolicy,
}


def make_policy(name: str, /, **params: object) -> Policy:
    """A new policy of the registered `name` with `params` (keyword parameters of
    its class; the rest keep the modelled system's defaults).

    Raises ValueError for an unknown name, an unknown parameter, or a bad value,
    naming the culprit.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(sorted(REGISTRY))} (lower case)")
    cls = REGISTRY[name]
    known = cls.parameters()
    for key in params:
        if key not in known:
            accepted = ", ".join(known) or "none"
            raise ValueError(f"policy {name!r} has no parameter {key!r}; its parameters: {accepted}")
    return cls(**params)


__all__ = [
    "REGISTRY", "Policy", "PolicyCheckError", "check_policy", "make_policy",
    "MomPolicy", "NonePolicy", "ProxmoxPolicy", "StaticPolicy",
]
