"""Free page reporting alone: no balloon target, ever.

virtio-balloon's VIRTIO_BALLOON_F_REPORTING (Alexander Duyck, Linux 5.7,
mm/page_reporting.c): the guest reports its free blocks of order >=
page_reporting_order (9, 2 MiB on x86) and the host discards them (QEMU's
virtio_balloon_handle_report -> ram_block_discard_range); the guest keeps
the pages free and may allocate them again, which faults them back in.
The guest side is fleet/memory/page_reporting.py, run every 2 s; the host
side fleet/host.py. The host policy has nothing to decide: choosing `fpr`
turns the guests' reporting on (the spec's kernel.free_page_reporting is
implied true; an explicit false is refused, fleet/spec/build.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.records import GuestStats, HostState
from fleet.spec.params import Params

from .base import POLICIES, Policy


@POLICIES.parameters("fpr")
@dataclass(frozen=True)
class FprParams(Params):
    """Free page reporting has no host-side parameters."""


@POLICIES.implementation("fpr")
class FprPolicy(Policy):
    """Free page reporting only: the guests report free 2 MiB blocks, the
    host discards them, and no balloon target is ever set."""

    name = "fpr"
    device = "free-page-reporting"
    Params = FprParams

    def __init__(self, params: FprParams | None = None) -> None:
        self.params: FprParams = FprParams() if params is None else params

    def decide(self, host: HostState, guests: list[GuestStats]) -> dict[int, int]:
        return {}
