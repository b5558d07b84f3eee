"""Balloon pages and balloon compaction (mm/balloon_compaction.c): the host
notification stream, and the seed's isolate, putback and migrate of balloon
pages. The driver that inflates and deflates is virtio_balloon.py.

The balloon is an owner whose list is `vb_dev_info->pages`; the young end of
the list is the kernel's list head. Every page given to or taken from the host
is appended to the zone's host notification stream, in order.

The switch `balloon_compaction` chooses the world:
- off (before the seed): pages are GFP_HIGHUSER, hence Unmovable; compaction
  never isolates them;
- on (the seed, Linux 3.8): pages are GFP_HIGHUSER_MOVABLE and the migrate
  scanner may isolate them under the seed's rules (balloon_page_isolate).
"""

import numpy as np

from . import constants as C
from .jit import kernel
from .owner import owner_list_add, owner_list_del
from .page_alloc import free_pages
from .stream import encode


@kernel
def stream_push(z, pfn, order, op):
    """Append one notification for the host (tell_host / prdev->report)."""
    n = z.zs[C.ZS_STREAM_LEN]
    z.stream[n] = encode(pfn, order, op)
    z.zs[C.ZS_STREAM_LEN] = n + 1


@kernel
def stream_room(z):
    return C.STREAM_CAPACITY - z.zs[C.ZS_STREAM_LEN]


@kernel
def balloon_pages(z):
    o = z.zs[C.ZS_BALLOON_OWNER]
    return z.own_pages[o] if o > 0 else 0


@kernel
def balloon_page_isolate(z, pfn):
    """The seed's `isolate_balloon_page`: refuse a locked page (it may be a new
    page being migrated into) and a page whose reference count says it is
    already isolated (count 2: here PF_ISOLATED); otherwise take it off the
    balloon list. Only called when balloon compaction is on."""
    flags = z.pflags[pfn]
    if flags & (C.PF_LOCKED | C.PF_ISOLATED):
        return False
    o = z.owner[pfn]
    owner_list_del(z, o, pfn)
    z.own_allocs[o] -= 1
    z.pflags[pfn] = flags | C.PF_ISOLATED
    z.zs[C.ZS_BALLOON_ISOLATED] += 1
    z.vm[C.VM_COMPACT_BALLOON_ISOLATED] += 1
    return True


@kernel
def balloon_page_putback(z, pfn):
    """`putback_balloon_page`: a failed migration returns the page to the head
    of the balloon list."""
    o = z.owner[pfn]
    z.pflags[pfn] &= ~np.uint16(C.PF_ISOLATED)
    owner_list_add(z, o, pfn)
    z.own_allocs[o] += 1
    z.zs[C.ZS_BALLOON_ISOLATED] -= 1
    z.vm[C.VM_COMPACT_BALLOON_RETURNED] += 1


@kernel
def balloon_page_migrate(z, old, new):
    """`virtballoon_migratepage`: the new page joins the balloon list head and
    the host is told inflate(new) and then deflate(old); the old page is
    released to the buddy allocator (balloon_page_free). `new` is a free page
    the free scanner isolated, already stamped with the balloon owner."""
    o = z.owner[old]
    owner_list_add(z, o, new)
    z.own_allocs[o] += 1
    stream_push(z, new, 0, C.STREAM_INFLATE)
    stream_push(z, old, 0, C.STREAM_DEFLATE)
    z.zs[C.ZS_BALLOON_ISOLATED] -= 1
    z.vm[C.VM_BALLOON_MIGRATE] += 1
    z.vm[C.VM_COMPACT_BALLOON_MIGRATED] += 1
    free_pages(z, old)
    z.vm[C.VM_COMPACT_BALLOON_RELEASED] += 1
