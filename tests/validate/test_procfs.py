"""The parsers of the kernel files a validation snapshot reads, on texts as
Linux 6.1 prints them."""

import pytest

from fleet.validate import procfs

BUDDYINFO = """Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 
Node 0, zone    DMA32      2      1      2      1      1      0      0      0      2      2    239 
"""

PAGETYPEINFO = """Page block order: 9
Pages per block:  512

Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 
Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      1      0      0 
Node    0, zone    DMA32, type      Movable      0      0      0      1      1      0      0      0      0      0    239 

Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic 
Node 0, zone      DMA            1            7            0            0 
Node 0, zone    DMA32            4          498            2            0 
"""

ZONEINFO = """Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 41
  pages free     3840
        boost    0
        min      170
        low      212
        high     254
        spanned  4095
        present  3998
        managed  3840
      nr_free_pages 3840
  pagesets
    cpu: 0
              count: 0
              high:  212
              batch: 1
Node 0, zone    DMA32
  pages free     246308
        min      11093
        low      13866
        high     16639
        spanned  258048
        present  258013
        managed  249857
  pagesets
    cpu: 0
              count: 1562
              high:  13866
              batch: 63
Node 0, zone   Normal
  pages free     0
        present  0
        managed  0
"""


def test_buddyinfo():
    got = procfs.buddyinfo(BUDDYINFO)
    assert got["DMA32"] == [2, 1, 2, 1, 1, 0, 0, 0, 2, 2, 239]
    assert got["DMA"][10] == 3


def test_pagetypeinfo_reads_the_block_table_only():
    got = procfs.pagetypeinfo(PAGETYPEINFO)
    assert got == {
        "DMA": {"Unmovable": 1, "Movable": 7, "Reclaimable": 0, "HighAtomic": 0},
        "DMA32": {"Unmovable": 4, "Movable": 498, "Reclaimable": 2, "HighAtomic": 0},
    }


def test_zoneinfo_watermarks_and_pcp_lists():
    got = procfs.zoneinfo(ZONEINFO)
    assert set(got) == {"DMA", "DMA32"}  # the empty Normal zone is left out
    z = got["DMA32"]
    assert (z["min"], z["low"], z["high"]) == (11093, 13866, 16639)
    assert (z["present"], z["managed"], z["nr_free_pages"]) == (258013, 249857, 246308)
    assert (z["pcp_count"], z["pcp_high"], z["pcp_batch"]) == (1562, 13866, 63)


def test_vmstat_keeps_chosen_nonzero_counters():
    got = procfs.vmstat("nr_free_pages 100\nthp_fault_alloc 0\ncompact_stall 3\nnr_dirty 5\nballoon_migrate 7\n")
    assert got == {"nr_free_pages": 100, "compact_stall": 3, "balloon_migrate": 7}


def test_meminfo_in_kb():
    got = procfs.meminfo("MemTotal:        1014788 kB\nMemFree:         1000592 kB\nZswap: 0 kB\n")
    assert got == {"MemTotal": 1014788, "MemFree": 1000592}


def test_pfnmap_runs_are_parsed_and_must_be_contiguous():
    assert procfs.pfnmap("4096 r 2049\n6145 f 511\n6656 u 3\n") == [[4096, "r", 2049], [6145, "f", 511], [6656, "u", 3]]
    with pytest.raises(ValueError, match="bad run"):
        procfs.pfnmap("4096 r 10\n4100 f 5\n")
    with pytest.raises(ValueError, match="bad run"):
        procfs.pfnmap("4096 x 10\n")
