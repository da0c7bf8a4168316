"""Side by side: how the candidate compares with the other deployment, with confidence intervals.

A side-by-side gate (``--aks-against``) sends the same traffic to both deployments at the same
time and asks whether the candidate is worse beyond doubt: ``"p95 <= 1.10x"`` bounds the ratio
candidate / other, ``"failure_rate <= +0.5pp"`` the difference candidate - other. The two sides
are independent samples (different requests, different servers), so each interval is built from
the two sides' own evidence:

* Percentiles (``quantile_ratio``): each side's distribution-free order-statistic interval
  (confidence.percentile_interval) at confidence ``1 - alpha/2``; both hold together with
  probability >= 1 - alpha (Bonferroni), and then the ratio lies in ``[low_c / high_o, high_c / low_o]``.
  Conservative (wider than needed), but it assumes nothing about the latency distribution, which
  under load is skewed, multi-modal and heavy-tailed: a normal-theory interval for a p95 ratio
  would be wrong exactly when it matters.
* Means (``mean_ratio``): the delta method on the log of the ratio, ``se^2 = s_c^2 / (n_c m_c^2) +
  s_o^2 / (n_o m_o^2)``, interval ``ratio * exp(+-z se)``. The log scale keeps the interval
  positive and asymmetric as a ratio's should be; the central limit theorem needs the hundreds of
  requests a gate has (a very heavy tail makes it optimistic: prefer a percentile objective then).
* Throughput (``rate_ratio``: rps, rows_per_s): each side's own rate interval (batch means over
  the recorded windows, stats/result.py) at ``1 - alpha/2``, combined as for percentiles.
* Failure and mismatch rates (``rate_difference``): Newcombe's hybrid score interval for a
  difference of independent proportions (Newcombe 1998, method 10; the MOVER construction of Zou
  & Donner 2008), from each side's Wilson interval at ``1 - alpha``: ``d - sqrt((p_c - l_c)^2 +
  (u_o - p_o)^2) .. d + sqrt((u_c - p_c)^2 + (p_o - l_o)^2)``. Unlike the Wald interval it
  behaves at 0 failures on both sides, the usual case.

A side with nothing measured gives a NaN value and an unbounded interval, which no objective
passes. Plain stdlib, no scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

from pytest_aksload.config.objectives import DIFFERENCE, RATIO
from pytest_aksload.stats.histograms import Latencies, moments_us

__all__ = [
    "Comparison",
    "compare",
    "mean_ratio",
    "quantile_ratio",
    "rate_difference",
    "rate_ratio",
]

Interval = tuple[float, float, float]  # (value, low, high)
_UNBOUNDED: Interval = (math.nan, 0.0, math.inf)
_RATE_METRICS = ("rps", "rows_per_s")
_PROPORTION_METRICS = ("failure_rate", "mismatch_rate")


class SideStats(Protocol):
    """What one side offers (`stats.result.LatencyStats`: the run, or one endpoint), plus the
    metric attributes named by ``getattr``. A protocol: result.py builds comparisons with this module."""

    requests: int
    duration_s: float
    latencies: Latencies

    @property
    def mean_ms(self) -> float: ...

    def percentile(self, q: float) -> float: ...

    def ci(self, metric: str, level: float = ...) -> tuple[float, float]: ...


@dataclass(frozen=True)
class Comparison:
    """One metric on both sides: ``candidate`` and ``other`` in the metric's units, ``value`` their
    ratio (``relative == "x"``) or difference (``"pp"``, as a fraction) with its interval
    ``low..high``; ``agreement`` has no other value (``relative`` None, ``value`` the fraction).
    ``verdict`` is the verdict of a relative objective on this metric, when one judged it."""

    metric: str
    candidate: float
    other: float
    relative: str | None
    value: float
    low: float
    high: float
    confidence: float
    verdict: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; NaN and infinite bounds become None."""
        return {
            "metric": self.metric,
            "candidate": _json(self.candidate),
            "other": _json(self.other),
            "relative": self.relative,
            "value": _json(self.value),
            "ci": [_json(self.low), _json(self.high)],
            "confidence": self.confidence,
            "verdict": self.verdict,
        }


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.inf if a > 0 else math.nan
    return a / b


def _ratio_of_intervals(
    value_c: float, value_o: float, side_c: tuple[float, float], side_o: tuple[float, float]
) -> Interval:
    """Ratio of two values and the range of ratios their (jointly valid) intervals allow."""
    if math.isnan(value_c) or math.isnan(value_o):
        return _UNBOUNDED
    low = 0.0 if math.isinf(side_o[1]) else _divide(side_c[0], side_o[1])
    high = math.inf if math.isinf(side_c[1]) else _divide(side_c[1], side_o[0])
    return _divide(value_c, value_o), 0.0 if math.isnan(low) else low, math.inf if math.isnan(high) else high


