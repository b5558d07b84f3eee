"""The guest's virtio-mem driver (drivers/virtio/virtio_mem.c, Sub Block
Mode): plug and unplug device blocks toward the host's requested size.

The whole zone is the device's memory, in blocks of `block_pages`, all
plugged at boot (the host has not asked for less yet). When the requested
size changes (a config change) the driver works toward it
(`virtio_mem_run_wq`):
- plug (`virtio_mem_sbm_plug_request`): the lowest unplugged blocks first,
  each onlined (memory_hotplug.online: its pages freed to the buddy
  allocator);
- unplug (`virtio_mem_sbm_unplug_request`): the highest plugged blocks
  first, each fake-offlined (memory_hotplug.offline: alloc_contig_range). A
  block that cannot go (-EBUSY: an unmovable page) is passed over for the
  next lower one; a pass that reaches the bottom short of the request, or
  runs out of memory to migrate into (-ENOMEM), ends and the driver retries
  after its retry timer, 50 s doubling to 300 s
  (VIRTIO_MEM_RETRY_TIMER_MIN_MS, _MAX_MS), or at the next config change.
The model's own rule is the rate: each tick the driver may plug or unplug
`budget` pages' worth of blocks (credit carried over while work waits, so a
block larger than one tick's budget still goes); blocks it passes over cost
nothing.
"""

import numpy as np

from . import constants as C
from .memory_hotplug import OFFLINE_NOMEM, OFFLINE_OK, offline, online

RETRY_TIMER_MIN_S = 50  # VIRTIO_MEM_RETRY_TIMER_MIN_MS
RETRY_TIMER_MAX_S = 300  # VIRTIO_MEM_RETRY_TIMER_MAX_MS


class VirtioMem:
    """One guest's virtio-mem device over `zone` (fleet/memory/zone.py) in
    blocks of `block_pages` (a whole number of pageblocks dividing the zone)."""

    def __init__(self, zone, block_pages: int):
        if block_pages <= 0 or block_pages % C.PAGEBLOCK_NR_PAGES or zone.nr_pages % block_pages:
            raise ValueError(f"block of {block_pages} pages: not whole pageblocks dividing the zone")
        self.zone = zone
        self.block_pages = block_pages
        self.plugged = np.ones(zone.nr_pages // block_pages, dtype=bool)
        self.requested = len(self.plugged)  # blocks
        self.owner = zone.register_owner("virtio-mem", C.KIND_KERNEL)
        self.retry_at = 0  # no pass before this time (s)
        self.retry_s = RETRY_TIMER_MIN_S
        self.cursor = len(self.plugged) - 1  # the next block an unplug pass tries
        self.credit = 0  # pages of work the rate allows now

    def request(self, plugged_pages: int) -> None:
        """The host's new requested size, in pages (rounded up to whole
        blocks); a change starts a new pass at once."""
        blocks = min(len(self.plugged), -(-plugged_pages // self.block_pages))
        if blocks != self.requested:
            self.requested = blocks
            self.retry_at = 0
            self.cursor = len(self.plugged) - 1

    def plugged_pages(self) -> int:
        return int(self.plugged.sum()) * self.block_pages

    def requested_pages(self) -> int:
        return self.requested * self.block_pages

    def run(self, t: int, budget: int) -> None:
        """One tick of the driver's work at time `t` with `budget` pages."""
        gap = self.requested - int(self.plugged.sum())
        if gap == 0 or (gap < 0 and t < self.retry_at):
            self.credit = 0
            return
        self.credit += budget
        if gap > 0:
            for b in np.flatnonzero(~self.plugged)[:gap]:
                if self.credit < self.block_pages:
                    break
                online(self.zone, int(b) * self.block_pages, self.block_pages, self.owner)
                self.plugged[b] = True
                self.credit -= self.block_pages
            return
        while gap < 0 and self.credit >= self.block_pages:
            below = np.flatnonzero(self.plugged[: self.cursor + 1])
            if not len(below):  # the pass reached the bottom short of the request: -EBUSY
                self._retry_later(t)
                return
            b = int(below[-1])
            self.cursor = b - 1
            rc = offline(self.zone, b * self.block_pages, self.block_pages, self.owner)
            if rc == OFFLINE_OK:
                self.plugged[b] = False
                self.credit -= self.block_pages
                gap += 1
            elif rc == OFFLINE_NOMEM:
                self._retry_later(t)
                return
        if gap == 0:
            self.retry_s = RETRY_TIMER_MIN_S
            self.cursor = len(self.plugged) - 1

    def _retry_later(self, t: int) -> None:
        """virtio_mem_run_wq on -EBUSY / -ENOMEM: rearm the retry timer,
        doubling it, and start the next pass from the top."""
        self.retry_at = t + self.retry_s
        self.retry_s = min(2 * self.retry_s, RETRY_TIMER_MAX_S)
        self.cursor = len(self.plugged) - 1
        self.credit = 0
