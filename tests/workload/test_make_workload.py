"""Building a workload: its parameters are checked before anything is registered."""

import pytest

from fleet.workload import make_workload


def test_unknown_key_and_unknown_workload(make_zone):
    zone, rng = make_zone()
    with pytest.raises(ValueError, match="'anon_size'"):
        make_workload("server", zone, {"anon_size": 1 << 30}, rng)
    with pytest.raises(ValueError, match="unknown workload 'sever'"):
        make_workload("sever", zone, {}, rng)
    assert len(zone.owner_names) == 2  # nothing registered: (free), balloon