def quantile_ratio(candidate: SideStats, other: SideStats, q: float, confidence: float) -> Interval:
    """Ratio of the q-th latency percentiles (q in 0..100), each side's order-statistic interval at 1 - alpha/2."""
    if not candidate.requests or not other.requests:
        return _UNBOUNDED
    half = 1.0 - (1.0 - confidence) / 2.0
    metric = f"p{q:g}"
    return _ratio_of_intervals(
        candidate.percentile(q), other.percentile(q), candidate.ci(metric, half), other.ci(metric, half)
    )


def mean_ratio(candidate: SideStats, other: SideStats, confidence: float) -> Interval:
    """Ratio of the mean latencies, delta method on the log scale."""
    if not candidate.requests or not other.requests:
        return _UNBOUNDED
    ratio = _divide(candidate.mean_ms, other.mean_ms)
    if candidate.requests < 2 or other.requests < 2 or not math.isfinite(ratio) or ratio == 0:
        return ratio, 0.0, math.inf  # no spread to go by
    # moments_us: the histogram's spread (µs); the means are exact (ms), so compare in the same unit.
    sd_c = moments_us(candidate.latencies.histogram)[1] / 1000.0
    sd_o = moments_us(other.latencies.histogram)[1] / 1000.0
    se = math.sqrt((sd_c / candidate.mean_ms) ** 2 / candidate.requests + (sd_o / other.mean_ms) ** 2 / other.requests)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def rate_ratio(candidate: SideStats, other: SideStats, metric: str, confidence: float) -> Interval:
    """Ratio of throughputs (``rps`` or ``rows_per_s``), each side's own rate interval at 1 - alpha/2."""
    if metric not in _RATE_METRICS:
        raise ValueError(f"rate_ratio compares {' or '.join(_RATE_METRICS)}, not {metric!r}")
    half = 1.0 - (1.0 - confidence) / 2.0
    value_c, value_o = float(getattr(candidate, metric)), float(getattr(other, metric))
    if not candidate.duration_s or not other.duration_s:
        return _UNBOUNDED
    return _ratio_of_intervals(value_c, value_o, candidate.ci(metric, half), other.ci(metric, half))


def rate_difference(candidate: SideStats, other: SideStats, metric: str, confidence: float) -> Interval:
    """Difference of proportions (``failure_rate`` or ``mismatch_rate``, fractions): Newcombe's hybrid score."""
    if metric not in _PROPORTION_METRICS:
        raise ValueError(f"rate_difference compares {' or '.join(_PROPORTION_METRICS)}, not {metric!r}")
    if metric == "failure_rate" and (not candidate.requests or not other.requests):
        return _UNBOUNDED
    p_c, p_o = float(getattr(candidate, metric)), float(getattr(other, metric))
    if math.isnan(p_c) or math.isnan(p_o):
        return math.nan, -1.0, 1.0
    low_c, high_c = candidate.ci(metric, confidence)
    low_o, high_o = other.ci(metric, confidence)
    difference = p_c - p_o
    low = difference - math.hypot(p_c - low_c, high_o - p_o)
    high = difference + math.hypot(high_c - p_c, p_o - low_o)
    return difference, max(-1.0, low), min(1.0, high)


def compare(metric: str, candidate: SideStats, other: SideStats, confidence: float) -> Comparison:
    """``metric`` (``"p95"``, ``"mean"``, ``"rps"``, ``"rows_per_s"``, ``"failure_rate"``,
    ``"mismatch_rate"``) of both sides: the ratio or difference and its ``confidence`` interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be a fraction between 0 and 1 (e.g. 0.95), not {confidence!r}")
    if metric in _PROPORTION_METRICS:
        relative, (value, low, high) = DIFFERENCE, rate_difference(candidate, other, metric, confidence)
        values = float(getattr(candidate, metric)), float(getattr(other, metric))
    elif metric in _RATE_METRICS:
        relative, (value, low, high) = RATIO, rate_ratio(candidate, other, metric, confidence)
        values = float(getattr(candidate, metric)), float(getattr(other, metric))
    elif metric == "mean":
        relative, (value, low, high) = RATIO, mean_ratio(candidate, other, confidence)
        values = _latency(candidate, "mean"), _latency(other, "mean")
    elif metric.startswith("p") and metric[1:2].isdigit():
        q = float(metric[1:])
        relative, (value, low, high) = RATIO, quantile_ratio(candidate, other, q, confidence)
        values = _latency(candidate, metric), _latency(other, metric)
    else:
        raise ValueError(
            f"no side-by-side comparison for {metric!r}; use p<q>, mean, rps, rows_per_s, failure_rate or mismatch_rate"
        )
    return Comparison(metric, values[0], values[1], relative, value, low, high, confidence)


def _latency(stats: SideStats, metric: str) -> float:
    if not stats.requests:
        return math.nan
    return stats.mean_ms if metric == "mean" else stats.percentile(float(metric[1:]))
