"""The stress-highalloc probe (mmtests STRESS-HIGHALLOC; kernel-facts 9).

The seed series was judged by it: in passes, a kernel module tries to
allocate most of RAM (95%) as high-order blocks, one attempt after another at
a fixed pace, while kernel builds run beside it; the figure of merit is the
share of attempts that succeed in each pass. The module (mmtests'
highalloc test) keeps going after a failed attempt, holds what it got until
the pass has made all its attempts, then frees it all.

Here an attempt is one order-`order` allocation under
__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM | __GFP_NORETRY (one round of
reclaim and compaction, no retry loop), for an owner that allocates like
GFP_HIGHUSER_MOVABLE (Movable pageblocks) but holds its blocks outside the
LRU (kind "kernel", not reclaimable; compaction skips blocks of order > 0).
Attempts are paced at `rate` bytes/s. Pass i starts at `pass_starts_s[i]` or
when pass i-1 has finished, whichever is later; the background load is a
separate workload ticked beside the probe (base.Composite).
"""

from __future__ import annotations

from ..memory import constants as C
from ..spec.workloads import HighallocParams
from .base import Workload, register
from .kernels import attempt_allocs

HIGHALLOC_GFP = C.GFP_DIRECT_RECLAIM | C.GFP_KSWAPD_RECLAIM | C.GFP_NORETRY


@register("highalloc")
class Highalloc(Workload):
    """The probe. metrics(): per pass i (1-based) pass{i}_attempts,
    pass{i}_allocated, pass{i}_success_pct (allocated / attempted * 100, NaN
    before the first attempt), pass{i}_start_s and pass{i}_end_s (NaN until
    then; end at the end of the tick of the last attempt); passes_done and
    holding_pages (blocks held now, in pages)."""

    params: HighallocParams

    def __init__(self, zone, params: HighallocParams, rng):
        super().__init__(zone, params, rng)
        self.o = self.owner("blocks", C.KIND_KERNEL, C.MIGRATE_MOVABLE)
        n = len(params.pass_starts_s)
        block_pages = 1 << params.order
        self.share = int(params.percent / 100.0 * zone.nr_pages) // block_pages  # attempts per pass
        self.attempts = [0] * n
        self.allocated = [0] * n
        self.start = [float("nan")] * n
        self.end = [float("nan")] * n
        self.cur = 0  # the pass running or next to run
        self.running = False
        self.free_at = float("-inf")  # end of the previous pass

    def tick(self, t: float, dt: float) -> None:
        s: HighallocParams = self.params
        te = t + dt
        block_bytes = C.PAGE_SIZE << s.order
        while self.cur < len(s.pass_starts_s):
            i = self.cur
            start = max(s.pass_starts_s[i], self.free_at)
            if start >= te:
                return
            begin = max(start, t)
            if not self.running:
                self.running = True
                self.start[i] = begin
                self._carry["attempts"] = 0.0
            n = min(self.share - self.attempts[i], self.quota("attempts", s.rate * (te - begin) / block_bytes))
            if n > 0:
                ok = int(attempt_allocs(self.zone.a, self.o, s.order, n, HIGHALLOC_GFP, self.zone.rng))
                self.attempts[i] += n
                self.allocated[i] += ok
                self.allocated_pages += ok << s.order
                self.refused_pages += (n - ok) << s.order
            if self.attempts[i] < self.share:
                return
            self.free_all(self.o)  # the pass has made its attempts: give everything back
            self.end[i] = te
            self.running = False
            self.free_at = te
            self.cur += 1
            t = te

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        for i in range(len(self.attempts)):
            a, ok = self.attempts[i], self.allocated[i]
            p = f"pass{i + 1}_"
            out[p + "attempts"] = float(a)
            out[p + "allocated"] = float(ok)
            out[p + "success_pct"] = ok * 100.0 / a if a else float("nan")
            out[p + "start_s"] = self.start[i]
            out[p + "end_s"] = self.end[i]
        out["passes_done"] = float(self.cur)
        out["holding_pages"] = float(self.zone.owner_pages(self.o))
        return out
