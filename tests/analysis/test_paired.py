"""Paired phases (metrics.paired_guests, pair_phases): an on-run and its
off-run average the same guests at the same times, in fleet analyze and in
fleet compare, where each world's own phases would compare different sets
of guests (the headline's `cache` regime: with the seed MOM balloons only
the batch guest, without it the servers too)."""

import pytest

from fleet.analysis import analyze
from fleet.analysis.compare import compare

from .folders import commit, sample

TIMES = (10, 20, 30, 40, 50, 60)
# (balloon pages, free 2 MiB blocks) per guest and sample time, 1 GiB guests
OFF = {
    0: ([0, 100, 100, 100, 0, 0], [50, 10, 10, 10, 50, 50]),  # a server, ballooned at 20-40
    1: ([0, 100, 100, 100, 0, 0], [50, 10, 10, 10, 50, 50]),  # the other server
    2: ([0, 100, 100, 100, 100, 0], [60, 30, 30, 30, 30, 60]),  # the batch guest, 20-50
}
ON = {
    0: ([0] * 6, [50, 40, 40, 40, 50, 50]),  # never ballooned
    1: ([0] * 6, [50, 40, 40, 40, 50, 50]),
    2: ([0, 0, 100, 100, 100, 0], [60, 60, 20, 20, 20, 60]),  # ballooned at 30-50
}
# Each world's own phases: inflated off = mean(10, 10, 30) = 50/3, on = 20 (guest 2
# only): on - off = +10/3; returned off = mean(50, 50, 60) = 160/3, on = 60: +20/3.
# Paired: only guest 2 is in a phase in both worlds; inflated at 30, 40, 50: off 30,
# on 20, on - off = -10; returned at 60: 60 and 60, on - off = 0.


def _rows(world, shift):
    return [
        sample(t, 0, g, balloon_pages=balloon[i], free_2mib_blocks=free[i] + shift)
        for i, t in enumerate(TIMES)
        for g, (balloon, free) in world.items()
    ]


def _commit_world(out, on, seed):
    shift = seed - 1  # seed 2 adds one free block everywhere: the differences stay
    commit(out, f"on={on}_seed={seed}", _rows(ON if on else OFF, shift), seed=seed, compaction=on)


@pytest.fixture
def cache_like(tmp_path):
    out = tmp_path / "both"
    for seed in (1, 2):
        for on in (False, True):
            _commit_world(out, on, seed)
    return out


def test_analyze_pairs_the_same_guests_at_the_same_times(cache_like):
    a = analyze(cache_like)
    by_on = {v.params["kernel.balloon_compaction"]: v for v in a.variants}
    # the old, per-world averages stay as each run's own (unpaired) values
    assert by_on[False].unpaired["free_2mib_per_gib_inflated"] == pytest.approx(50 / 3 + 0.5)
    assert by_on[True].unpaired["free_2mib_per_gib_inflated"] == pytest.approx(20 + 0.5)
    assert by_on[False].unpaired["free_2mib_per_gib_returned"] == pytest.approx(160 / 3 + 0.5)
    # the paired ones: guest 2 alone, at 30-50 and at 60
    assert by_on[False].metrics["free_2mib_per_gib_inflated"] == pytest.approx(30.5)
    assert by_on[True].metrics["free_2mib_per_gib_inflated"] == pytest.approx(20.5)
    assert by_on[False].metrics["free_2mib_per_gib_returned"] == pytest.approx(60.5)
    effect = {e["metric"]: e for e in a.effect}
    assert effect["free_2mib_per_gib_inflated"]["mean_diff"] == pytest.approx(-10.0)  # per world: +10/3
    assert effect["free_2mib_per_gib_returned"]["mean_diff"] == pytest.approx(0.0)  # per world: +20/3
    assert effect["free_2mib_per_gib_inflated"]["n_pairs"] == 2
    # the metrics without a phase are untouched: every guest, every sample
    assert by_on[True].metrics["free_2mib_per_gib_end"] == pytest.approx(160 / 3 + 0.5)


def test_compare_by_compaction_and_two_folders_agree_with_analyze(cache_like, tmp_path):
    off, on = tmp_path / "off", tmp_path / "on"
    for seed in (1, 2):
        _commit_world(off, False, seed)
        _commit_world(on, True, seed)
    for report in (compare([cache_like]), compare([off, on])):
        (c,) = report.comparisons
        rows = {r.metric: r for r in c.rows}
        assert rows["free_2mib_per_gib_inflated"].a.mean == pytest.approx(30.5)
        assert rows["free_2mib_per_gib_inflated"].b.mean == pytest.approx(20.5)
        assert rows["free_2mib_per_gib_inflated"].diff == pytest.approx(-10.0)
        assert rows["free_2mib_per_gib_returned"].diff == pytest.approx(0.0)


def test_a_run_without_a_partner_has_no_paired_phase_in_compare(tmp_path):
    """Seed 2 has an off-run only: compare's phase rows use seed 1's pair alone."""
    out = tmp_path / "x"
    _commit_world(out, False, 1)
    _commit_world(out, True, 1)
    _commit_world(out, False, 2)
    (c,) = compare([out]).comparisons
    rows = {r.metric: r for r in c.rows}
    assert rows["free_2mib_per_gib_inflated"].a.n == 1 and rows["free_2mib_per_gib_inflated"].a.mean == 30
    assert rows["free_2mib_per_gib_end"].a.n == 2  # a metric without a phase takes both off-runs
