"""`LatencyStats`: the requests, failures, latencies and answers of the whole run, one endpoint or
a span of windows, read-only, with each metric's confidence interval (`ci`).

Which attribute holds a metric and which estimator bounds it is the metric registry's
(config/metrics.py); each estimator is one `_ci_<name>` method here (`LoadResult` adds the
ones that need the whole result: batch means over the windows, agreement). An undefined
latency statistic (no requests) is NaN: NaN fails every comparison.
"""

from __future__ import annotations

import math
from functools import cached_property
from statistics import NormalDist
from typing import Any

from pytest_aksload.config.metrics import METRICS, PERCENTILE, RELATIVE, Metric, parse_metric
from pytest_aksload.stats import confidence, histograms
from pytest_aksload.stats.correctness import CorrectnessTally, Mismatch
from pytest_aksload.stats.histograms import Latencies, check_quantile

__all__ = ["CORRECTNESS_METRICS", "STANDARD_QUANTILES", "EndpointStats", "LatencyStats", "WindowSpan", "json_number"]

STANDARD_QUANTILES = (50, 95, 99)
# The percentiles whose confidence intervals `to_dict()` reports, beside every other estimated metric.
_REPORTED_PERCENTILES = ("p50", "p95", "p99", "p99.9")
# What the predictions under load are measured by (correctness.py); NaN when they cannot be.
CORRECTNESS_METRICS = ("mismatch_rate", "max_abs_error", "auc", "logloss")


class LatencyStats:
    """Requests, failures and latency statistics of one endpoint or of the whole run (read-only),
    and, for the run and its windows, the rows the answers carried and how right they were."""

    def __init__(
        self,
        latencies: Latencies,
        failures: int,
        duration_s: float,
        *,
        rows: int | None = None,
        correctness: CorrectnessTally | None = None,
        sample_rows: int | None = None,
    ) -> None:
        self._set(
            _latencies=latencies,
            requests=latencies.count,
            failures=failures,
            duration_s=duration_s,
            # Rows sent in the successful requests; an endpoint records none: one per successful request.
            rows=latencies.count - failures if rows is None else rows,
            correctness=correctness,
            _sample_rows=sample_rows,
        )

    def _set(self, **fields: Any) -> None:
        """Set attributes while constructing; afterwards nothing can (see `__setattr__`)."""
        self.__dict__.update(fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only: a measurement does not change")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only: a measurement does not change")

    @property
    def failure_rate(self) -> float:
        """Failed / all measured requests, 0..1 (0 when there were none)."""
        return self.failures / self.requests if self.requests else 0.0

    @property
    def rps(self) -> float:
        """Measured requests per second of the measured interval (after warm-up)."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def rows_per_s(self) -> float:
        """Sample rows predicted per second (successful requests x rows each) of the measured interval."""
        return self.rows / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def mismatch_rate(self) -> float:
        """Fraction of checked rows whose prediction was off by more than the tolerance (NaN: none checked)."""
        return math.nan if self.correctness is None else self.correctness.mismatch_rate

    @property
    def max_abs_error(self) -> float:
        """Largest |prediction - expected| over the checked rows (NaN: none checked)."""
        return math.nan if self.correctness is None else self.correctness.max_abs_error

    @property
    def auc(self) -> float:
        """ROC AUC of the predictions under load against the sample's labels (NaN: no labels)."""
        return math.nan if self.correctness is None else self.correctness.auc

    @property
    def logloss(self) -> float:
        """Log loss of the predictions under load against the sample's labels (NaN: no labels)."""
        return math.nan if self.correctness is None else self.correctness.logloss

    @property
    def mismatches(self) -> list[Mismatch]:
        """The first few wrong predictions: `row` (in the sample), `expected`, `got`."""
        return [] if self.correctness is None else list(self.correctness.examples)

    def unmeasured(self, metric: str) -> str | None:
        """Why `metric` has no value, in one line (None when it has one)."""
        if metric == "rows_per_s" and not self.rows:
            return "no row was predicted (no successful request measured)"
        if metric not in CORRECTNESS_METRICS or not math.isnan(float(getattr(self, metric))):
            return None
        tally = self.correctness
        if metric in ("mismatch_rate", "max_abs_error"):
            if tally is None or (tally.predicted and not tally.checked):
                return (
                    "no expected predictions to compare with: define the aks_expected_predictions fixture, "
                    "give the sample an expected column (ini aks_expected_column), or use --aks-local"
                )
            return "no prediction was checked (no successful request measured)"
        if tally is None or (tally.predicted and not tally.labelled):
            return "the sample has no labels (ini aks_label_column, default 'label')"
        if tally.non_probabilities and metric == "logloss":
            return "a prediction under load was not a probability in [0, 1]"
        return "the labelled predictions lack a positive or a negative row"

    @cached_property
    def _standard(self) -> dict[float, float]:
        return self._latencies.percentiles_ms(STANDARD_QUANTILES)

    @property
    def p50_ms(self) -> float:
        return self._standard[50]

    @property
    def p95_ms(self) -> float:
        return self._standard[95]

    @property
    def p99_ms(self) -> float:
        return self._standard[99]

    @property
    def mean_ms(self) -> float:
        return self._latencies.mean_ms()

    @property
    def max_ms(self) -> float:
        return self._latencies.max_ms()

    @property
    def latencies(self) -> Latencies:
        """The recorded latencies (HDR histogram, exact count, sum, min and max), for comparisons."""
        return self._latencies

    @property
    def clamped(self) -> int:
        """Latencies outside 1 µs .. 1 h, recorded at the nearest bound."""
        return self._latencies.clamped

    def percentile(self, q: float) -> float:
        """Latency percentile `q` (0..100) in ms, nearest-rank; ValueError outside 0..100."""
        check_quantile(q)
        if q in STANDARD_QUANTILES:
            return self._standard[q]
        return self._latencies.percentiles_ms([q])[q]

    def ci(self, metric: str, level: float = confidence.DEFAULT_CONFIDENCE) -> tuple[float, float]:
        """Confidence interval `(low, high)` of a metric as SLOs name it (`"p95"`, `"p99.9"`, `"mean"`,
        `"failure_rate"`, `"rps"`, ...; an exact metric such as `"max"` or `"requests"` is `(value, value)`).

        The metric registry (config/metrics.py) names each metric's estimator, one `_ci_<name>`
        method here. An unknowable side is 0 or `inf` (see confidence.py); an unmeasured metric NaN.
        """
        parsed = parse_metric(metric)
        if parsed.entry.exact:
            value = parsed.value_of(self)
            return value, value
        estimator = getattr(self, "_ci_" + parsed.entry.interval.replace(" ", "_"), None)  # type: ignore[union-attr]
        if estimator is None:
            raise ValueError(f"no confidence interval for {metric!r} in {type(self).__name__}")
        return estimator(parsed, level)

    def _ci_order_statistics(self, metric: Metric, level: float) -> tuple[float, float]:
        # Distribution-free order-statistic bounds.
        return confidence.percentile_interval(self._latencies, metric.quantile, level)

    def _ci_wilson(self, metric: Metric, level: float) -> tuple[float, float]:
        return confidence.wilson_interval(self.failures, self.requests, level)

    def _ci_normal(self, metric: Metric, level: float) -> tuple[float, float]:
        return _mean_ci(self._latencies, level)

    def _ci_request_rate(self, metric: Metric, level: float) -> tuple[float, float]:
        # One interval without a time series: Poisson counts, normal approximation.
        if self.duration_s <= 0:
            return 0.0, math.inf
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        half = z * math.sqrt(max(self.requests, 1))
        return max(0.0, self.requests - half) / self.duration_s, (self.requests + half) / self.duration_s

    def _ci_row_rate(self, metric: Metric, level: float) -> tuple[float, float]:
        # Rows come in fixed batches: the request rate's interval, scaled by rows per successful request.
        ok = self.requests - self.failures
        low, high = self.ci("rps", level)
        return (low * self.rows / ok, high * self.rows / ok) if ok else (0.0, math.inf)

    def _ci_mismatches(self, metric: Metric, level: float) -> tuple[float, float]:
        return (math.nan, math.nan) if self.correctness is None else self.correctness.mismatch_rate_interval(level)

    def _ci_auc(self, metric: Metric, level: float) -> tuple[float, float]:
        if self.correctness is None:
            return math.nan, math.nan
        return self.correctness.auc_interval(level, self._sample_rows)

    def _ci_logloss(self, metric: Metric, level: float) -> tuple[float, float]:
        if self.correctness is None:
            return math.nan, math.nan
        return self.correctness.logloss_interval(level, self._sample_rows)

    def cis(self, level: float = confidence.DEFAULT_CONFIDENCE) -> dict[str, list[float | None]]:
        """Every reported metric's interval, JSON-safe (an unbounded side or an unmeasured metric is None)."""
        return {metric: [v if math.isfinite(v) else None for v in self.ci(metric, level)] for metric in _reported()}

    def summary(self) -> dict[str, Any]:
        """The headline numbers, JSON-safe (NaN -> None): counts, the standard percentiles, and every
        one-sided metric of the registry under the attribute that holds it (`mean_ms`, `rps`, ...)."""
        figures: dict[str, Any] = {"requests": self.requests, "failures": self.failures, "rows": self.rows}
        figures.update({f"p{q}_ms": json_number(self._standard[q]) for q in STANDARD_QUANTILES})
        for entry in METRICS:
            if entry.name != PERCENTILE and entry.kind != RELATIVE and not entry.sized:
                figures[entry.value] = json_number(getattr(self, entry.value))
        figures["mismatches"] = [{"row": m.row, "expected": m.expected, "got": m.got} for m in self.mismatches]
        return figures

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(requests={self.requests}, failures={self.failure_rate:.2%}, "
            f"rps={self.rps:.1f}, p95={self.p95_ms:.1f}ms)"
        )


