"""`--aks-max-regression`: how much worse than its baseline a metric may get, e.g. "p95=10%,rps=5%".

Read once, when settings are validated; verdicts/baseline.py judges a run against them. Which
metrics take a tolerance, and in which units, is the metric registry's (config/metrics.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_aksload.config.metrics import MetricError, entry_of, parse_metric

__all__ = ["TOLERANCE_FORM", "Tolerance", "parse_tolerances"]

_TOLERANCE = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*=\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>%|ms|pp)\s*$")
TOLERANCE_FORM = 'comma-separated metric=tolerance, e.g. "p95=10%,p99=50ms,rps=5%,failure_rate=0.5pp"'


@dataclass(frozen=True)
class Tolerance:
    """How much a metric may get worse: `relative` fraction, or `absolute` ms / fraction-points."""

    metric: str  # canonical metric name: "p95", "rps", "failure_rate"
    amount: float  # fraction for % (0.10), ms for ms, fraction points for pp (0.005)
    unit: str  # "%", "ms", "pp"

    def __str__(self) -> str:
        shown = self.amount * 100 if self.unit in ("%", "pp") else self.amount
        return f"{'-' if entry_of(self.metric).higher_is_better else '+'}{shown:g}{self.unit}"


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
        # The registry says which metrics a baseline compares, in which units (of the latencies
        # only percentiles: significance needs their distribution-free intervals).
        if unit not in metric.entry.tolerances:
            raise ValueError(part.strip())
        amount = number if unit == "ms" else number / 100.0
        tolerances[metric.name] = Tolerance(metric.name, amount, unit)
    if not tolerances:
        raise ValueError(text)
    return tolerances
