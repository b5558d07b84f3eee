"""Exact checks of fleet.memory.stats against hand-computed kernel outputs."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fleet.memory import constants as C
from fleet.memory import stats

UNM, MOV, REC = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE


def nr_free_from(by_order, mt=MOV):
    """An (11, 3) nr_free with all blocks of `by_order` on one migratetype."""
    nr_free = np.zeros((C.NR_PAGE_ORDERS, C.NR_MIGRATETYPES), dtype=np.int64)
    nr_free[: len(by_order), mt] = by_order
    return nr_free


def by_order_of(*pairs):
    by_order = np.zeros(C.NR_PAGE_ORDERS, dtype=np.int64)
    for order, n in pairs:
        by_order[order] = n
    return by_order


# Mixed state used below: 100 x order 0, 50 x order 1, 20 x order 3, 2 x order 8.
# free_pages = 100 + 100 + 160 + 512 = 872, free_blocks_total = 172.
MIXED = by_order_of((0, 100), (1, 50), (3, 20), (8, 2))


def test_free_blocks_by_order_sums_migratetypes():
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[0] = (2, 3, 0)
    nr_free[4] = (1, 1, 1)
    assert stats.free_blocks_by_order(nr_free).tolist() == [5, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]


def test_buddyinfo_small():
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[0, UNM], nr_free[0, MOV] = 2, 3  # order 0: 5
    nr_free[3, REC] = 7
    nr_free[10, MOV] = 1
    assert stats.buddyinfo(nr_free) == (
        "Node 0, zone   Normal      5      0      0      7      0      0      0      0      0      0      1 \n"
    )
    assert stats.buddyinfo(nr_free, node=1, zone="DMA32").startswith("Node 1, zone    DMA32      5 ")


def test_buddyinfo_kernel_facts_example():
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[:, MOV] = (4000, 2000, 800, 300, 120, 44, 11, 4, 1, 0, 0)
    nr_free[:, UNM] = (500, 200, 30, 6, 0, 0, 0, 0, 0, 0, 0)
    nr_free[:, REC] = (28, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert stats.buddyinfo(nr_free) == (
        "Node 0, zone   Normal   4528   2212    830    306    120     44     11      4      1      0      0 \n"
    )


def pagetypeinfo_state():
    """Unmovable: 3 x o0, 1 x o2; Movable: 150000 x o0, 2 x o9, 5 x o10;
    Reclaimable: 4 x o1. Pageblocks: 1 unmovable, 4 movable, 1 reclaimable."""
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[0, UNM], nr_free[2, UNM] = 3, 1
    nr_free[0, MOV], nr_free[9, MOV], nr_free[10, MOV] = 150000, 2, 5
    nr_free[1, REC] = 4
    pb_mt = np.array([MOV, MOV, MOV, UNM, REC, MOV], dtype=np.int8)
    return nr_free, pb_mt


HEADER = (
    "Page block order: 9\n"
    "Pages per block:  512\n"
    "\n"
    "Free pages count per migrate type at order "
    "      0      1      2      3      4      5      6      7      8      9     10 \n"
)
ROW_UNM = (
    "Node    0, zone   Normal, type    Unmovable "
    "     3      0      1      0      0      0      0      0      0      0      0 \n"
)
ROW_REC = (
    "Node    0, zone   Normal, type  Reclaimable "
    "     0      4      0      0      0      0      0      0      0      0      0 \n"
)
ZEROS = "     0      0      0      0      0      0      0      0      0      0      0 \n"


def test_pagetypeinfo_6x():
    nr_free, pb_mt = pagetypeinfo_state()
    assert stats.pagetypeinfo(nr_free, pb_mt, C.ERA_6_X) == (
        HEADER + ROW_UNM + "Node    0, zone   Normal, type      Movable "
        ">100000      0      0      0      0      0      0      0      0      2      5 \n"
        + ROW_REC
        + "Node    0, zone   Normal, type   HighAtomic "
        + ZEROS
        + "Node    0, zone   Normal, type      Isolate "
        + ZEROS
        + "\n"
        "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
        "Node 0, zone   Normal            1            4            1            0            0 \n"
    )


def test_pagetypeinfo_3_8_column_order_and_no_cap():
    nr_free, pb_mt = pagetypeinfo_state()
    assert stats.pagetypeinfo(nr_free, pb_mt, C.ERA_3_8) == (
        HEADER + ROW_UNM + ROW_REC + "Node    0, zone   Normal, type      Movable "
        "150000      0      0      0      0      0      0      0      0      2      5 \n"
        + "Node    0, zone   Normal, type      Reserve "
        + ZEROS
        + "Node    0, zone   Normal, type      Isolate "
        + ZEROS
        + "\n"
        "Number of blocks type     Unmovable  Reclaimable      Movable      Reserve      Isolate \n"
        "Node 0, zone   Normal            1            1            4            0            0 \n"
    )


def test_pagetypeinfo_cap_starts_at_100000():
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[0, UNM], nr_free[1, UNM] = 99999, 100000
    row = stats.pagetypeinfo(nr_free, np.zeros(0, dtype=np.int8), C.ERA_6_X).splitlines()[4]
    assert row.startswith("Node    0, zone   Normal, type    Unmovable  99999 >100000      0 ")


def test_fill_contig_page_info_mixed():
    # order 9: nothing suitable; order 3: 20 + (2 << 5) = 84 order-3 blocks.
    assert stats.fill_contig_page_info(MIXED, 9) == (872, 172, 0)
    assert stats.fill_contig_page_info(MIXED, 3) == (872, 172, 84)


def test_indices_no_free_memory():
    empty = by_order_of()
    for order in (0, 9, 10):
        assert stats.fragmentation_index(empty, order) == 0
        assert stats.unusable_free_index(empty, order) == 1000
        assert stats.extfrag_for_order(empty, order) == 0


def test_indices_suitable_block_exists():
    # 10 x order 0 + 1 x order 9: free_pages 522, 11 blocks.
    state = by_order_of((0, 10), (9, 1))
    assert stats.fragmentation_index(state, 9) == -1000
    # order 10: 1000 - (1000 + 522000 // 1024) // 11 = 1000 - 1509 // 11 = 1000 - 137
    assert stats.fragmentation_index(state, 10) == 863
    # order 9: (522 - 512) * 1000 // 522 = 10000 // 522 = 19
    assert stats.unusable_free_index(state, 9) == 19
    assert stats.unusable_free_index(state, 10) == 1000
    assert stats.unusable_free_index(state, 0) == 0


def test_indices_only_order0():
    state = by_order_of((0, 1000))
    # 1000 - (1000 + 1000 * 1000 // 512) // 1000 = 1000 - 2953 // 1000 = 998
    assert stats.fragmentation_index(state, 9) == 998
    assert stats.unusable_free_index(state, 9) == 1000
    assert stats.extfrag_for_order(state, 9) == 100
    # fragmentation_index at orders 0..10, each 1000 - (1000 + 10**6 >> o) // 1000:
    # o1 501 -> 499, o2 251 -> 749, o3 126 -> 874, o4 63 -> 937, o5 32 -> 968,
    # o6 16 -> 984, o7 8 -> 992, o8 4 -> 996, o9 2 -> 998, o10 1 -> 999.
    assert stats.extfrag_index(nr_free_from([1000])) == (
        "Node 0, zone   Normal -1.000  0.499  0.749  0.874  0.937  0.968  0.984  0.992  0.996  0.998  0.999 \n"
    )
    assert stats.unusable_index(nr_free_from([1000])) == (
        "Node 0, zone   Normal 0.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 1.000 \n"
    )


def test_indices_mixed():
    # order 9: 1000 - (1000 + 872000 // 512) // 172 = 1000 - 2703 // 172 = 1000 - 15
    assert stats.fragmentation_index(MIXED, 9) == 985
    # order 10: 1000 - (1000 + 872000 // 1024) // 172 = 1000 - 1851 // 172 = 1000 - 10
    assert stats.fragmentation_index(MIXED, 10) == 990
    assert stats.fragmentation_index(MIXED, 8) == -1000
    # order 3: suitable pages 84 * 8 = 672: (872 - 672) * 1000 // 872 = 200000 // 872
    assert stats.unusable_free_index(MIXED, 3) == 229
    assert stats.extfrag_for_order(MIXED, 3) == 22  # 20000 // 872
    # unusable per order: o0 all suitable -> 0; o1 suitable 386 blocks = 772 pages
    # -> 100000 // 872 = 114; o2 168 blocks = 672 pages -> 229; o3 229;
    # o4..o8 only the two order-8 blocks (512 pages) -> 360000 // 872 = 412; o9, o10 1000.
    nr_free = nr_free_from(MIXED)
    assert stats.unusable_index(nr_free) == (
        "Node 0, zone   Normal 0.000 0.114 0.229 0.229 0.412 0.412 0.412 0.412 0.412 1.000 1.000 \n"
    )
    assert stats.extfrag_index(nr_free) == (
        "Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000  0.985  0.990 \n"
    )


def test_extfrag_index_single_small_block_prints_c_remainder():
    # One order-8 block: a single free block smaller than the request gives
    # 1000 - (1000 + 256000 // 512) // 1 = -500 at order 9 and
    # 1000 - (1000 + 256000 // 1024) = -250 at order 10; C prints -500 / 1000 = 0
    # and -500 % 1000 = -500 with "%2d.%03d" as " 0.-500".
    state = by_order_of((8, 1))
    assert stats.fragmentation_index(state, 9) == -500
    assert stats.extfrag_index(nr_free_from(state)) == (
        "Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000  0.-500  0.-250 \n"
    )


def test_free_2mib_blocks_counts_order10_twice():
    nr_free = np.zeros((11, 3), dtype=np.int64)
    nr_free[8, MOV] = 5  # below 2 MiB: not counted
    nr_free[9, MOV], nr_free[9, UNM] = 2, 1  # 3
    nr_free[10, MOV] = 2  # 2 x 2 = 4
    assert stats.free_2mib_blocks(nr_free) == 7


def test_vmstat_lines_in_given_order():
    assert stats.vmstat([("pgalloc_normal", 12), ("pgfree", 3), ("compact_stall", 0)]) == (
        "pgalloc_normal 12\npgfree 3\ncompact_stall 0\n"
    )


@given(st.lists(st.integers(0, 10**6), min_size=C.NR_PAGE_ORDERS, max_size=C.NR_PAGE_ORDERS))
def test_index_ranges(counts):
    by_order = np.array(counts, dtype=np.int64)
    unusable = [stats.unusable_free_index(by_order, o) for o in range(C.NR_PAGE_ORDERS)]
    assert all(0 <= u <= 1000 for u in unusable)
    assert unusable == sorted(unusable)
    for order in range(C.NR_PAGE_ORDERS):
        _, total, suitable = stats.fill_contig_page_info(by_order, order)
        index = stats.fragmentation_index(by_order, order)
        if suitable:
            assert index == -1000
        elif total == 1:  # one block of at most half the request
            assert -500 <= index <= 0
        else:
            assert 0 <= index <= 1000
