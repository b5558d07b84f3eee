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
# that list can differ from its pageblock's type after a fallback. A page on a
# per-cpu list keeps there the type it returns to the buddy lists with
# (get_pcppage_migratetype).
PF_LIST_MT_SHIFT = 9
PF_LIST_MT_MASK = 0x0600
PF_PCP = 0x0800  # head of a free block on a per-cpu list (not PageBuddy)

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

# Zone scalars (int64 array `zs`): sizes, watermarks, switches and the
# per-zone state of compaction, kswapd and the balloon device.
ZS_NAMES = (
    "nr_pages",  # spanned = present pages
    "managed",  # managed pages (the balloon may lower them)
    "wmark_min",
    "wmark_low",
    "wmark_high",
    "wmark_promo",
    "watermark_boost",
    "nr_free",  # NR_FREE_PAGES
    "era",
    "mobility_disabled",  # page_group_by_mobility_disabled
    "min_free_kbytes",
    "balloon_compaction",  # 1: balloon pages are movable (the seed, 3.8+)
    "balloon_owner",  # owner id of the balloon's page list, 0 if none
    "balloon_isolated",  # balloon pages isolated for migration
    "deflate_on_oom",  # VIRTIO_BALLOON_F_DEFLATE_ON_OOM: managed pages kept
    "stream_len",  # entries in the host notification stream
    "compact_considered",
    "compact_defer_shift",
    "compact_order_failed",
    "compact_cached_migrate_pfn",
    "compact_cached_free_pfn",
    "compact_init_free_pfn",  # where a free scan starts after the last skip-bit flush
    "compact_blockskip_flush",
    "extfrag_threshold",
    "kswapd_wake",  # kswapd has been woken (and for which order + 1)
    "kcompactd_wake",  # kswapd asked kcompactd for this order + 1 (6.x)
    "balloon_isolation",  # BALLOON_ISOLATION_* rule of the migrate scanner
    "swap",  # 1: anonymous memory may be swapped out
    "isolated_lru",  # LRU pages isolated for migration
    "pcp_count",  # pages on the per-cpu lists (pcp->count)
    "pcp_high",  # pcp->high; 0: no per-cpu lists
    "pcp_batch",  # pcp->batch
    "pcp_free_factor",  # pcp->free_factor (6.x)
    "reclaim_active",  # ZONE_RECLAIM_ACTIVE: kswapd is balancing (6.x)
    "proactive_wait_ms",  # milliseconds before kcompactd's next proactive check (6.x)
    "lower_zone_balanced",  # 1: a guest zone below this one (DMA) meets high + lowmem_reserve (6.x)
)
ZS = {name: i for i, name in enumerate(ZS_NAMES)}
NR_ZS = len(ZS_NAMES)
ZS_NR_PAGES = ZS["nr_pages"]
ZS_MANAGED = ZS["managed"]
ZS_WMARK_MIN = ZS["wmark_min"]
ZS_WMARK_LOW = ZS["wmark_low"]
ZS_WMARK_HIGH = ZS["wmark_high"]
ZS_WMARK_PROMO = ZS["wmark_promo"]
ZS_WATERMARK_BOOST = ZS["watermark_boost"]
ZS_NR_FREE = ZS["nr_free"]
ZS_ERA = ZS["era"]
ZS_MOBILITY_DISABLED = ZS["mobility_disabled"]
ZS_MIN_FREE_KBYTES = ZS["min_free_kbytes"]
ZS_BALLOON_COMPACTION = ZS["balloon_compaction"]
ZS_BALLOON_OWNER = ZS["balloon_owner"]
ZS_BALLOON_ISOLATED = ZS["balloon_isolated"]
ZS_DEFLATE_ON_OOM = ZS["deflate_on_oom"]
ZS_STREAM_LEN = ZS["stream_len"]
ZS_COMPACT_CONSIDERED = ZS["compact_considered"]
ZS_COMPACT_DEFER_SHIFT = ZS["compact_defer_shift"]
ZS_COMPACT_ORDER_FAILED = ZS["compact_order_failed"]
ZS_CACHED_MIGRATE_PFN = ZS["compact_cached_migrate_pfn"]
ZS_CACHED_FREE_PFN = ZS["compact_cached_free_pfn"]
ZS_COMPACT_INIT_FREE_PFN = ZS["compact_init_free_pfn"]
ZS_BLOCKSKIP_FLUSH = ZS["compact_blockskip_flush"]
ZS_LOWER_ZONE_BALANCED = ZS["lower_zone_balanced"]
ZS_EXTFRAG_THRESHOLD = ZS["extfrag_threshold"]
ZS_KSWAPD_WAKE = ZS["kswapd_wake"]
ZS_KCOMPACTD_WAKE = ZS["kcompactd_wake"]
ZS_PROACTIVE_WAIT_MS = ZS["proactive_wait_ms"]
ZS_BALLOON_ISOLATION = ZS["balloon_isolation"]

# How the migrate scanner may isolate balloon pages (with balloon compaction on).
BALLOON_ISOLATION_SEED = 0
BALLOON_ISOLATION_MERGED_38 = 1
BALLOON_ISOLATION = {"seed": BALLOON_ISOLATION_SEED, "merged-3.8": BALLOON_ISOLATION_MERGED_38}
BALLOON_ISOLATION_DEFAULT = {"3.8": "merged-3.8", "6.x": "seed"}

ZS_SWAP = ZS["swap"]
ZS_ISOLATED_LRU = ZS["isolated_lru"]
ZS_PCP_COUNT = ZS["pcp_count"]
ZS_PCP_HIGH = ZS["pcp_high"]
ZS_PCP_BATCH = ZS["pcp_batch"]
ZS_PCP_FREE_FACTOR = ZS["pcp_free_factor"]
ZS_RECLAIM_ACTIVE = ZS["reclaim_active"]

