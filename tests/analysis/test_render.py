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
    ((heading, sentences),) = headline_sentences(a)
    assert heading is None  # one era: no headings
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
    the headline names that world instead of printing n/a; a world that
    never inflates has no phase at all, and that is said too."""
    from tests.analysis.folders import commit, sample

    worlds = {
        "keeps": {False: [0, 100, 200, 0], True: [0, 100, 200, 200]},
        "never": {False: [0, 0, 0, 0], True: [0, 100, 200, 0]},
    }
    for case, balloons in worlds.items():
        for seed in (1, 2):
            for on, balloon in balloons.items():
                rows = [sample(10 * (i + 1), free_2mib_blocks=5 + i, balloon_pages=b) for i, b in enumerate(balloon)]
                commit(tmp_path / case, f"{on}_seed={seed}", rows, seed=seed, compaction=on)
    ((heading, [sentence]),) = headline_sentences(analyze(tmp_path / "keeps"))
    assert heading is None
    assert "while balloons are inflated" in sentence and "n/a" not in sentence
    assert "not measured, because the world with balloon compaction never returns its balloons" in sentence
    ((_, [sentence]),) = headline_sentences(analyze(tmp_path / "never"))
    assert "n/a" not in sentence and "change by" not in sentence
    assert "not measured, because the world without balloon compaction never inflates a balloon" in sentence


def test_headline_groups_the_sentences_by_era(tmp_path, capsys):
    """Both eras, each under its heading; in the 3.8 era the pre-seed world
    keeps its balloon, which its sentence says in words."""
    from tests.analysis.folders import eras_folder

    out = eras_folder(tmp_path / "eras")
    groups = headline_sentences(analyze(out))
    assert [h for h, _ in groups] == ["Linux 3.8 era (kernel.era=3.8)", "Linux 6.x era (kernel.era=6.x)"]
    [(_, [old]), (_, [new])] = groups
    assert old.startswith("all runs: with balloon compaction, free 2 MiB blocks per GiB change by 3.00 (26.09%)")
    assert "kernel.era" not in old and "n/a" not in old
    assert "not measured, because the world without balloon compaction never returns its balloons" in old
    assert new.startswith("all runs: with balloon compaction, free 2 MiB blocks per GiB change by 3.00 (24.00%)")
    assert "and by 3.00 (24.00%) after they are returned" in new and "2 seed pairs" in new
    code, text, err = run_cli(capsys, "analyze", str(out), "--headline")
    assert code == 0, err
    assert text.endswith(f"\nLinux 3.8 era (kernel.era=3.8):\n  {old}\n\nLinux 6.x era (kernel.era=6.x):\n  {new}\n")
