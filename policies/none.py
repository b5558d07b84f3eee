"""The null policy: the host never touches a balloon (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params

from .base import POLICIES, Policy


@POLICIES.parameters("none")
@dataclass(frozen=True)
class NoneParams(Params):
    """The null policy has no parameters."""


@POLICIES.implementation("none")
class NonePolicy(Policy):
    """Never changes any guest's target: balloons stay where they are."""

    name = "none"
    Params = NoneParams

    def __init__(self, params: NoneParams | None = None) -> None:
        self.params: NoneParams = NoneParams() if params is None else params

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        return {}
