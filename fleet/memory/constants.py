"""Constants of the guest memory model: orders, pageblocks, migratetypes,
page flags, owner kinds and the indices of the zone's counter arrays.

Values are x86-64 with 4 KiB pages (include/linux/mmzone.h,
include/linux/pageblock-flags.h). The migratetype numbering is the >=4.4 enum
(UNMOVABLE, MOVABLE, RECLAIMABLE) in both eras; the 3.8 column order is applied
only when the /proc texts are printed (see stats.py).
"""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# Orders 0..10 in every kernel version (MAX_ORDER 11 exclusive up to 6.3,
# MAX_PAGE_ORDER 10 inclusive from 6.8).
MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1
PAGE_ALLOC_COSTLY_ORDER = 3

PAGEBLOCK_ORDER = 9
PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER
HPAGE_PMD_ORDER = 9

# Migratetypes actually modelled (6.x enum order).
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
NR_MIGRATETYPES = 3
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable")

# Kernel eras the model can follow where the two differ.
ERA_3_8 = 0
ERA_6_X = 1
ERAS = {"3.8": ERA_3_8, "6.x": ERA_6_X}

# Fallback order per requested migratetype (6.5 `fallbacks[]`); the 3.8 table
# differs only by MIGRATE_RESERVE at the end, which is not modelled.
FALLBACKS_6X = (
    (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),  # UNMOVABLE
    (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),  # MOVABLE
    (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),  # RECLAIMABLE
)

# Per-page flags (uint16): bits 0..3 hold the order of the block the page is in
# (free buddy head, or every page of an allocation); the rest are PG_* analogues.
PF_ORDER_MASK = 0x000F
PF_BUDDY = 0x0010  # PageBuddy: head of a free block on a free list
PF_HEAD = 0x0020  # first page of an allocation (PageHead / order-0 page)
PF_ISOLATED = 0x0040  # taken off its owner list for migration (PageIsolated)
PF_LOCKED = 0x0080  # PageLocked: a locked page is skipped by balloon isolation
PF_REPORTED = 0x0100  # PageReported (free page reporting)
# A free block's head also records which migratetype's list it is on (bits 9-10):
# that list can differ from its pageblock's type after a fallback.
PF_LIST_MT_SHIFT = 9
PF_LIST_MT_MASK = 0x0600

# Owner kinds: what an allocation is. The migratetype each kind allocates with
# follows gfp_migratetype(): __GFP_MOVABLE -> MOVABLE, __GFP_RECLAIMABLE ->
# RECLAIMABLE, anything else -> UNMOVABLE. The balloon's migratetype depends on
# the balloon-compaction switch and is chosen when its owner is registered.
KIND_ANON = 0  # GFP_HIGHUSER_MOVABLE anonymous memory
KIND_FILE = 1  # page cache, GFP_HIGHUSER_MOVABLE
KIND_SLAB = 2  # unreclaimable slab, GFP_KERNEL
KIND_SLAB_RECLAIMABLE = 3  # SLAB_RECLAIM_ACCOUNT caches (dentry, inode)
KIND_KERNEL = 4  # other kernel allocations, GFP_KERNEL
KIND_PAGETABLE = 5  # page tables, GFP_PGTABLE_USER (unmovable)
KIND_BALLOON = 6  # virtio balloon page
KIND_THP = 7  # anonymous transparent huge page (compound, order 9)
NR_KINDS = 8
KIND_NAMES = ("anon", "file", "slab", "slab_reclaimable", "kernel", "pagetable", "balloon", "thp")
KIND_BY_NAME = {name: i for i, name in enumerate(KIND_NAMES)}
KIND_MIGRATETYPE = (
    MIGRATE_MOVABLE,
    MIGRATE_MOVABLE,
    MIGRATE_UNMOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    MIGRATE_UNMOVABLE,
    MIGRATE_UNMOVABLE,  # GFP_HIGHUSER before the seed; see register_owner()
    MIGRATE_MOVABLE,
)

# Owners: 0 means "no owner" (the page is free); owners 1..MAX_OWNERS-1 are
# registered by the layers above (one per process, cache or driver).
OWNER_NONE = 0
MAX_OWNERS = 64

# Zone scalars (int64 array `zs`).
ZS_NR_PAGES = 0  # spanned = present pages
ZS_MANAGED = 1  # managed pages (the balloon may lower it)
ZS_WMARK_MIN = 2
ZS_WMARK_LOW = 3
ZS_WMARK_HIGH = 4
ZS_WMARK_PROMO = 5
ZS_WATERMARK_BOOST = 6
ZS_NR_FREE = 7  # NR_FREE_PAGES
ZS_ERA = 8
ZS_MOBILITY_DISABLED = 9  # page_group_by_mobility_disabled
ZS_MIN_FREE_KBYTES = 10
NR_ZS = 11

# Event counters (int64 array `vm`), printed in /proc/vmstat by stats.py.
VM_PGALLOC = 0  # pgalloc_normal: pages allocated
VM_PGFREE = 1  # pgfree: pages freed
VM_ALLOC_FAIL = 2  # allocations refused (watermark or no block)
VM_EXTFRAG = 3  # mm_page_alloc_extfrag events: fallback to another type
VM_EXTFRAG_CLAIM = 4  # ... of which the pageblock changed owner
VM_PAGEBLOCK_STEAL = 5  # pageblocks whose migratetype a fallback changed
NR_VM = 6
