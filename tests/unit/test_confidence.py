"""Confidence intervals (confidence.py) and the steady-state detector (steady_state.py), on known data."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from pytest_aksload.stats import histograms
from pytest_aksload.stats.confidence import (
    binomial_quantile,
    percentile_interval,
    rps_interval,
    student_t_quantile,
    wilson_interval,
)
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.steady_state import mser_cut


def exact_binomial_quantile(prob: float, n: int, p: float) -> int:
    cumulative = 0.0
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if cumulative >= prob:
            return k
    return n


@pytest.mark.parametrize("n", [1, 7, 50, 300, 1000])
@pytest.mark.parametrize("p", [0.01, 0.5, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("prob", [0.005, 0.025, 0.975, 0.995])
def test_binomial_quantile_matches_the_exact_distribution(n: int, p: float, prob: float) -> None:
    assert binomial_quantile(prob, n, p) == exact_binomial_quantile(prob, n, p)


def test_binomial_quantile_is_fast_for_millions_of_requests() -> None:
    # Centred on the mean, within a few standard deviations (sd = 31.6 here).
    low, high = binomial_quantile(0.025, 10**6, 0.999), binomial_quantile(0.975, 10**6, 0.999)
    assert 998_900 < low < 999_000 < high < 999_100


def latencies_of(values_us: list[int]) -> Latencies:
    latencies = Latencies()
    for us in values_us:
        latencies.record(us)
    return latencies


@pytest.mark.parametrize("q", [50, 95, 99])
def test_percentile_interval_covers_the_true_quantile_as_often_as_promised(q: float) -> None:
    # Lognormal latencies (median 60 ms, heavy tail): the true quantile is known in closed form.
    rng = random.Random(q)
    mu, sigma = math.log(60_000), 0.6
    truth_ms = math.exp(mu + sigma * NormalDist().inv_cdf(q / 100)) / 1000
    runs, covered, too_low, too_high = 200, 0, 0, 0
    for _ in range(runs):
        latencies = latencies_of([round(rng.lognormvariate(mu, sigma)) for _ in range(800)])
        low, high = percentile_interval(latencies, q)
        covered += low <= truth_ms <= high
        too_low += high < truth_ms
        too_high += low > truth_ms
    # Nominal 95 %; order-statistic intervals are conservative. 200 runs: 0.90 is > 3 sd below 0.95.
    assert covered / runs >= 0.90
    # ...and no wider than promised, on either side: these runs cover in 186-192 of 200 and miss
    # on both sides, where a 98 % interval would cover 197-199 (and a one-sided one miss on one side).
    assert covered / runs <= 0.98 and too_low >= 2 and too_high >= 2


def test_percentile_interval_brackets_the_point_estimate_and_narrows_with_more_requests() -> None:
    rng = random.Random(1)
    values = [round(rng.uniform(10_000, 20_000)) for _ in range(10_000)]
    small, large = latencies_of(values[:500]), latencies_of(values)
    for latencies in (small, large):
        low, high = percentile_interval(latencies, 95)
        assert low <= latencies.percentiles_ms([95])[95] <= high
    width = [percentile_interval(x, 95)[1] - percentile_interval(x, 95)[0] for x in (small, large)]
    assert width[1] < width[0] / 3  # ~ 1/sqrt(n): 20x the requests, ~4.5x narrower


def test_too_few_requests_leave_the_interval_unbounded() -> None:
    """p99 of 50 requests: even the slowest one may be below the true p99, so nothing bounds it above."""
    latencies = latencies_of(list(range(1000, 51_000, 1000)))
    low, high = percentile_interval(latencies, 99)
    assert high == math.inf and low > 0
    assert percentile_interval(Latencies(), 50) == (0.0, math.inf)
    assert percentile_interval(latencies_of([5000]), 1) == (0.0, 5.0)  # nothing bounds it below either


def test_percentile_interval_accepts_a_bare_histogram() -> None:
    histogram = histograms.new_histogram()
    for us in range(1000, 101_000, 100):
        histogram.record_value(us)
    low, high = percentile_interval(histogram, 50)
    # 1000 values 1.0, 1.1, .. 100.9 ms: median 50.9, bounded by order statistics 469 and 532
    # (bucket edges widen it outwards by at most 0.1 %: conservative, never narrower)
    assert 47.7 < low <= 47.8 and 54.0 <= high < 54.2


def test_wilson_interval_known_values() -> None:
    # 0 of 100: the "rule of three" neighbourhood (3.7 %), never a zero-width interval.
    assert wilson_interval(0, 100) == (0.0, pytest.approx(0.0370, abs=1e-4))
    low, high = wilson_interval(5, 100)
    assert low == pytest.approx(0.0215, abs=1e-4) and high == pytest.approx(0.1118, abs=1e-4)
    assert wilson_interval(100, 100)[1] == 1.0 and wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="failures must be between 0 and n=3"):
        wilson_interval(4, 3)
    with pytest.raises(ValueError, match="confidence must be a fraction between 0 and 1"):
        wilson_interval(1, 3, confidence=95)


@pytest.mark.parametrize(("df", "table"), [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042)])
def test_student_t_quantile_matches_the_table(df: int, table: float) -> None:
    assert student_t_quantile(0.975, df) == pytest.approx(table, rel=2e-3)


def test_rps_interval_is_a_batch_means_t_interval() -> None:
    low, high = rps_interval([100, 110, 95, 105], 1.0)
    # mean 102.5, sd 6.455, t(0.975, 3) = 3.182: half-width 10.27
    assert (low, high) == (pytest.approx(92.23, abs=0.02), pytest.approx(112.77, abs=0.02))
    # A partial last window counts at its own length.
    assert rps_interval([100, 100, 50], [1.0, 1.0, 0.5]) == (100.0, 100.0)
    assert rps_interval([100], 1.0) == (0.0, math.inf)


def test_mser_finds_the_end_of_a_transient() -> None:
    rng = random.Random(7)
    warming = [300 - 25 * i + rng.uniform(-5, 5) for i in range(8)]  # 300 -> 125, then steady
    steady = [100 + rng.uniform(-5, 5) for _ in range(30)]
    assert mser_cut(warming + steady) in range(7, 10)
    assert mser_cut(steady) in range(0, 3)
    assert mser_cut([1.0, 2.0, 3.0]) is None  # too short to say
    assert mser_cut([float(i) for i in range(20)]) is None  # a trend: never steady
