"""Zone watermarks (watermark.py): THP's min_free_kbytes (set_recommended_min_free_kbytes)."""

import pytest

from fleet.memory import constants as C
from fleet.memory.watermark import (
    guest_zones,
    min_free_kbytes,
    recommended_min_free_kbytes,
    zone_watermarks,
)
from fleet.memory.zone import Zone

PB = C.PAGEBLOCK_NR_PAGES
GIB = 1 << 18  # pages


# ------------------------------------------------ set_recommended_min_free_kbytes


@pytest.mark.parametrize(
    "pages, zones, kb",
    [
        (GIB, 2, 45056),  # (2 + 3 * 3) * 512 pages * 2 zones * 4 KB: the real 6.1 guest's /proc value
        (2 * GIB, 2, 45056),
        (4 * GIB, 3, 67584),  # DMA, DMA32 and Normal
        (128 << 8, 2, 6444),  # 128 MiB: capped at 5% of (lowmem - high) = 1611 pages
    ],
)
@pytest.mark.parametrize("era", [C.ERA_3_8, C.ERA_6_X])
def test_thp_raises_min_free_kbytes(pages, zones, kb, era):
    assert guest_zones(pages) == zones
    high = zone_watermarks(pages, era)[2]
    assert recommended_min_free_kbytes(pages, era, zones) == max(kb, min_free_kbytes(pages, era))
    assert kb == min(PB * zones * 11, (pages - high) // 20) * 4


def test_a_left_out_zone_takes_its_share_of_min():
    """__setup_per_zone_wmarks: min = pages_min * managed / lowmem. The 1 GiB
    validation guest's DMA32 (249,857 managed, DMA 3,840) gets 11,093 of
    11,264 pages, as its /proc/zoneinfo says."""
    assert zone_watermarks(249857, C.ERA_6_X, 10, 45056, 249857 + 3840)[:3] == (11093, 13866, 16639)
    z = Zone(GIB)
    assert int(z.a.zs[C.ZS_MIN_FREE_KBYTES]) == 45056 and z.watermark(0) == 11264
    assert Zone(GIB, thp=False).watermark(0) == 1024
