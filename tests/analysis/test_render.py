"""fleet analyze's output (fleet.analysis.render): every format, and the headline sentences."""

import csv
import io
import json

import pytest

from fleet.analysis import CSV_COLUMNS, analyze, headline_sentences
from fleet.analysis.render import render_plain

from .folders import run_cli


@pytest.mark.parametrize("fmt", ["rich", "csv", "json", "markdown"])
def test_all_formats_print_both_tables(grid, capsys, fmt):
    code, out, err = run_cli(capsys, "analyze", str(grid), "--format", fmt)
    assert code == 0, err
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert tuple(rows[0]) == CSV_COLUMNS
        tables = {r["table"] for r in rows}
        assert tables == {"variants", "effect"}
        eff = [
            r
            for r in rows
            if r["table"] == "effect"
            and r["label"] == "guests[0].workload=mix"
            and r["metric"] == "free_2mib_per_gib_mean"
        ]
        assert float(eff[0]["value"]) == pytest.approx(4 / 3) and eff[0]["n"] == "3"
    elif fmt == "json":
        doc = json.loads(out)
        assert len(doc["variants"]) == 4 and len(doc["effect"]) == 2 * len(doc["metrics"])
        assert all(isinstance(v["metrics"], dict) for v in doc["variants"])
        assert "NaN" not in out  # NaN is written as null
    elif fmt == "markdown":
        pipes = [line for line in out.splitlines() if line.startswith("|")]
        assert len(pipes) >= 2 + 4 and all(line.endswith("|") for line in pipes)
        assert "| --- |" in out.replace(" ---: |", " --- |") and "on - off" in out
    else:
        assert "Per variant" in out and "Balloon compaction on vs off" in out
        # a line per varying parameter in the variant column headers
        assert "guests[0].workload=server" in out and "kernel.balloon_compaction=True" in out
    assert "free 2MiB blocks/GiB, mean" in out or "free_2mib_per_gib_mean" in out


def test_plain_rendering_without_compaction(phases_dir):
    text = render_plain(analyze(phases_dir))
    assert "all runs" in text and "does not vary" in text


def test_bad_format_is_refused(grid, capsys):
    code, _, err = run_cli(capsys, "analyze", str(grid), "--format", "xml")
    assert code == 2 and err.count("\n") == 1 and "--format" in err


def test_headline_sentences_name_both_phases_per_group(grid):
    a = analyze(grid)
    sentences = headline_sentences(a)
    by_metric = {(e["group"], e["metric"]): e for e in a.effect}
    assert len(sentences) == 2
    for s in sentences:
        group = s.split(":")[0]
        inflated = by_metric[(group, "free_2mib_per_gib_inflated")]
        assert "while balloons are inflated" in s and "after they are returned" in s
        assert f"change by {inflated['mean_diff']:.2f}" in s
        assert f"{inflated['n_pairs']} seed pairs" in s


def test_a_phase_one_world_never_reaches_is_said_in_words(tmp_path):
    """The seed's world keeps its balloon to the end: no `returned` phase, so
    the headline names that world instead of printing n/a."""
    from tests.analysis.folders import commit, sample

    for seed in (1, 2):
        for on, balloon in ((False, [0, 100, 200, 0]), (True, [0, 100, 200, 200])):
            rows = [sample(10 * (i + 1), free_2mib_blocks=5 + i, balloon_pages=b) for i, b in enumerate(balloon)]
            commit(tmp_path, f"{on}_seed={seed}", rows, seed=seed, compaction=on)
    (sentence,) = headline_sentences(analyze(tmp_path))
    assert "while balloons are inflated" in sentence and "n/a" not in sentence
    assert "not measured, because the world with balloon compaction never returns its balloons" in sentence