# Per-cpu page lists (include/linux/mmzone.h, 6.1 with THP): one list per
# migratetype for each order up to PAGE_ALLOC_COSTLY_ORDER, then two
# pageblock-order lists (unmovable/reclaimable, movable). 3.8 uses the first
# MIGRATE_PCPTYPES lists only (order 0).
NR_LOWORDER_PCP_LISTS = NR_MIGRATETYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + 2
PCP_BATCH_SCALE_MAX = 5  # CONFIG_PCP_BATCH_SCALE_MAX default (6.1.192)

# Event counters (int64 array `vm`), named as /proc/vmstat names them. The
# extfrag and pageblock counters are the model's counts of trace events.
VM_NAMES = (
    "pgalloc_normal",
    "pgfree",
    "pgalloc_fail",
    "extfrag_fallback",
    "extfrag_fallback_claimed",
    "pageblock_migratetype_changes",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "allocstall_normal",
    "pageoutrun",
    "pswpout",
    "pgmigrate_success",
    "pgmigrate_fail",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "balloon_inflate",
    "balloon_deflate",
    "balloon_migrate",
    "compact_balloon_isolated",
    "compact_balloon_migrated",
    "compact_balloon_released",
    "compact_balloon_returned",
    "balloon_inflate_fail",
    "free_page_reports",
)
VM = {name: i for i, name in enumerate(VM_NAMES)}
NR_VM = len(VM_NAMES)
VM_PGALLOC = VM["pgalloc_normal"]
VM_PGFREE = VM["pgfree"]
VM_ALLOC_FAIL = VM["pgalloc_fail"]
VM_EXTFRAG = VM["extfrag_fallback"]
VM_EXTFRAG_CLAIM = VM["extfrag_fallback_claimed"]
VM_PAGEBLOCK_STEAL = VM["pageblock_migratetype_changes"]
VM_PGSCAN_KSWAPD = VM["pgscan_kswapd"]
VM_PGSCAN_DIRECT = VM["pgscan_direct"]
VM_PGSTEAL_KSWAPD = VM["pgsteal_kswapd"]
VM_PGSTEAL_DIRECT = VM["pgsteal_direct"]
VM_ALLOCSTALL = VM["allocstall_normal"]
VM_PAGEOUTRUN = VM["pageoutrun"]
VM_PSWPOUT = VM["pswpout"]
VM_PGMIGRATE_SUCCESS = VM["pgmigrate_success"]
VM_PGMIGRATE_FAIL = VM["pgmigrate_fail"]
VM_COMPACT_MIGRATE_SCANNED = VM["compact_migrate_scanned"]
VM_COMPACT_FREE_SCANNED = VM["compact_free_scanned"]
VM_COMPACT_ISOLATED = VM["compact_isolated"]
VM_COMPACT_STALL = VM["compact_stall"]
VM_COMPACT_FAIL = VM["compact_fail"]
VM_COMPACT_SUCCESS = VM["compact_success"]
VM_COMPACT_DAEMON_WAKE = VM["compact_daemon_wake"]
VM_COMPACT_DAEMON_MIGRATE_SCANNED = VM["compact_daemon_migrate_scanned"]
VM_COMPACT_DAEMON_FREE_SCANNED = VM["compact_daemon_free_scanned"]
VM_THP_FAULT_ALLOC = VM["thp_fault_alloc"]
VM_THP_FAULT_FALLBACK = VM["thp_fault_fallback"]
VM_BALLOON_INFLATE = VM["balloon_inflate"]
VM_BALLOON_DEFLATE = VM["balloon_deflate"]
VM_BALLOON_MIGRATE = VM["balloon_migrate"]
VM_COMPACT_BALLOON_ISOLATED = VM["compact_balloon_isolated"]
VM_COMPACT_BALLOON_MIGRATED = VM["compact_balloon_migrated"]
VM_COMPACT_BALLOON_RELEASED = VM["compact_balloon_released"]
VM_COMPACT_BALLOON_RETURNED = VM["compact_balloon_returned"]
VM_BALLOON_INFLATE_FAIL = VM["balloon_inflate_fail"]
VM_FREE_PAGE_REPORTS = VM["free_page_reports"]

# Compaction scratch: compact_control fields and the private lists.
NR_CC = 19
COMPACT_CLUSTER_MAX = 32
CC_FREE_CAPACITY = 2 * (1 << MAX_PAGE_ORDER) + COMPACT_CLUSTER_MAX

# gfp bits the model's allocation paths look at (include/linux/gfp_types.h).
GFP_DIRECT_RECLAIM = 1  # may reclaim and compact in the caller
GFP_KSWAPD_RECLAIM = 2  # may wake kswapd (and through it kcompactd)
GFP_NORETRY = 4  # one round of reclaim/compaction, no retry loop
GFP_USER = GFP_DIRECT_RECLAIM | GFP_KSWAPD_RECLAIM  # GFP_KERNEL, GFP_HIGHUSER...

# The host notification stream: what the guest tells the host, in order.
# Entry = pfn << 8 | order << 4 | op.
STREAM_CAPACITY = 1 << 16
STREAM_INFLATE = 0  # balloon inflate (4 KiB discard on the host)
STREAM_DEFLATE = 1  # balloon deflate (the guest will touch the page again)
STREAM_REPORT = 2  # free page report of a block of 2**order pages

# /sys/kernel/mm/transparent_hugepage/defrag, in the order huge_memory.py numbers them.
DEFRAG_MODES = ("always", "defer", "defer+madvise", "madvise", "never")
