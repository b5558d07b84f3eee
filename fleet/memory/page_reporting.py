"""Free page reporting (mm/page_reporting.c, virtio-balloon REPORTING, 5.7+).

A pass walks the free lists of order >= page_reporting_order (9) and reports
blocks not yet marked PageReported, in batches of PAGE_REPORTING_CAPACITY (32),
each batch appended to the host stream; the pages stay free in the guest and
keep the mark until they are allocated or merged. The zone is skipped unless it
is above low + 32 << order (as page_reporting_process_zone does). The caller
runs a pass PAGE_REPORTING_DELAY (2 s) after frees of such blocks; the per-list
budget of the kernel is not modelled (every unreported block is reported).
"""

import numpy as np

from . import constants as C
from .balloon import stream_push, stream_room
from .jit import kernel
from .watermark import zone_watermark_ok

PAGE_REPORTING_ORDER = 9
PAGE_REPORTING_CAPACITY = 32
PAGE_REPORTING_DELAY = 2


@kernel
def report_free_pages(z):
    """One reporting pass; returns the number of blocks reported."""
    mark = z.zs[C.ZS_WMARK_LOW] + (PAGE_REPORTING_CAPACITY << PAGE_REPORTING_ORDER)
    if not zone_watermark_ok(z, 0, mark):
        return 0
    reported = 0
    for order in range(PAGE_REPORTING_ORDER, C.NR_PAGE_ORDERS):
        for mt in range(C.NR_MIGRATETYPES):
            pfn = z.fl_head[order, mt]
            batch = 0
            while pfn >= 0 and stream_room(z) > 0:
                if not z.pflags[pfn] & C.PF_REPORTED:
                    z.pflags[pfn] |= np.uint16(C.PF_REPORTED)
                    stream_push(z, pfn, order, C.STREAM_REPORT)
                    reported += 1
                    batch += 1
                    if batch == PAGE_REPORTING_CAPACITY:
                        z.vm[C.VM_FREE_PAGE_REPORTS] += 1
                        batch = 0
                pfn = z.lru_next[pfn]
            if batch:
                z.vm[C.VM_FREE_PAGE_REPORTS] += 1
    return reported
