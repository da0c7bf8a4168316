"""`--aks-max-regression`: how much worse than its baseline a metric may get, e.g. "p95=10%,rps=5%".

Read once, when settings are validated; verdicts/baseline.py judges a run against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_aksload.config.metrics import FAILURE_RATE, LATENCY, RPS, MetricError, parse_metric

__all__ = ["TOLERANCE_FORM", "Tolerance", "parse_tolerances"]

_TOLERANCE = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*=\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>%|ms|pp)\s*$")
TOLERANCE_FORM = 'comma-separated metric=tolerance, e.g. "p95=10%,p99=50ms,rps=5%,failure_rate=0.5pp"'
# The units each kind of metric may be tolerated in.
_UNITS_BY_KIND = {LATENCY: ("%", "ms"), RPS: ("%",), FAILURE_RATE: ("pp",)}


@dataclass(frozen=True)
class Tolerance:
    """How much a metric may get worse: `relative` fraction, or `absolute` ms / fraction-points."""

    metric: str  # canonical metric name: "p95", "rps", "failure_rate"
    amount: float  # fraction for % (0.10), ms for ms, fraction points for pp (0.005)
    unit: str  # "%", "ms", "pp"

    def __str__(self) -> str:
        shown = self.amount * 100 if self.unit in ("%", "pp") else self.amount
        return f"{'-' if self.metric == 'rps' else '+'}{shown:g}{self.unit}"


def parse_tolerances(text: str) -> dict[str, Tolerance]:
    """`"p95=10%,rps=5%,failure_rate=0.5pp"` -> tolerances by metric; ValueError naming the bad part."""
    tolerances: dict[str, Tolerance] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        match = _TOLERANCE.match(part.lower())
        if match is None:
            raise ValueError(part.strip())
        try:
            metric = parse_metric(match["metric"])
        except MetricError:
            raise ValueError(part.strip()) from None
        number, unit = float(match["number"]), match["unit"]
        # Of the latencies only percentiles: significance needs their distribution-free intervals.
        mean_or_max = metric.kind == LATENCY and metric.quantile is None
        # Regressions are compared on latency, rps and failure_rate only.
        if metric.name in ("mismatch_rate", "rows_per_s"):
            raise ValueError(part.strip())
        if mean_or_max or unit not in _UNITS_BY_KIND.get(metric.kind, ()):
            raise ValueError(part.strip())
        amount = number if unit == "ms" else number / 100.0
        tolerances[metric.name] = Tolerance(metric.name, amount, unit)
    if not tolerances:
        raise ValueError(text)
    return tolerances
