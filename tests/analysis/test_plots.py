"""fleet plot (fleet.analysis.plots): the four PNGs of a folder."""

from fleet.analysis import FIGURES

from .folders import run_cli


def test_plot_writes_the_four_pngs(grid, phases_dir, tmp_path, capsys):
    assert FIGURES == ("free_2mib_blocks.png", "buddyinfo_heatmap.png", "host_memory.png", "success.png")
    for src in (grid, phases_dir):
        dest = tmp_path / src.name / "png"
        code, out, err = run_cli(capsys, "plot", str(src), "--out", str(dest))
        assert code == 0, err
        assert out.split() == [str(dest / n) for n in FIGURES]
        for n in FIGURES:
            data = (dest / n).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