class EndpointStats(LatencyStats):
    """Statistics of one endpoint (`"{request_type} {name}"`, e.g. `"POST /score"`)."""


class WindowSpan(LatencyStats):
    """Consecutive recorded windows merged into one window of a windowed objective."""

    def __init__(
        self, latencies: Latencies, failures: int, start_offset_s: float, duration_s: float, **answers: Any
    ) -> None:
        """`answers`: `rows`, `correctness`, `sample_rows` as `LatencyStats` takes them."""
        super().__init__(latencies, failures, duration_s, **answers)
        self._set(start_offset_s=start_offset_s)  # seconds from the start of the run (warm-up included)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, {self.start_offset_s:g}-{self.start_offset_s + self.duration_s:g}s)"


def _reported() -> tuple[str, ...]:
    """The metrics whose intervals a summary reports: the registry's estimates of one side."""
    one_sided = (e.name for e in METRICS if not e.exact and e.name != PERCENTILE and e.kind != RELATIVE)
    return (*_REPORTED_PERCENTILES, *one_sided)


def _mean_ci(latencies: Latencies, level: float) -> tuple[float, float]:
    # Central limit theorem on the histogram's spread; fine for the hundreds of requests a gate sees.
    if latencies.count < 2:
        return 0.0, math.inf
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    half = z * histograms.moments_us(latencies.histogram)[1] / math.sqrt(latencies.count) / 1000.0
    mean = latencies.mean_ms()
    return max(0.0, mean - half), mean + half


def json_number(value: float) -> float | None:
    return None if math.isnan(value) else value
