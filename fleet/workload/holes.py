"""`holes`: a guest whose memory is in a chosen state when its balloon
inflates, and the events after it (the ab-map experiment's workload).

It faults `in_use` of RAM as anon memory at `fill_rate`, then frees `holes`
of those pages at once: at random (`pattern = "random"`, as a process's
scattered frees), or every Nth page in allocation order with N = 1/holes
(`"strided"`: MADV_DONTNEED of every Nth page of the mapping,
page_alloc.free_every_nth), the steps `fill`, `punch anon FRACTION` and
`punch anon every N` of fleet/scenario.py. At `leave_s` it exits and frees
all its memory; at `compact_s` it writes 1 to /proc/sys/vm/compact_memory
(Zone.compact_memory, compact_node: sync, whole zone). The balloon is the
host's business (policies/static.py's schedule).

The THP probe: every `probe_every_s` seconds, a burst of PMD faults in
MADV_HUGEPAGE memory under the kernel's defrag mode
(do_huge_pmd_anonymous_page, with its direct compaction) runs on a copy of
the guest's memory and generator, and the copy is dropped: the probe
measures what the burst would get at that moment without changing what the
guest does next. The burst is `probe_fraction` of RAM, but no more than the
memory free above the high watermark, so that its fallbacks say the free
memory lies in pieces that compaction could not join, rather than that
memory is short (a guest with less free than one 2 MiB page above it gets
no probe).

metrics(): the common counters; the flags `punched`, `left`, `compacted`
(1 once the event has happened, else 0), from which the analysis tells the
moments apart (fleet/analysis/grid.py); and of the last probe
`probe_thp_fallback_pct` (faults that fell back to base pages, in percent)
and `probe_compact_stall` (its direct compaction stalls), NaN before the
first probe and when the last one had no room.
"""

from __future__ import annotations

import math

from ..memory import constants as C
from ..memory import huge_memory
from ..memory.state import copy_zone
from ..memory.watermark import WMARK_HIGH
from ..spec.workloads import HolesParams
from .base import Workload, register
from .profiles import THP_PAGES


@register("holes")
class Holes(Workload):
    """Fill, punch, leave, compact; see the module docstring."""

    params: HolesParams

    def __init__(self, zone, params: HolesParams, rng):
        super().__init__(zone, params, rng)
        self.anon = self.owner("anon", C.KIND_ANON)
        self.probe_thp = self.owner("probe_thp", C.KIND_THP)  # used only in the probe's copies
        self.probe_anon = self.owner("probe_fallback", C.KIND_ANON)
        self.probe_pt = self.owner("probe_pagetable", C.KIND_PAGETABLE)
        self.punched = self.left = self.compacted = False
        self.probe_fallback_pct = math.nan
        self.probe_stalls = math.nan

    def tick(self, t: float, dt: float) -> None:
        s: HolesParams = self.params
        te = t + dt
        if not self.punched and not self.left:
            target = self.size_pages(None, s.in_use)
            want = min(target - self.pages("anon"), self.rate_pages("fill", s.fill_rate, dt))
            got = self.alloc(self.anon, 0, want)
            if self.pages("anon") >= target or got < want:  # filled, or memory is full
                self._punch()
        if s.leave_s is not None and not self.left and te > s.leave_s:
            self.free_all(self.anon)
            self.left = True
        if s.compact_s is not None and not self.compacted and te > s.compact_s:
            self.zone.compact_memory()
            self.compacted = True
        if s.probe_every_s and math.floor(te / s.probe_every_s) > math.floor(t / s.probe_every_s):
            self._probe()

    def _punch(self) -> None:
        s: HolesParams = self.params
        if s.holes > 0:
            if s.pattern == "strided":
                self.freed_pages += self.zone.free_owner_every(self.anon, round(1 / s.holes))
            else:
                self.free(self.anon, round(self.pages("anon") * s.holes), "random")
        self.punched = True

    def _probe(self) -> None:
        """THP faults on a copy of the zone and of the generator (see the module docstring)."""
        z = self.zone
        room = z.nr_free - z.watermark(WMARK_HIGH)
        nr = min(self.size_pages(None, self.params.probe_fraction), room) // THP_PAGES
        if nr <= 0:
            self.probe_fallback_pct = self.probe_stalls = math.nan
            return
        a = copy_zone(z.a)
        mode = huge_memory.DEFRAG_MODES.index(z.thp_defrag)
        _huge, fallback, _ = huge_memory.thp_fault(
            a, self.probe_thp, self.probe_anon, self.probe_pt, nr, mode, True, z.rng.copy()
        )
        self.probe_fallback_pct = 100.0 * int(fallback) / nr
        self.probe_stalls = float(a.vm[C.VM_COMPACT_STALL] - z.a.vm[C.VM_COMPACT_STALL])

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        out["punched"] = float(self.punched)
        out["left"] = float(self.left)
        out["compacted"] = float(self.compacted)
        out["probe_thp_fallback_pct"] = self.probe_fallback_pct
        out["probe_compact_stall"] = self.probe_stalls
        return out
