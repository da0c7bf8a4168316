"""Confidence intervals for what a load test measures: percentiles, failure rate, throughput.

A load test is a sample: run it again and p95 moves. A deployment gate that compares a point
estimate with a threshold therefore flips between PASS and FAIL when the truth sits near the
threshold. These intervals say how far the truth can be from what was measured, so a verdict can
be PASS (the whole interval meets the objective), FAIL (the whole interval violates it) or
INCONCLUSIVE (it straddles, or there are too few samples to say).

Methods (all distribution-free or standard; stdlib only, no scipy):

* ``percentile_interval``: order-statistic bounds for a quantile. If ``B ~ Binomial(n, q)`` counts
  the requests faster than the true q-quantile, the ranks ``l = Q_B(a/2)`` and
  ``u = Q_B(1 - a/2) + 1`` bracket it with probability >= 1 - a whatever the latency
  distribution (Hahn & Meeker, *Statistical Intervals*, 1991, §5.2). The ranks are mapped back to
  latencies through the histogram's cumulative counts, taking the outer edge of each bucket so
  the 0.1 % bucket width can only widen the interval. When a rank falls outside 1..n (p99 from 50
  requests) that side is unbounded: 0 ms below, ``inf`` above.
* ``wilson_interval``: the Wilson score interval for a binomial proportion (Wilson, 1927); unlike
  the textbook ``p ± z·sqrt(p(1-p)/n)`` it behaves at 0 failures and for small n.
* ``rps_interval``: batch means (Law & Kelton, *Simulation Modeling and Analysis*, ch. 9): each
  time window is a batch, and the Student-t interval of the per-window rates bounds the mean
  rate. Windows of a few seconds are long next to the correlation of request completions, which
  is what the method needs.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from statistics import NormalDist, fmean, stdev

from hdrh.histogram import HdrHistogram

from pytest_aksload.stats.histograms import Latencies, check_quantile

__all__ = ["binomial_quantile", "percentile_interval", "rps_interval", "student_t_quantile", "wilson_interval"]

DEFAULT_CONFIDENCE = 0.95


def _alpha(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a fraction between 0 and 1 (e.g. 0.95), not {confidence!r}")
    return 1.0 - confidence


def binomial_quantile(prob: float, n: int, p: float) -> int:
    """Smallest k with P(Binomial(n, p) <= k) >= prob (0 < prob < 1, 0 <= p <= 1).

    Sums the probability mass from the nearer tail, starting where the skipped mass is
    negligible (> 12 standard deviations away), so it costs O(sqrt(n)) even for millions of requests.
    """
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
    log_p, log_q = math.log(p), math.log1p(-p)

    def pmf(k: int) -> float:
        return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)

    ratio = p / (1.0 - p)
    if prob <= 0.5:  # lower tail: walk up from the left edge
        k = max(0, math.floor(mean - 12.0 * sd - 10.0))
        mass = pmf(k)
        cumulative = mass
        while cumulative < prob and k < n:
            mass *= (n - k) / (k + 1) * ratio
            k += 1
            cumulative += mass
        return k
    # upper tail: walk down from the right edge; S(j) = P(B >= j)
    tail = 1.0 - prob
    j = min(n, math.ceil(mean + 12.0 * sd + 10.0))
    mass = pmf(j)
    upper = mass
    while upper <= tail and j > 0:
        mass *= j / (n - j + 1) / ratio
        j -= 1
        upper += mass
    # j is the largest value with P(B >= j) > tail, so P(B <= j) >= prob and P(B <= j - 1) < prob
    return j


def _histogram_of(latencies: Latencies | HdrHistogram) -> tuple[HdrHistogram, int | None, int | None]:
    if isinstance(latencies, Latencies):
        return latencies.histogram, latencies.min_us, latencies.max_us
    return latencies, None, None


def percentile_interval(
    latencies: Latencies | HdrHistogram, q: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Distribution-free ``confidence`` interval (ms) for the true q-th percentile (q in 0..100).

    ``(0.0, inf)`` when nothing was recorded; a side is unbounded (0.0 or ``inf``) when there are
    too few requests to bound it (e.g. the upper side of p99 from fewer than ~300 requests).
    """
    check_quantile(q)
    alpha = _alpha(confidence)
    histogram, exact_min, exact_max = _histogram_of(latencies)
    n = histogram.get_total_count()
    if n == 0:
        return 0.0, math.inf
    p = q / 100.0
    low_rank = binomial_quantile(alpha / 2.0, n, p)  # 0 means "below the smallest request"
    high_rank = binomial_quantile(1.0 - alpha / 2.0, n, p) + 1  # n + 1 means "above the largest"
    first = histogram.get_counts_array_index(histogram.min_value)
    last = histogram.get_counts_array_index(histogram.max_value)
    cumulative = list(accumulate(histogram.counts[first : last + 1]))

    def bucket_of(rank: int) -> int:
        return first + bisect_left(cumulative, rank)

    if low_rank < 1:
        low_us = 0.0
    else:
        low_us = float(histogram.get_value_from_index(bucket_of(low_rank)))
        if exact_min is not None:
            low_us = max(low_us, float(exact_min))
    if high_rank > n:
        high_us = math.inf
    else:
        lowest = histogram.get_value_from_index(bucket_of(high_rank))
        high_us = float(histogram.get_highest_equivalent_value(lowest))
        if exact_max is not None:
            high_us = min(high_us, float(exact_max))
    return low_us / 1000.0, high_us / 1000.0


