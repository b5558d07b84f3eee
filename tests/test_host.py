"""The host's backing of a guest in 2 MiB regions with host THP."""

import numpy as np

from fleet.host import HUGE, SPLIT, UNPOPULATED, GuestBacking
from fleet.memory import constants as C
from fleet.memory.stream import encode

R = 512


def stream(*entries):
    return np.array([encode(pfn, order, op) for pfn, order, op in entries], dtype=np.int64)


BALLOON = 2


def touch(b, n, pfns, owner=1):
    """The guest allocates `pfns` to `owner`: their regions are marked dirty."""
    owners = np.zeros(n, dtype=np.uint8)
    dirty = np.zeros(n // R, dtype=np.uint8)
    for pfn in pfns:
        owners[pfn] = owner
        dirty[pfn // R] = 1
    b.touch(dirty, owners, BALLOON)
    assert not dirty.any()


def test_first_touch_faults_a_whole_huge_page():
    b = GuestBacking(4 * R)
    touch(b, 4 * R, [5, 3 * R + 7])
    assert list(b.region) == [HUGE, UNPOPULATED, UNPOPULATED, HUGE]
    assert b.populated_pages() == 2 * R and b.huge_regions() == 2


def test_a_4k_balloon_discard_splits_the_region_once():
    b = GuestBacking(2 * R)
    touch(b, 2 * R, [0])
    b.apply(stream((10, 0, C.STREAM_INFLATE), (11, 0, C.STREAM_INFLATE), (12, 0, C.STREAM_DEFLATE)))
    assert b.region[0] == SPLIT and b.splits == 1
    assert b.populated_pages() == R - 2 and b.discarded == 2
    touch(b, 2 * R, [10])  # the guest uses a deflated page again: a 4 KiB fault
    assert b.populated_pages() == R - 1 and b.region[0] == SPLIT


def test_free_page_report_zaps_whole_regions_without_split():
    b = GuestBacking(4 * R)
    touch(b, 4 * R, range(4 * R))
    b.apply(stream((2 * R, 10, C.STREAM_REPORT)))
    assert list(b.region) == [HUGE, HUGE, UNPOPULATED, UNPOPULATED]
    assert b.splits == 0 and b.populated_pages() == 2 * R
    touch(b, 4 * R, [3 * R])
    assert b.region[3] == HUGE


def test_khugepaged_recollapses_split_regions():
    b = GuestBacking(R, khugepaged=True)
    touch(b, R, [0])
    b.apply(stream((1, 0, C.STREAM_INFLATE)))
    assert b.region[0] == SPLIT
    b.collapse()
    assert b.region[0] == HUGE and b.collapses == 1 and b.populated_pages() == R


def test_only_marked_regions_are_looked_at_and_balloon_pages_are_not_touches():
    b = GuestBacking(2 * R)
    owners = np.ones(2 * R, dtype=np.uint8)
    dirty = np.array([0, 1], dtype=np.uint8)
    b.touch(dirty, owners, BALLOON)
    assert list(b.region) == [UNPOPULATED, HUGE]
    touch(b, 2 * R, [3], owner=BALLOON)
    assert b.region[0] == UNPOPULATED and b.populated_pages() == R
