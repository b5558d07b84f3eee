"""The results folders of the analysis tests (see folders.py)."""

import pytest

from .folders import commit, grid_folder, phases_rows


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Runs of (workload, compaction) x seeds of GRID."""
    return grid_folder(tmp_path_factory.mktemp("grid"))


@pytest.fixture
def phases_dir(tmp_path):
    """One run of phases_rows(), its two guests on two hosts."""
    out = tmp_path / "phases"
    commit(out, "seed=1", phases_rows(), seed=1, hosts=2)
    return out
