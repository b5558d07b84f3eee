"""The null policy: the host never touches a balloon (the baseline)."""

from fleet.records import GuestStats, HostState

from .base import Policy


class NonePolicy(Policy):
    """Never changes any guest's target: balloons stay where they are."""

    name = "none"

    def __init__(self) -> None:
        pass

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        return {}
