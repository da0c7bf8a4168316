"""The metrics a gate can name: one parser for their names, one formatter for their values.

SLOs (``"p95 < 300ms"``), baseline tolerances (``"p95=10%"``), confidence intervals
(``result.ci("p99.9")``) and reports all name metrics through ``parse_metric`` and show values
through ``format_metric_value``, so ``"P95.0"`` is ``p95`` everywhere and a failure rate reads
``0.20%`` in every message.

Metric kinds decide units and display: ``latency`` (pQ, mean, max; ms), ``failure_rate``
(a fraction 0..1, shown in %: failure_rate and mismatch_rate), ``rps`` (per second: rps and
rows_per_s), ``requests`` (a count), ``score`` (a plain number: auc, logloss, max_abs_error) and
``agreement`` (a fraction 0..1 shown in %: of the rows both sides of a side-by-side gate predicted,
those whose predictions agree; a kind of its own because more is better and it needs two sides).

Plain stdlib only: both the pytest process and the Locust child import this module.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pytest_aksload.config.units import NUMBER, exact_float, plain_number

__all__ = [
    "AGREEMENT",
    "FAILURE_RATE",
    "LATENCY",
    "REQUESTS",
    "RPS",
    "SCORE",
    "VALID_METRICS",
    "Metric",
    "MetricError",
    "format_metric_value",
    "parse_metric",
]

LATENCY, FAILURE_RATE, RPS, REQUESTS, SCORE = "latency", "failure_rate", "rps", "requests", "score"
AGREEMENT = "agreement"
_NAMED_METRICS = {
    "mean": LATENCY,
    "max": LATENCY,
    "failure_rate": FAILURE_RATE,
    "rps": RPS,
    "requests": REQUESTS,
    # What the predictions under load are measured by (stats/correctness.py).
    "mismatch_rate": FAILURE_RATE,
    "rows_per_s": RPS,
    "auc": SCORE,
    "logloss": SCORE,
    "max_abs_error": SCORE,
    # Side by side (--aks-against): rows whose predictions agree on both deployments.
    "agreement": AGREEMENT,
}
VALID_METRICS = (
    "p<q> (e.g. p50, p95, p99.9), mean, max, failure_rate, rps, requests, "
    "mismatch_rate, rows_per_s, auc, logloss, max_abs_error, agreement"
)

_QUANTILE_RE = re.compile(rf"p(?P<q>{NUMBER})", re.ASCII)


class MetricError(ValueError):
    """A metric name could not be read; the message is one line naming it and the valid ones."""


@dataclass(frozen=True)
class Metric:
    """A metric by its canonical name (``"p95"``, ``"p99.9"``, ``"mean"``, ``"max"``,
    ``"failure_rate"``, ``"rps"``, ``"requests"``)."""

    name: str
    kind: str  # LATENCY, FAILURE_RATE, RPS, REQUESTS, SCORE or AGREEMENT
    quantile: float | None = None  # set for pQ metrics only (0 < Q < 100)


def parse_metric(name: str) -> Metric:
    """Read a metric name, case-insensitively; ``p100`` is ``max`` (the recorded maximum is exact,
    a histogram's 100th percentile only its bucket). ``MetricError`` names what is wrong."""
    key = name.lower()
    if key in _NAMED_METRICS:
        return Metric(key, _NAMED_METRICS[key])
    match = _QUANTILE_RE.fullmatch(key)
    if match is None:
        raise MetricError(f"unknown metric {name!r}; valid metrics: {VALID_METRICS}")
    try:
        quantile = exact_float(match["q"])
    except OverflowError:
        quantile = math.inf
    if not 0 < quantile <= 100:
        raise MetricError(f"quantile {name!r} is out of range; use p<q> with 0 < q <= 100, e.g. p95 (p100 is max)")
    if quantile == 100:
        return Metric("max", LATENCY)
    return Metric("p" + plain_number(quantile), LATENCY, quantile)


def format_metric_value(metric: str, value: float | None, sign: str = "") -> str:
    """``value`` as people read it for ``metric``: ``412.3ms``, ``0.20%``, ``104.2/s``, ``1000``.

    ``sign="+"`` shows the sign (margins, changes); None or NaN (nothing measured) is ``n/a``; an
    infinite bound (too few requests to bound an interval) is ``unbounded``.
    """
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "unbounded"
    kind = parse_metric(metric).kind
    if kind == LATENCY:
        return f"{value:{sign}.1f}ms"
    if kind in (FAILURE_RATE, AGREEMENT):
        return f"{value * 100:{sign}.2f}%"
    if kind == RPS:
        return f"{value:{sign}.1f}/s"
    if kind == SCORE:
        return f"{value:{sign}.4g}"
    return f"{value:{sign}.0f}"
