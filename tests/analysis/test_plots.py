"""fleet plot (fleet.analysis.plots): the PNGs of a folder, the maps only for
an ab-map-like one."""

from fleet.analysis import FIGURES
from fleet.analysis.plots import MAP_FIGURES

from .folders import map_folder, run_cli

BASE = ("free_2mib_blocks.png", "buddyinfo_heatmap.png", "host_memory.png", "success.png")


def _written(capsys, src, dest):
    code, out, err = run_cli(capsys, "plot", str(src), "--out", str(dest))
    assert code == 0, err
    for path in out.split():
        data = open(path, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    return out.split()


def test_plot_writes_the_four_pngs(grid, phases_dir, tmp_path, capsys):
    assert FIGURES == (*BASE, "map_free_2mib.png", "map_thp_fallback.png")
    for src in (grid, phases_dir):
        dest = tmp_path / src.name / "png"
        assert _written(capsys, src, dest) == [str(dest / n) for n in BASE]


def test_an_ab_map_folder_gets_its_maps(tmp_path, capsys):
    dest = tmp_path / "png"
    written = _written(capsys, map_folder(tmp_path / "map"), dest)
    assert written == [str(dest / n) for n in (*BASE, *MAP_FIGURES.values())]
