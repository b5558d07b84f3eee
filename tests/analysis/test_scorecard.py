"""`fleet analyze --scorecard`: per variant, the figures of
fleet/analysis/scorecard.py from a hand-made folder, computed by hand."""

import math

import pyarrow as pa
import pytest

from fleet.analysis.scorecard import render_scorecard, scorecard
from fleet.pack import hosts_schema
from fleet.results import RunWriter
from fleet.units import GIB, MIB
from tests.analysis.folders import SCHEMA, run_cli, sample

PAGE = 4096


def host_row(t, coverage, swap_in, swap_out):
    row = {f.name: 0 for f in hosts_schema()}
    row.update(time_s=t, host=0, host_huge_coverage=coverage, host_swap_in_bytes=swap_in, host_swap_out_bytes=swap_out)
    return row


def policy_run(out, run_id, policy, populated, psi, kills):
    """One host, one 1 GiB guest sampled at 10 and 20 s (interval 10 s)."""
    rows = [
        sample(t, psi_memory_some=p, host_populated_pages=populated // PAGE, host_swapped_pages=0, free_2mib_blocks=f)
        for t, p, f in ((10, psi[0], 100), (20, psi[1], 300))
    ]
    hosts = [host_row(10, 0.5, 0, 0), host_row(20, 1.0, 64 * MIB, 192 * MIB)]
    with RunWriter(out, "t", run_id, SCHEMA, {"hosts": hosts_schema()}) as w:
        w.write_samples(pa.Table.from_pylist(rows, schema=SCHEMA))
        w.write("hosts", pa.Table.from_pylist(hosts, schema=hosts_schema()))
        w.commit(
            {
                "experiment": {"name": "t", "seed": 1, "sample_interval_s": 10},
                "policy": {"name": policy},
                "oom_kills": kills,
                "wall_s": 1.0,
            },
            {"seed": 1},
        )


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "res"
    policy_run(out, "a", "mom", 256 * MIB, (0.0, 0.1), 0)
    policy_run(out, "b", "none", GIB, (0.2, 0.4), 1)
    return out


def test_the_scorecard_of_each_policy_is_what_its_samples_say(folder):
    rows = {r.params["policy.name"]: r.values for r in scorecard(folder)}
    mom, none = rows["mom"], rows["none"]
    # mom: 768 MiB unbacked in each of 2 samples of 10 s: 0.75 GiB x 20 s = 0.25 GiB.min
    assert mom["reclaimed_gib_min"] == pytest.approx(0.25)
    assert none["reclaimed_gib_min"] == 0.0
    assert mom["psi_mean"] == pytest.approx(0.05) and none["psi_mean"] == pytest.approx(0.3)
    assert none["psi_p95"] == pytest.approx(0.2 + 0.95 * 0.2)  # linear between the two samples
    assert (mom["oom_kills"], none["oom_kills"]) == (0.0, 1.0)
    assert mom["swap_gib"] == pytest.approx(0.25)  # 64 + 192 MiB at the end
    assert mom["free_2mib_per_gib"] == 200.0
    assert mom["host_huge_coverage"] == pytest.approx(0.75)


def test_the_scorecard_renders_in_every_format(folder):
    card = scorecard(folder)
    md = render_scorecard(card, "markdown")
    assert "| policy.name=mom | 1 | 0.25 | 5.00% |" in md
    assert '"reclaimed_gib_min": 0.25' in render_scorecard(card, "json").replace("\n", "")
    assert render_scorecard(card, "csv").splitlines()[0].startswith("variant,seeds,reclaimed_gib_min")
    assert all(math.isfinite(v) for v in card[0].values.values())


def test_fleet_analyze_prints_the_scorecard(folder, capsys):
    code, out, _ = run_cli(capsys, "analyze", str(folder), "--scorecard", "--format", "markdown")
    assert code == 0 and "host memory reclaimed, GiB·min" in out and "policy.name=none" in out
