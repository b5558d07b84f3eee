"""fleet report (fleet.analysis.report): one self-contained HTML page, checked
in a real headless Chromium, and refused in one line for bad input."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tomllib
from pathlib import Path

import pyarrow as pa
import pytest

from fleet.analysis import FIGURES, analyze, headline_sentences
from fleet.analysis import report as report_module
from fleet.analysis.plots import MAP_FIGURES
from fleet.analysis.render import tables
from fleet.cli import main
from fleet.results import RunWriter, code_fingerprint
from fleet.spec import load_spec

from . import chromium
from .folders import SCHEMA, commit, eras_folder, run_cli, sample

SPEC = load_spec("experiments/smoke.toml").to_dict()
# A 1 x 1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

# Run in the page once it has loaded: wait for every image to decode, then
# report what a reader would see.
PAGE_FACTS = """
Promise.all([...document.images].map(img => img.decode().then(() => true, () => false))).then(decoded => ({
  images: [...document.images].map((img, i) => ({
    figure: img.dataset.figure, decoded: decoded[i], width: img.naturalWidth, height: img.naturalHeight,
  })),
  tables: [...document.querySelectorAll("#tables table")].map(t => ({
    caption: t.caption ? t.caption.textContent : null,
    rows: [...t.rows].map(r => [...r.cells].map(c => c.textContent)),
  })),
  headings: [...document.querySelectorAll("#headline h3")].map(h => h.textContent),
  sentences: [...document.querySelectorAll("#headline li")].map(li => li.textContent),
  spec: [...document.querySelectorAll("#spec pre")].map(p => p.textContent),
  provenance: document.querySelector("#provenance").innerText,
  scripts: document.scripts.length,
}))
"""


@pytest.fixture(scope="module")
def eras(tmp_path_factory):
    """The eras folder, each run's manifest entry holding the smoke spec."""
    return eras_folder(tmp_path_factory.mktemp("report") / "eras", entry={"spec": SPEC})


@pytest.fixture(scope="module")
def page(eras, tmp_path_factory):
    """`fleet report` of the eras folder."""
    path = tmp_path_factory.mktemp("page") / "report.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", str(eras), "--out", str(path)]) == 0
    assert printed.getvalue() == f"{path}\n" and [p.name for p in path.parent.iterdir()] == ["report.html"]
    return path


def fake_figures(names):
    """A stand-in for plot_results that writes one tiny PNG per name."""

    def plot(out_dir, to):
        paths = [Path(to) / n for n in names]
        for p in paths:
            p.write_bytes(PNG)
        return paths

    return plot


@pytest.fixture(scope="module")
def browser():
    binary = chromium.find()
    if binary is None:
        why = f"no {chromium.BINARY} on PATH (Debian package chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but there is {why}")
        pytest.skip(why)
    with chromium.Browser(binary) as b:
        yield b


def test_the_page_shows_every_figure_table_and_sentence_in_chromium(browser, eras, page):
    facts = browser.evaluate(page.resolve().as_uri(), PAGE_FACTS)
    images = facts["images"]
    assert [img["figure"] for img in images] == [f for f in FIGURES if f not in MAP_FIGURES.values()]  # no map here
    for img in images:
        assert img["decoded"] and img["width"] > 0 and img["height"] > 0, img
    a = analyze(eras)
    expected = tables(a)
    assert len(expected) == 2 and len(facts["tables"]) == 2
    for got, (title, heads, rows) in zip(facts["tables"], expected):
        assert got["caption"] == title
        assert got["rows"] == [heads, *rows]
    groups = headline_sentences(a)
    assert (
        facts["headings"]
        == [h for h, _ in groups]
        == ["Linux 3.8 era (kernel.era=3.8)", "Linux 6.x era (kernel.era=6.x)"]
    )
    assert facts["sentences"] == [s for _, sentences in groups for s in sentences]
    assert "never returns its balloons" in facts["sentences"][0]
    assert [tomllib.loads(text) for text in facts["spec"]] == [SPEC]  # the spec as TOML, as written
    assert code_fingerprint() in facts["provenance"] and "numba" in facts["provenance"]
    assert facts["scripts"] == 0  # the page runs nothing


