"""Provenance: the package versions a run records."""

from __future__ import annotations

import pyarrow as pa

from fleet.results import (
    package_versions,
)


def test_package_versions():
    v = package_versions()
    assert v["pyarrow"] == pa.__version__
    assert "python" in v and "balloonfleet" in v
    assert all(isinstance(x, str) for x in v.values())
