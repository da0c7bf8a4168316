"""Side by side: how the candidate compares with the other deployment, with confidence intervals.

A side-by-side gate (``--aks-against``) sends the same traffic to both deployments at the same
time and asks whether the candidate is worse beyond doubt: ``"p95 <= 1.10x"`` bounds the ratio
candidate / other, ``"failure_rate <= +0.5pp"`` the difference candidate - other. The two sides
are independent samples (different requests, different servers), so each interval is built from
the two sides' own evidence:

* Percentiles (``quantile_ratio``): MOVER (method of variance estimates recovery, Zou & Donner
  2008; Donner & Zou 2012 for ratios) on the log scale over each side's distribution-free
  order-statistic interval (confidence.percentile_interval) at the target level: with
  ``d = log(c / o)``, the bounds are ``d - sqrt(log(c / low_c)^2 + log(high_o / o)^2)`` and
  ``d + sqrt(log(high_c / c)^2 + log(o / low_o)^2)``. Each side's interval assumes nothing about
  the latency distribution (under load it is skewed, multi-modal, heavy-tailed), and MOVER
  combines the two as a normal approximation of the log ratio would, so the interval keeps each
  side's asymmetry. The alternative, each side at ``1 - alpha/2`` combined as
  ``[low_c / high_o, high_c / low_o]`` (Bonferroni), covers a little more often but is much
  wider, so it needs several times the requests to detect the same regression: too high a price
  for a gate whose point is detecting small regressions fast (coverage and widths of both, from
  bench/side_by_side_intervals.py: docs/performance.md).
* Means (``mean_ratio``): the delta method on the log of the ratio, ``se^2 = s_c^2 / (n_c m_c^2) +
  s_o^2 / (n_o m_o^2)``, interval ``ratio * exp(+-z se)``. The log scale keeps the interval
  positive and asymmetric as a ratio's should be; the central limit theorem needs the hundreds of
  requests a gate has; a heavy tail makes it a little optimistic (docs/performance.md; prefer a
  percentile objective when the tail matters).
* Throughput (``rate_ratio``: rps, rows_per_s): each side's own rate interval (batch means over
  the recorded windows, stats/result.py), combined by MOVER as for percentiles.
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

from pytest_aksload.config.metrics import LATENCY, METRICS, RATE, Metric, parse_metric
from pytest_aksload.config.objectives import DIFFERENCE, RATIO
from pytest_aksload.stats.histograms import Latencies, moments_us

__all__ = [
    "SideBySideComparison",
    "compare_sides",
    "mean_ratio",
    "quantile_ratio",
    "rate_difference",
    "rate_ratio",
]

Interval = tuple[float, float, float]  # (value, low, high)
_UNBOUNDED: Interval = (math.nan, 0.0, math.inf)
# Of the metrics with a relative form (the registry's): rates compare as a ratio, proportions as a difference.
_RATE_METRICS = tuple(entry.name for entry in METRICS if entry.relative == RATIO and entry.kind == RATE)
_PROPORTION_METRICS = tuple(entry.name for entry in METRICS if entry.relative == DIFFERENCE)
_COMPARED = ", ".join(entry.name for entry in METRICS if entry.relative)


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
class SideBySideComparison:
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


def _log(value: float) -> float:
    return -math.inf if value <= 0 else math.log(value)


def _ratio_mover(value_c: float, value_o: float, side_c: tuple[float, float], side_o: tuple[float, float]) -> Interval:
    """Ratio of two positive estimates and its MOVER interval on the log scale, from each side's own
    interval at the target level: the log ratio's bounds recover each side's distance to its own
    bounds, ``d -+ sqrt(dist_c^2 + dist_o^2)`` (an unbounded side leaves that side unbounded)."""
    if math.isnan(value_c) or math.isnan(value_o):
        return _UNBOUNDED
    ratio = _divide(value_c, value_o)
    if not 0 < ratio < math.inf:
        return ratio, 0.0, math.inf
    log_c, log_o = math.log(value_c), math.log(value_o)
    down = math.hypot(log_c - _log(side_c[0]), _log(side_o[1]) - log_o)
    up = math.hypot(_log(side_c[1]) - log_c, log_o - _log(side_o[0]))
    log_ratio = log_c - log_o
    return ratio, math.exp(log_ratio - down), math.exp(log_ratio + up)


def quantile_ratio(candidate: SideStats, other: SideStats, q: float, confidence: float) -> Interval:
    """Ratio of the q-th latency percentiles (q in 0..100): MOVER over each side's order-statistic interval."""
    if not candidate.requests or not other.requests:
        return _UNBOUNDED
    metric = f"p{q:g}"
    return _ratio_mover(
        candidate.percentile(q), other.percentile(q), candidate.ci(metric, confidence), other.ci(metric, confidence)
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
    """Ratio of throughputs (``rps`` or ``rows_per_s``): MOVER over each side's own rate interval."""
    if metric not in _RATE_METRICS:
        raise ValueError(f"rate_ratio compares {' or '.join(_RATE_METRICS)}, not {metric!r}")
    value_c, value_o = float(getattr(candidate, metric)), float(getattr(other, metric))
    if not candidate.duration_s or not other.duration_s:
        return _UNBOUNDED
    return _ratio_mover(value_c, value_o, candidate.ci(metric, confidence), other.ci(metric, confidence))


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


def compare_sides(metric: str, candidate: SideStats, other: SideStats, confidence: float) -> SideBySideComparison:
    """``metric`` (``"p95"``, ``"mean"``, ``"rps"``, ``"rows_per_s"``, ``"failure_rate"``,
    ``"mismatch_rate"``) of both sides: the ratio or difference and its ``confidence`` interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be a fraction between 0 and 1 (e.g. 0.95), not {confidence!r}")
    parsed = parse_metric(metric)
    if parsed.entry.relative is None:
        raise ValueError(f"no side-by-side comparison for {metric!r}; use {_COMPARED}")
    if parsed.name in _PROPORTION_METRICS:
        value, low, high = rate_difference(candidate, other, parsed.name, confidence)
    elif parsed.name in _RATE_METRICS:
        value, low, high = rate_ratio(candidate, other, parsed.name, confidence)
    elif parsed.quantile is not None:
        value, low, high = quantile_ratio(candidate, other, parsed.quantile, confidence)
    else:
        value, low, high = mean_ratio(candidate, other, confidence)
    values = _value(candidate, parsed), _value(other, parsed)
    return SideBySideComparison(parsed.name, values[0], values[1], parsed.entry.relative, value, low, high, confidence)


def _value(stats: SideStats, metric: Metric) -> float:
    # A latency of no requests is no latency (NaN), not 0 ms.
    if metric.kind == LATENCY and not stats.requests:
        return math.nan
    return metric.value_of(stats)