def test_the_page_is_self_contained_and_names_where_it_came_from(eras, page):
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and 'src="data:image/png;base64,' in html
    assert str(eras) in html
    entry = json.loads((eras / "manifest.json").read_text())["runs"]["t/era=3.8_False_seed=1"]
    assert f"{entry['machine']['cpus']} CPUs" in html
    assert "what varies across its 8 runs" in html


def test_every_figure_plot_results_returns_is_embedded(eras, monkeypatch):
    """A figure added to fleet plot (a heat map, say) reaches the page unchanged."""
    monkeypatch.setattr(report_module, "plot_results", fake_figures(["a.png", "heat_map.png"]))
    html = report_module.build_report(eras)
    assert html.count("<img ") == 2 and 'data-figure="heat_map.png"' in html
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in html


def test_text_from_the_folder_is_escaped(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "plot_results", fake_figures([]))
    out = tmp_path / "esc"
    for seed in (1, 2):
        for on in (False, True):
            rows = [sample(t, free_2mib_blocks=3 + on, balloon_pages=b) for t, b in ((10, 0), (20, 50), (30, 0))]
            commit(out, f"{on}_{seed}", rows, seed=seed, compaction=on, workload=f"<script>alert({seed})</script>&")
    unfinished = RunWriter(out, "t", "seed=9", SCHEMA)  # an interrupted run, left out and named
    unfinished.write_samples(pa.Table.from_pylist([sample(10)], schema=SCHEMA))
    html = report_module.build_report(out)
    unfinished.abort()
    assert "<script" not in html and "&lt;script&gt;alert(2)&lt;/script&gt;&amp;" in html
    assert "The manifest records no spec" in html and "Left out 1 uncommitted run(s)" in html and "t/seed=9" in html


def _refused(capsys, *args) -> str:
    code, out, err = run_cli(capsys, "report", *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("fleet: error: "), (code, out, err)
    return err


def test_bad_input_is_one_line_and_leaves_no_page(eras, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report_module, "plot_results", fake_figures(["a.png"]))
    target = tmp_path / "r" / "report.html"
    err = _refused(capsys, str(eras), "--out", str(target))
    assert err == f"fleet: error: --out: cannot write {target}: No such file or directory\n"
    target.parent.mkdir()
    err = _refused(capsys, str(tmp_path / "nowhere"), "--out", str(target))
    assert "not a results folder" in err and os.listdir(target.parent) == []

    damaged = tmp_path / "damaged"
    commit(damaged, "seed=1", [sample(10), sample(20)], seed=1)
    (samples,) = (damaged / "samples").rglob("*.parquet")
    samples.write_bytes(samples.read_bytes()[:100])
    target.write_text("the previous report")
    err = _refused(capsys, str(damaged), "--out", str(target))
    assert str(samples) in err
    assert target.read_text() == "the previous report" and os.listdir(target.parent) == ["report.html"]

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text('{"format": 1, "runs": {}}')
    assert "no committed runs" in _refused(capsys, str(empty), "--out", str(target))

    err = _refused(capsys, str(eras), "--out", str(target.parent))  # a folder, not a file
    assert err == f"fleet: error: --out: cannot write {target.parent}: is a folder, not a file\n"
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "--out" in _refused(capsys, str(eras), "--out", str(blocker / "report.html"))


def test_unwritable_out_is_one_line(eras, tmp_path, capsys, monkeypatch):
    """/proc takes no new file, even from root; a read-only folder (not for root) neither."""
    monkeypatch.setattr(report_module, "plot_results", fake_figures(["a.png"]))
    assert _refused(capsys, str(eras), "--out", "/proc/report.html").startswith("fleet: error: --out: ")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert "--out" in _refused(capsys, str(eras), "--out", str(locked / "report.html"))
            assert os.listdir(locked) == []
        finally:
            locked.chmod(0o700)
