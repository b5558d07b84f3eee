"""The host's backing of a guest in 2 MiB regions with host THP: faults,
discards, free page reports, the deferred-split queue and its shrinker,
khugepaged at its real rate, and the host's reclaim decision. Every expected
number follows from the rule named beside it (fleet/host.py)."""

import random

import numpy as np
import pytest

from fleet.guest import khugepaged_scan
from fleet.host import (
    DEFERRED,
    HUGE,
    SPLIT,
    UNPOPULATED,
    GuestBacking,
    KhugepagedScan,
    host_watermarks,
)
from fleet.memory import constants as C
from fleet.memory.stream import encode
from fleet.spec import SpecError, build_spec

R = 512  # HPAGE_PMD_NR: pages of a 2 MiB region
BALLOON = 2


def stream(*entries):
    return np.array([encode(pfn, order, op) for pfn, order, op in entries], dtype=np.int64)


def inflate(*pfns):
    return stream(*[(pfn, 0, C.STREAM_INFLATE) for pfn in pfns])


def report(pfn, order=C.HPAGE_PMD_ORDER):
    return stream((pfn, order, C.STREAM_REPORT))


def touch(b, n, pfns, owner=1, now=0):
    """The guest allocates `pfns` to `owner` at time `now`: their regions are
    marked dirty. Returns the pages swapped in."""
    owners = np.zeros(n, dtype=np.uint8)
    dirty = np.zeros(n // R, dtype=np.uint8)
    for pfn in pfns:
        owners[pfn] = owner
        dirty[pfn // R] = 1
    swapped_in = b.touch(dirty, owners, BALLOON, now)
    assert not dirty.any()
    b.check()
    return swapped_in


def apply(b, entries):
    b.apply(entries)
    b.check()


def scan(regions, pages_to_scan=4096, max_ptes_none=511, offset=0, host_regions=None, sleep=10):
    return KhugepagedScan(pages_to_scan, sleep, max_ptes_none, offset, host_regions or regions)


# ---------------------------------------------------------------- faults


def test_first_touch_faults_a_whole_huge_page():
    b = GuestBacking(4 * R)
    touch(b, 4 * R, [5, 3 * R + 7])
    assert list(b.region) == [HUGE, UNPOPULATED, UNPOPULATED, HUGE]
    assert b.populated_pages() == 2 * R and b.huge_regions() == 2


def test_only_marked_regions_are_looked_at_and_balloon_pages_are_not_touches():
    b = GuestBacking(2 * R)
    owners = np.ones(2 * R, dtype=np.uint8)
    dirty = np.array([0, 1], dtype=np.uint8)
    b.touch(dirty, owners, BALLOON, 0)
    assert list(b.region) == [UNPOPULATED, HUGE]
    touch(b, 2 * R, [3], owner=BALLOON)
    assert b.region[0] == UNPOPULATED and b.populated_pages() == R


# ---------------------------------------------------------------- deferred split


def test_a_4k_discard_splits_the_pmd_but_the_folio_stays_whole():
    """zap_pmd_range -> __split_huge_pmd (thp_split_pmd once), then
    page_remove_rmap queues the THP for deferred split: nothing is freed, the
    region still holds 512 pages; a fault on a zapped PTE is a 4 KiB
    do_anonymous_page, a new page on top of the folio."""
    b = GuestBacking(2 * R)
    touch(b, 2 * R, [0])
    apply(b, stream((10, 0, C.STREAM_INFLATE), (11, 0, C.STREAM_INFLATE), (12, 0, C.STREAM_DEFLATE)))
    assert b.region[0] == DEFERRED and b.splits == 1 and b.deferred_regions() == 1
    assert b.populated_pages() == R and b.discarded == 0 and b.huge_regions() == 0
    touch(b, 2 * R, [10])  # the guest uses deflated page 10 again
    assert b.region[0] == DEFERRED and b.populated_pages() == R + 1


def test_the_shrinker_frees_the_unmapped_subpages():
    """deferred_split_scan -> split_huge_page: of the folio only its 510
    still-mapped subpages stay; with the refaulted page 10, 511 resident."""
    b = GuestBacking(2 * R)
    touch(b, 2 * R, [0])
    apply(b, inflate(10, 11))
    touch(b, 2 * R, [10])
    b.shrink()
    b.check()
    assert b.region[0] == SPLIT and b.deferred_regions() == 0
    assert b.shrinker_freed == 2 and b.discarded == 2
    assert b.populated_pages() == (R - 2) + 1
    apply(b, inflate(20))  # a page of its own now: freed at once
    assert b.populated_pages() == R - 2 and b.discarded == 3 and b.splits == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_the_folio_is_freed_when_its_last_subpage_is_unmapped(seed):
    """Every subpage unmapped: the folio's last reference goes and
    free_transhuge_page takes it off the queue. Page 5 was refaulted after
    its discard (a page of its own): it alone stays."""
    b = GuestBacking(R)
    touch(b, R, [0])
    apply(b, inflate(5))
    touch(b, R, [5])
    others = [p for p in range(R) if p != 5]
    random.Random(seed).shuffle(others)
    apply(b, inflate(*others[:-1]))
    assert b.region[0] == DEFERRED and b.populated_pages() == R + 1  # one subpage still mapped
    apply(b, inflate(others[-1]))
    assert b.region[0] == SPLIT and b.deferred_regions() == 0
    assert b.populated_pages() == 1 and b.discarded == R and b.shrinker_freed == 0


def test_an_inflate_in_ascending_and_descending_order_frees_the_folio_at_the_end():
    for order in (range(R), range(R - 1, -1, -1)):
        b = GuestBacking(R)
        touch(b, R, [0])
        apply(b, inflate(*order))
        assert b.region[0] == SPLIT and b.populated_pages() == 0 and b.discarded == R


# ---------------------------------------------------------------- free page reports


def test_a_report_frees_a_huge_region_and_its_pmd_faults_a_thp_again():
    """zap_huge_pmd over a whole PMD: the THP is freed, the PMD left none."""
    b = GuestBacking(4 * R)
    touch(b, 4 * R, range(4 * R))
    apply(b, stream((2 * R, 10, C.STREAM_REPORT)))
    assert list(b.region) == [HUGE, HUGE, UNPOPULATED, UNPOPULATED]
    assert b.splits == 0 and b.populated_pages() == 2 * R and b.discarded == 2 * R
    touch(b, 4 * R, [3 * R])
    assert b.region[3] == HUGE and b.populated_pages() == 3 * R


def test_a_report_of_a_split_region_keeps_its_page_table():
    """MADV_DONTNEED over a PMD pointing to a PTE table: zap_pte_range clears
    the PTEs and keeps the table, so the next touch faults a 4 KiB page."""
    b = GuestBacking(R)
    touch(b, R, [0])
    apply(b, inflate(7))
    b.shrink()  # SPLIT: 511 pages of their own
    apply(b, report(0))
    assert b.region[0] == SPLIT and b.populated_pages() == 0 and b.discarded == R
    touch(b, R, [3, 4])
    assert b.region[0] == SPLIT and b.populated_pages() == 2 and b.huge_regions() == 0


def test_a_report_of_a_deferred_region_frees_the_folio_and_keeps_the_table():
    """All PTEs cleared: the refaulted page is freed, the folio loses its last
    mapping and is freed whole: 1 + 512 pages back to the host."""
    b = GuestBacking(R)
    touch(b, R, [0])
    apply(b, inflate(1, 2))
    touch(b, R, [1])
    apply(b, report(0))
    assert b.region[0] == SPLIT and b.deferred_regions() == 0
    assert b.populated_pages() == 0 and b.discarded == 1 + R
    touch(b, R, [9])
    assert b.region[0] == SPLIT and b.populated_pages() == 1


# ---------------------------------------------------------------- khugepaged


def test_the_cursor_walks_the_hosts_guests_in_id_order_8_regions_a_pass():
    """pages_to_scan 4096 = 8 ranges of HPAGE_PMD_NR per pass, every 10 s.
    Host: guest 0 of 64 regions, guest 1 of 128 (N = 192, a full scan in
    24 passes = 240 s). Pass k (at 10k s) scans host ranges [8(k-1), 8k)."""
    g0 = scan(64, offset=0, host_regions=192)
    g1 = scan(128, offset=64, host_regions=192)
    assert g0.ranges_per_pass == 8
    assert g0.ranges(0, 80, 64) == [(0, 64)]  # passes 1-8: host [0, 64)
    assert g1.ranges(0, 80, 128) == []
    assert g1.ranges(80, 90, 128) == [(0, 8)]  # pass 9: host [64, 72)
    assert g0.ranges(80, 90, 64) == []
    assert g0.ranges(5, 15, 64) == [(0, 8)]  # only pass 1 falls in (5, 15]
    assert g0.ranges(10, 19, 64) == []  # no pass in (10, 19]
    # passes 24 and 25 at 240 and 250 s: host [184, 200), wrapping to guest 0's start
    assert g1.ranges(230, 250, 128) == [(120, 128)]
    assert g0.ranges(230, 250, 64) == [(0, 8)]
    # 24 passes or more cover everything
    assert g1.ranges(0, 240, 128) == [(0, 128)]
    # 1000 PTEs a pass: the pass stops after the range that reaches it, ceil(1000/512) = 2
    assert scan(64, pages_to_scan=1000).ranges(0, 10, 64) == [(0, 2)]


def test_a_single_guest_wrapping_gets_both_ends():
    g = scan(20)  # 20 regions alone on the host, 8 a pass
    assert g.ranges(10, 30, 20) == [(8, 20), (0, 4)]  # passes 2 and 3: [8, 24) mod 20


def test_guest_offsets_come_from_the_spec_in_guest_id_order():
    spec = build_spec(
        {
            "hosts": {"count": 2, "memory": "4GiB", "khugepaged": True},
            "guests": [{"count": 2, "memory": "128MiB"}, {"count": 1, "memory": "256MiB"}],
        }
    )
    got = [khugepaged_scan(spec, 1, g) for g in range(3)]
    assert [(k.offset, k.host_regions) for k in got if k] == [(0, 256), (64, 256), (128, 256)]
    off = build_spec({"guests": [{"memory": "128MiB"}]})
    assert khugepaged_scan(off, 0, 0) is None  # khugepaged off: the default


def split_region(b, r, present):
    """Region r: touched, one page inflated, split by the shrinker, then
    pages inflated until `present` of its PTEs map a page."""
    n = b.nr_regions * R
    touch(b, n, [r * R])
    apply(b, inflate(r * R))
    b.shrink()
    apply(b, inflate(*range(r * R + 1, r * R + R - present)))
    assert b.region[r] == SPLIT and int((b.pte[r * R : (r + 1) * R] != 0).sum()) == present


def test_khugepaged_collapses_a_region_with_one_populated_page_and_fills_the_rest():
    """max_ptes_none 511: 511 none PTEs collapse (the collapse allocates a THP:
    511 pages populated again), 512 do not (SCAN_EXCEED_NONE_PTE); none
    PMDs and PMD-mapped THPs are left alone. One pass of 4 ranges covers
    the guest's 4 regions."""
    b = GuestBacking(4 * R, scan(4, pages_to_scan=4 * R))
    split_region(b, 0, present=1)
    split_region(b, 1, present=1)
    apply(b, inflate(R + R - 1))  # region 1: no PTE left
    touch(b, 4 * R, [3 * R])  # region 3: a THP; region 2 never touched
    before = b.populated_pages()
    assert before == 1 + 0 + 0 + R
    b.scan(10)
    b.check()
    assert list(b.region) == [HUGE, SPLIT, UNPOPULATED, HUGE]
    assert b.collapses == 1 and b.filled == R - 1 and b.populated_pages() == before + R - 1


def test_khugepaged_collapses_a_queued_folio_whole():
    """A DEFERRED region (a PTE-mapped THP with 2 subpages unmapped and one
    of them refaulted) collapses into a new THP; its old folio is freed:
    513 resident before, 512 after."""
    b = GuestBacking(R, scan(1))
    touch(b, R, [0])
    apply(b, inflate(3, 4))
    touch(b, R, [3])
    assert b.populated_pages() == R + 1
    b.scan(10)
    b.check()
    assert b.region[0] == HUGE and b.deferred_regions() == 0 and b.populated_pages() == R


@pytest.mark.parametrize(("max_ptes_none", "collapsed"), [(0, [False, False]), (2, [True, False])])
def test_max_ptes_none_bounds_the_none_ptes_of_a_collapse(max_ptes_none, collapsed):
    b = GuestBacking(2 * R, scan(2, max_ptes_none=max_ptes_none))
    split_region(b, 0, present=R - 2)  # 2 none PTEs
    split_region(b, 1, present=R - 3)  # 3 none PTEs
    b.scan(10)
    b.check()
    assert [r == HUGE for r in b.region] == collapsed


def test_khugepaged_scans_a_1gib_guest_in_64_passes():
    """512 regions, all split (511 pages each); 8 collapse per 10 s pass:
    80 by 100 s whatever the sync times, all 512 by 640 s."""
    b = GuestBacking(R * R, scan(R))
    n = R * R
    touch(b, n, range(0, n, R))
    apply(b, inflate(*range(1, n, R)))
    b.shrink()
    for t in (7, 30, 31, 100):
        b.scan(t)
    assert b.collapses == 80 and list(np.flatnonzero(b.region == HUGE)) == list(range(80))
    b.scan(630)
    assert b.collapses == 504
    b.scan(640)
    assert b.collapses == R and b.populated_pages() == n


def test_khugepaged_off_collapses_nothing():
    b = GuestBacking(R)
    touch(b, R, [0])
    apply(b, inflate(1))
    b.scan(10_000)
    assert b.region[0] == DEFERRED and b.collapses == 0


# ---------------------------------------------------------------- the host's watermarks


def test_host_watermarks_follow_the_kernels_formulas():
    """One zone, THP's min_free_kbytes (11 pageblocks = 5,632 pages, above
    calculate_min_free_kbytes: 11,585 KB for 8 GiB, 5,579 KB for 1900 MiB):
    min = 5,632 pages; low = min + max(min/4 = 1,408, managed / 1000), high
    = low + the same: 8 GiB (2,097,152 pages): 5,632 + 2,097 = 7,729, 9,826;
    1900 MiB (486,400 pages): 5,632 + 1,408 = 7,040, 8,448."""
    assert host_watermarks(8 << 30) == (5632 * 4096, 7729 * 4096, 9826 * 4096)
    assert host_watermarks(1900 << 20) == (5632 * 4096, 7040 * 4096, 8448 * 4096)


# ---------------------------------------------------------------- the spec


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("khugepaged_max_ptes_none", 512, "hosts.khugepaged_max_ptes_none: must be within 0..511"),
        ("khugepaged_pages_to_scan", 0, "hosts.khugepaged_pages_to_scan: must be positive"),
        ("khugepaged_scan_sleep_s", "0s", "hosts.khugepaged_scan_sleep_s: must be positive"),
    ],
)
def test_khugepaged_settings_are_checked(key, value, message):
    with pytest.raises(SpecError, match=message):
        build_spec({"hosts": {key: value}, "guests": [{"memory": "1GiB"}]})


def test_khugepaged_defaults_are_the_kernels():
    h = build_spec({"hosts": {"khugepaged_scan_sleep_s": "1min"}, "guests": [{"memory": "1GiB"}]}).hosts
    assert (h.khugepaged, h.khugepaged_pages_to_scan, h.khugepaged_max_ptes_none) == (False, 4096, 511)
    assert h.khugepaged_scan_sleep_s == 60
