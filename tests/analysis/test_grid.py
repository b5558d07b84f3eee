"""The map of an ab-map-like folder (fleet.analysis.grid) on the hand-made
map_folder: cells from the spec, moments from the holes flags, on - off
paired by guest and seed."""

import pytest

from fleet.analysis.grid import Cell, map_entries
from fleet.analysis.load import loaded

from .folders import map_folder


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    with loaded(map_folder(tmp_path_factory.mktemp("map"))) as (res, _, _):
        return {(e.cell, e.moment, e.value): e for e in map_entries(res)}


def test_cells_and_moments(mapped):
    a, b = Cell("random", 0.5, 0.25, 0.25), Cell("strided", 0.9, 0.5, 0.25)
    assert {k[0] for k in mapped} == {a, b}
    assert {k[1] for k in mapped} == {"inflated", "left", "compacted", "deflated"}
    inflated = mapped[(a, "inflated", "per_gib")].stats
    assert inflated["mean_diff"] == pytest.approx(10.5) and inflated["n_pairs"] == 2
    assert inflated["ci_low"] > 0  # +10 and +11: clear of zero
    assert mapped[(a, "left", "per_gib")].stats["mean_diff"] == pytest.approx(-21.0)
    assert mapped[(a, "deflated", "per_gib")].stats["mean_diff"] == pytest.approx(0.0)
    compacted = mapped[(b, "compacted", "per_gib")].stats
    assert compacted["mean_diff"] == pytest.approx(0.0) and compacted["ci_low"] < 0 < compacted["ci_high"]
    assert mapped[(a, "left", "holes_probe_thp_fallback_pct")].stats["mean_diff"] == pytest.approx(5.0)


def test_a_balloon_short_of_its_target_marks_its_cell(mapped):
    assert {k[0]: e.short for k, e in mapped.items()} == {
        Cell("random", 0.5, 0.25, 0.25): False,
        Cell("strided", 0.9, 0.5, 0.25): True,
    }


def test_a_folder_without_holes_guests_has_no_map(grid):
    with loaded(grid) as (res, _, _):
        assert map_entries(res) == []
