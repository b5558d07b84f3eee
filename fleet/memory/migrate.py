"""Page migration (mm/migrate.c): move an isolated order-0 page to a free page
the compaction free scanner isolated, and let its owner follow.

LRU pages (anon, page cache) always migrate in the model: pins, writeback and
dirty pages without a migrate_folio op are not modelled. The new page joins
the young end of its owner's list (putback_lru_page). Balloon pages take the
seed's path (balloon.balloon_page_migrate), which also tells the host.
"""

import numpy as np

from . import constants as C
from .balloon import balloon_page_migrate, balloon_page_putback
from .jit import hot_kernel, kernel
from .owner import owner_list_add, owner_list_del
from .page_alloc import free_pages


@kernel
def isolate_lru_page(z, pfn):
    """`isolate_lru_page`: take an order-0 LRU page off its owner's list."""
    o = z.owner[pfn]
    owner_list_del(z, o, pfn)
    z.own_allocs[o] -= 1
    z.pflags[pfn] |= np.uint16(C.PF_ISOLATED)
    z.zs[C.ZS_ISOLATED_LRU] += 1


@kernel
def putback_movable_page(z, pfn):
    """`putback_movable_pages` for one page: back on its owner's list."""
    if z.owner[pfn] == z.zs[C.ZS_BALLOON_OWNER]:
        balloon_page_putback(z, pfn)
        return
    o = z.owner[pfn]
    z.pflags[pfn] &= ~np.uint16(C.PF_ISOLATED)
    owner_list_add(z, o, pfn)
    z.own_allocs[o] += 1
    z.zs[C.ZS_ISOLATED_LRU] -= 1


@hot_kernel
def migrate_page(z, old, new):
    """`unmap_and_move` of one isolated order-0 page `old` to the isolated free
    page `new`: the new page takes the owner, the old page is freed."""
    o = z.owner[old]
    z.pflags[new] = np.uint16(C.PF_HEAD)
    z.owner[new] = o
    z.pb_dirty[new >> C.PAGEBLOCK_ORDER] = 1
    z.own_pages[o] += 1
    z.vm[C.VM_PGMIGRATE_SUCCESS] += 1
    if o == z.zs[C.ZS_BALLOON_OWNER]:
        balloon_page_migrate(z, old, new)
        return
    owner_list_add(z, o, new)
    z.own_allocs[o] += 1
    z.zs[C.ZS_ISOLATED_LRU] -= 1
    free_pages(z, old)
