"""Provenance: the package versions and the machine a run records."""

from __future__ import annotations

import pyarrow as pa

from fleet.results import (
    package_versions,
)
from fleet.results.provenance import machine


def test_package_versions():
    v = package_versions()
    assert v["pyarrow"] == pa.__version__
    assert "python" in v and "balloonfleet" in v
    assert all(isinstance(x, str) for x in v.values())


def test_machine():
    m = machine()
    assert set(m) == {"system", "machine", "cpu_model", "cpus", "memory_total_bytes"}
    assert m["cpus"] >= 1 and m["memory_total_bytes"] > 1 << 20 and m["cpu_model"]