def wilson_interval(failures: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval (fractions 0..1) for a failure rate of ``failures`` in ``n``; (0, 1) for n = 0."""
    alpha = _alpha(confidence)
    if not 0 <= failures <= n:
        raise ValueError(f"failures must be between 0 and n={n}, not {failures}")
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    phat = failures / n
    denominator = 1.0 + z * z / n
    centre = (phat + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(phat * (1.0 - phat) / n + z * z / (4.0 * n * n)) / denominator
    # exact at the edges: 0 failures cannot have a lower bound above 0 (rounding would say 1e-17)
    low = 0.0 if failures == 0 else max(0.0, centre - half)
    high = 1.0 if failures == n else min(1.0, centre + half)
    return low, high


def student_t_quantile(prob: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom.

    Exact for df 1 and 2; otherwise the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5),
    whose error at the 0.975 quantile is 0.12 % at df = 3 (3.1786 vs 3.1824) and under 0.04 % from df = 4 on.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, not {df}")
    if df == 1:
        return math.tan(math.pi * (prob - 0.5))
    if df == 2:
        return (2.0 * prob - 1.0) / math.sqrt(2.0 * prob * (1.0 - prob))
    z = NormalDist().inv_cdf(prob)
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def rps_interval(
    window_counts: Sequence[int], window_s: float | Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Batch-means t-interval (requests/s) for the mean throughput over time windows.

    ``window_counts[i]`` requests completed in window i, which lasted ``window_s`` seconds (one
    number, or one per window so a partial last window can be passed as it is; windows of
    length 0 are ignored). Fewer than two windows cannot show variation: ``(0.0, inf)``.
    """
    alpha = _alpha(confidence)
    durations = [float(window_s)] * len(window_counts) if isinstance(window_s, (int, float)) else list(window_s)
    if len(durations) != len(window_counts):
        raise ValueError(f"{len(window_counts)} window counts but {len(durations)} window durations")
    rates = [count / duration for count, duration in zip(window_counts, durations, strict=True) if duration > 0]
    if len(rates) < 2:
        return 0.0, math.inf
    mean = fmean(rates)
    half = student_t_quantile(1.0 - alpha / 2.0, len(rates) - 1) * stdev(rates) / math.sqrt(len(rates))
    return max(0.0, mean - half), mean + half
