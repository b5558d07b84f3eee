import pytest

from fleet.memory.rng import new_rng
from fleet.memory.zone import Zone

NR_PAGES = 65536  # 256 MiB


@pytest.fixture
def make_zone():
    """A 256 MiB 6.x zone and a workload generator, both from `seed`."""

    def make(seed=1, nr_pages=NR_PAGES, era="6.x", thp_defrag="madvise"):
        return Zone(nr_pages, era=era, rng=new_rng(seed, 0), thp_defrag=thp_defrag), new_rng(seed, 1)

    return make
