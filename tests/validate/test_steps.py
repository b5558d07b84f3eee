"""The recorder's per-cpu drain (steps.drain_pcp): its test of stranded
lists, run here on zoneinfo texts, and the model's side of its second round."""

import subprocess

from fleet.memory import constants as C
from fleet.memory.rng import new_rng
from fleet.memory.watermark import WMARK_LOW
from fleet.memory.zone import Zone
from fleet.validate.model import Shell, recorder_drain
from fleet.validate.procfs import zoneinfo
from fleet.validate.steps import pcp_above_high

ZONEINFO = """Node 0, zone      DMA
  pages free     3840
        min      170
        low      212
        high     254
        managed  3840
  pagesets
    cpu: 0
              count: 300
              high:  252
              batch: 63
Node 0, zone    DMA32
  pages free     10709
        min      11179
        low      13973
        high     16767
        managed  376449
  pagesets
    cpu: 0
              count: {count}
              high:  252
              batch: 63
"""


def _stranded(text, zone, tmp_path):
    path = tmp_path / "zoneinfo"
    path.write_text(text)
    return subprocess.run(["sh", "-c", pcp_above_high(zone, str(path))]).returncode == 0


def test_the_drain_sees_lists_above_their_high_in_the_named_zone_only(tmp_path):
    """DMA32's pagesets decide, not the watermark `high` lines nor DMA's."""
    assert _stranded(ZONEINFO.format(count=13521), "DMA32", tmp_path)
    assert not _stranded(ZONEINFO.format(count=140), "DMA32", tmp_path)
    assert _stranded(ZONEINFO.format(count=140), "DMA", tmp_path)
    assert not _stranded(ZONEINFO.format(count=13521), "Movable", tmp_path)


def test_the_drains_test_reads_this_machines_zoneinfo_as_procfs_does(tmp_path):
    text = open("/proc/zoneinfo").read()
    zones = zoneinfo(text)
    for name, z in zones.items():
        assert _stranded(text, name, tmp_path) == (z["pcp_count"] > z["pcp_high"])


def _zone_under_low(free_above_low):
    """A zone with free pages `free_above_low` pages from its low watermark,
    a watermark boost, and 2,000 freed pages on its per-cpu lists."""
    zone = Zone(1 << 18, rng=new_rng(1, 0))
    o = zone.register_owner("anon", C.KIND_ANON)
    low = zone.watermark(WMARK_LOW)
    zone.alloc_bulk(o, 0, zone.nr_free - low - free_above_low - 2000, wmark=0)
    pfns = [zone.alloc(o, 0, wmark=0) for _ in range(2000)]
    for pfn in pfns:
        zone.free(pfn)
    zone.a.zs[C.ZS_WATERMARK_BOOST] = 512
    return zone


def test_the_models_drain_clears_the_boost_only_when_the_kernel_takes_the_second_round():
    """Under low (boost included) the spill cannot work and the recorder
    rewrites min_free_kbytes, which clears watermark_boost; above it the
    boost stays. Both end with the lists emptied but for the refills of the
    recorder's shell."""
    for above, boost in ((-1000, 0), (3000, 512)):
        zone = _zone_under_low(above)
        assert zone.pcp_pages >= 2000 > 4 * zone.a.zs[C.ZS_PCP_BATCH]  # above the drain's floor for high
        recorder_drain(zone, Shell(zone), lambda: None)
        assert zone.pcp_pages < 4 * zone.a.zs[C.ZS_PCP_BATCH], above
        assert int(zone.a.zs[C.ZS_WATERMARK_BOOST]) == boost, above
