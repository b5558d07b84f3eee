"""Same seed, same zone: every workload is a deterministic function of its
spec and the two generator states."""

import pytest

from fleet.memory.state import zones_equal
from fleet.workload import make_composite, make_workload, run_workload

from .test_profiles import SMALL


def run(make_zone, name, seed, seconds=30):
    zone, rng = make_zone(seed=seed)
    w = make_workload(name, zone, SMALL[name], rng)
    run_workload(zone, w, seconds)
    return zone, w.metrics()


def same_metrics(a, b):
    return a.keys() == b.keys() and all(x == y or (x != x and y != y) for x, y in zip(a.values(), b.values()))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_zone(make_zone, name):
    z1, m1 = run(make_zone, name, 7)
    z2, m2 = run(make_zone, name, 7)
    assert zones_equal(z1.a, z2.a)
    assert same_metrics(m1, m2)


@pytest.mark.parametrize("name", ["server", "build", "mix"])
def test_other_seed_other_zone(make_zone, name):
    z1, _ = run(make_zone, name, 7, 10)
    z3, _ = run(make_zone, name, 8, 10)
    assert not zones_equal(z1.a, z3.a)


def test_composite_is_deterministic(make_zone):
    def go(seed):
        zone, rng = make_zone(seed=seed)
        c = make_composite(zone, [("build", SMALL["build"]), ("highalloc", dict(pass_starts_s=[5]))], rng)
        run_workload(zone, c, 30)
        return zone, c.metrics()

    (z1, m1), (z2, m2) = go(3), go(3)
    assert zones_equal(z1.a, z2.a) and same_metrics(m1, m2)
