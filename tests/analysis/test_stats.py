"""The on-vs-off effect (fleet.analysis.stats): pairs, differences and t intervals by hand."""

import math
import statistics

import pytest

from fleet.analysis import balloon_compaction_effect, paired_stats, t_quantile_975


def test_paired_difference_and_interval_by_hand(grid):
    effect = balloon_compaction_effect(grid)
    rows = {(e["group"], e["metric"]): e for e in effect}
    assert {g for g, _ in rows} == {"guests[0].workload=mix", "guests[0].workload=server"}

    mix = rows[("guests[0].workload=mix", "free_2mib_per_gib_mean")]
    # diffs 1, 3, 0: mean 4/3; sd sqrt(((1-4/3)^2 + (3-4/3)^2 + (0-4/3)^2) / 2) = sqrt(7/3)
    half = 4.302652729749464 * math.sqrt(7 / 3) / math.sqrt(3)
    assert mix["n_pairs"] == 3
    assert mix["mean_diff"] == pytest.approx(4 / 3)
    assert mix["rel_pct"] == pytest.approx(100 * (4 / 3) / 12)  # off mean (10+12+14)/3
    assert mix["ci_low"] == pytest.approx(4 / 3 - half)
    assert mix["ci_high"] == pytest.approx(4 / 3 + half)

    server = rows[("guests[0].workload=server", "free_2mib_per_gib_end")]
    # diffs 5, 7 (seed 3 has no off-run): mean 6, sd sqrt(2), half = t(1) * sqrt(2)/sqrt(2)
    assert server["n_pairs"] == 2
    assert server["mean_diff"] == pytest.approx(6.0)
    assert server["rel_pct"] == pytest.approx(30.0)
    assert (server["ci_low"], server["ci_high"]) == pytest.approx((6 - 12.706204736174698, 6 + 12.706204736174698))
    assert set(server) >= {"group", "metric", "mean_diff", "rel_pct", "ci_low", "ci_high", "n_pairs"}
    # the inflated phase has no variation within a run here: same numbers
    assert rows[("guests[0].workload=server", "free_2mib_per_gib_inflated")]["mean_diff"] == pytest.approx(6.0)


def test_one_pair_has_no_interval_and_nan_values_are_dropped():
    one = paired_stats([(3.0, 1.0)])
    assert one["mean_diff"] == 2 and one["rel_pct"] == 200 and one["n_pairs"] == 1
    assert math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])
    some = paired_stats([(3.0, 1.0), (math.nan, 1.0), (5.0, 2.0)])
    assert some["n_pairs"] == 2 and some["mean_diff"] == 2.5
    zero_off = paired_stats([(1.0, 0.0), (2.0, 0.0)])
    assert math.isnan(zero_off["rel_pct"])


def _t_quantile_by_integration(df: int) -> float:
    """Bisection on the t CDF by Simpson's rule: an independent check."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x, n=4000):
        def f(u):
            return c * (1 + u * u / df) ** (-(df + 1) / 2)

        h = x / n
        s = f(0) + f(x) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, n))
        return 0.5 + s * h / 3

    lo, hi = 0.0, 20.0 if df > 1 else 40.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.975 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("df", [2, 5, 12, 30, 31, 45, 200])
def test_t_quantiles(df):
    assert t_quantile_975(df) == pytest.approx(_t_quantile_by_integration(df), abs=2e-4)


def test_t_quantile_limits():
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile_975(10**6) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), abs=1e-5)
    assert math.isnan(t_quantile_975(0))
