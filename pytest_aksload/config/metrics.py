"""The metric registry: every metric a gate can name, one entry each, and what follows from it.

An entry (`MetricEntry`) says a metric's name and aliases, its kind, its unit and how its value
reads, which attribute of a measurement holds its value and which estimator gives its interval
(none: the value is a count or a fact of the run, judged exactly), its default operator, and the
forms it has (per endpoint, over windows, relative to another side, tolerated against a baseline).
The SLO grammar (objectives.py), the "valid metrics" of every error message, `LoadResult.ci()`
(stats/result.py resolves the estimator names), judging (verdicts/slo.py), baseline tolerances
(tolerances.py, verdicts/baseline.py), formatting and the metric table of docs/reference.md all
read it: adding a metric is one entry here plus its measurement (docs/architecture.md).

Kinds decide units and display: `latency` (ms), `rate` (per second), `count`, `proportion` (a
fraction 0..1 shown in %), `prediction quality` (a plain number), `relative` (a fraction of
two sides together, e.g. agreement: it needs another deployment measured beside this one) and
`factor` (a plain ratio, e.g. headroom). A `sized` entry is judged on the sizing of a capacity
search (verdicts/sizing.py), not on one load: no single measurement holds it.

Plain stdlib only: both the pytest process and the Locust child import this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pytest_aksload.config.units import NUMBER, exact_float, plain_number

__all__ = [
    "COUNT",
    "LATENCY",
    "DIFFERENCE_FORM",
    "METRICS",
    "PERCENTILE",
    "FACTOR",
    "PROPORTION",
    "QUALITY",
    "RATE",
    "RATIO_FORM",
    "RELATIVE",
    "VALID_METRICS",
    "Metric",
    "MetricEntry",
    "MetricError",
    "entry_of",
    "format_metric_value",
    "metric_table",
    "parse_metric",
    "threshold_units",
    "valid_names",
]

LATENCY, RATE, COUNT, PROPORTION = "latency", "rate", "count", "proportion"
QUALITY, RELATIVE, FACTOR = "prediction quality", "relative", "factor"

# The relative forms of an objective against another side: a ratio ("p95 <= 1.10x") or a
# difference in percentage points ("failure_rate <= +0.5pp"). objectives.py re-exports them.
RATIO_FORM, DIFFERENCE_FORM = "x", "pp"

# The percentile family's entry name; its members are p<q> with 0 < q < 100.
PERCENTILE = "p<q>"


@dataclass(frozen=True)
class _Kind:
    units: dict[str, int | Fraction]  # threshold unit as written (lower case) -> factor to the canonical unit
    reads: str  # format spec of a value
    suffix: str  # shown after the value
    scale: int = 1  # a fraction shown in % is multiplied by 100


# Latency has no "" unit on purpose: durations elsewhere default to seconds, latencies are read in
# ms; a bare number is ambiguous.
_KINDS = {
    LATENCY: _Kind({"ms": 1, "s": 1000}, ".1f", "ms"),
    RATE: _Kind({"": 1, "rps": 1, "/s": 1}, ".1f", "/s"),
    COUNT: _Kind({"": 1}, ".0f", ""),
    PROPORTION: _Kind({"%": Fraction(1, 100), "": 1}, ".2f", "%", 100),
    QUALITY: _Kind({"": 1}, ".4g", ""),
    RELATIVE: _Kind({"%": Fraction(1, 100), "": 1}, ".2f", "%", 100),
    FACTOR: _Kind({"": 1}, ".3g", ""),
}


@dataclass(frozen=True)
class MetricEntry:
    """One metric of the registry (see the module docstring)."""

    name: str  # canonical, lower case; PERCENTILE for the p<q> family
    kind: str
    unit: str  # what an objective's threshold takes, as the docs say it
    value: str  # the attribute of a measurement that holds it ("percentile": its percentile(q) method)
    interval: str | None  # the estimator of its confidence interval (stats/result.py); None: exact
    default_op: str  # the operator a dict-form objective without one gets
    hint: str  # how to write its threshold, for error messages
    shown: str = ""  # how the valid-metrics list and the docs name it (default: the name)
    aliases: tuple[str, ...] = ()  # other names that read as this one (p100, p100.0 ... also read as max)
    per_endpoint: bool = False  # "p95[POST score] < 300ms"
    windowed: bool = True  # "... over 10s windows"
    relative: str | None = None  # RATIO_FORM or DIFFERENCE_FORM against another side, or None
    tolerances: tuple[str, ...] = ()  # the units of an --aks-max-regression tolerance; none: not compared
    needs_requests: bool = False  # without requests its value would be a free pass (0 ms, 0 %): NaN instead
    sized: bool = False  # judged on a capacity search's sizing (verdicts/sizing.py), not on one load

    @property
    def exact(self) -> bool:
        """A count or a fact of the run (the maximum): judged on its value, it has no interval."""
        return self.interval is None

    @property
    def label(self) -> str:
        return self.shown or self.name

    @property
    def higher_is_better(self) -> bool:
        return self.default_op.startswith(">")


_SCORE_HINT = "auc, logloss and max_abs_error take a plain number (e.g. 'auc >= 0.75', 'logloss <= 0.45')"
_LATENCY_HINT = "latency metrics take ms or s (e.g. 'p95 < 300ms')"

# The registry, in the order error messages and the docs list metrics.
METRICS: tuple[MetricEntry, ...] = (
    MetricEntry(
        PERCENTILE, LATENCY, "`ms`, `s`", "percentile", "order statistics", "<", _LATENCY_HINT,
        shown="p<q> (e.g. p50, p95, p99.9)", per_endpoint=True, relative=RATIO_FORM, tolerances=("%", "ms"),
        needs_requests=True,
    ),
    MetricEntry(
        "mean", LATENCY, "`ms`, `s`", "mean_ms", "normal", "<", _LATENCY_HINT,
        per_endpoint=True, relative=RATIO_FORM, needs_requests=True,
    ),
    # p100 is max: the recorded maximum is exact, a histogram's 100th percentile only its bucket.
    MetricEntry(
        "max", LATENCY, "`ms`, `s`", "max_ms", None, "<", _LATENCY_HINT,
        aliases=("p100",), per_endpoint=True, needs_requests=True,
    ),
    MetricEntry(
        "failure_rate", PROPORTION, "`%`", "failure_rate", "wilson", "<",
        "failure_rate takes % or a bare fraction 0..1 (e.g. 'failure_rate < 1%')",
        per_endpoint=True, relative=DIFFERENCE_FORM, tolerances=("pp",), needs_requests=True,
    ),
    MetricEntry(
        "rps", RATE, "requests per second", "rps", "request rate", ">=",
        "rps takes a plain number of requests per second (e.g. 'rps >= 100')",
        per_endpoint=True, relative=RATIO_FORM, tolerances=("%",),
    ),
    MetricEntry(
        "requests", COUNT, "count", "requests", None, ">=",
        "requests takes a plain whole number (e.g. 'requests >= 1000')", per_endpoint=True, windowed=False,
    ),
    # What the predictions under load are measured by (stats/correctness.py).
    MetricEntry(
        "mismatch_rate", PROPORTION, "`%`", "mismatch_rate", "mismatches", "<",
        "mismatch_rate takes % or a bare fraction 0..1 (e.g. 'mismatch_rate < 0.1%')", relative=DIFFERENCE_FORM,
    ),
    MetricEntry(
        "rows_per_s", RATE, "rows per second", "rows_per_s", "row rate", ">=",
        "rows_per_s takes a plain number of rows per second (e.g. 'rows_per_s >= 500')", relative=RATIO_FORM,
    ),
    MetricEntry("auc", QUALITY, "number", "auc", "auc", ">=", _SCORE_HINT),
    MetricEntry("logloss", QUALITY, "number", "logloss", "logloss", "<", _SCORE_HINT),
    MetricEntry("max_abs_error", QUALITY, "number", "max_abs_error", None, "<", _SCORE_HINT),
    # Side by side (--aks-against): rows whose predictions agree on both deployments.
    MetricEntry(
        "agreement", RELATIVE, "`%`", "agreement", "agreement", ">=",
        "agreement takes % or a bare fraction 0..1 (e.g. 'agreement >= 99.9%')", windowed=False,
    ),
    # Sizing from a capacity search and the expected peak (peak=, utilization=; verdicts/sizing.py).
    MetricEntry(
        "headroom", FACTOR, "number", "headroom", None, ">=",
        "headroom takes a plain number, capacity / peak (e.g. 'headroom >= 1.5')", windowed=False, sized=True,
    ),
    MetricEntry(
        "instances_needed", COUNT, "count", "instances_needed", None, "<=",
        "instances_needed takes a plain whole number (e.g. 'instances_needed <= 4')", windowed=False, sized=True,
    ),
)  # fmt: skip

_BY_NAME = {name: entry for entry in METRICS for name in (entry.name, *entry.aliases) if entry.name != PERCENTILE}
_PERCENTILES = next(entry for entry in METRICS if entry.name == PERCENTILE)
VALID_METRICS = ", ".join(entry.label for entry in METRICS)
_QUANTILE_RE = re.compile(rf"p(?P<q>{NUMBER})", re.ASCII)


class MetricError(ValueError):
    """A metric name could not be read; the message is one line naming it and the valid ones."""


@dataclass(frozen=True)
class Metric:
    """A metric by its canonical name (``"p95"``, ``"p99.9"``, ``"mean"``, ``"failure_rate"``, ...)."""

    name: str
    kind: str  # LATENCY, RATE, COUNT, PROPORTION, QUALITY or RELATIVE
    quantile: float | None = None  # set for pQ metrics only (0 < Q < 100)

    @property
    def entry(self) -> MetricEntry:
        return _PERCENTILES if self.quantile is not None else _BY_NAME[self.name]

    def value_of(self, measurement: Any) -> float:
        """This metric's value in `measurement` (a `LoadResult`, an endpoint's or a window's
        statistics, or anything shaped like them); NaN when it has none (agreement of one side)."""
        if self.quantile is not None:
            return float(measurement.percentile(self.quantile))
        return float(getattr(measurement, self.entry.value, math.nan))


def entry_of(name: str) -> MetricEntry:
    """The registry entry of a metric name (``parse_metric``'s rules)."""
    return parse_metric(name).entry


def parse_metric(name: str) -> Metric:
    """Read a metric name, case-insensitively (an alias reads as its metric). ``MetricError`` names what is wrong."""
    key = name.lower()
    if key in _BY_NAME:
        entry = _BY_NAME[key]
        return Metric(entry.name, entry.kind)
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
        return parse_metric("max")
    return Metric("p" + plain_number(quantile), LATENCY, quantile)


def valid_names(accepts: Callable[[MetricEntry], bool]) -> str:
    """The metrics whose entry `accepts`, as error messages list them: ``"p<q>, mean and rps"``."""
    names = [entry.name for entry in METRICS if accepts(entry)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def threshold_units(kind: str) -> dict[str, int | Fraction]:
    """The units a threshold of this kind of metric may be written in -> factor to canonical units."""
    return _KINDS[kind].units


def format_metric_value(metric: str, value: float | None, sign: str = "") -> str:
    """``value`` as people read it for ``metric``: ``412.3ms``, ``0.20%``, ``104.2/s``, ``1000``.

    ``sign="+"`` shows the sign (margins, changes); None or NaN (nothing measured) is ``n/a``; an
    infinite bound (too few requests to bound an interval) is ``unbounded``.
    """
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "unbounded"
    kind = _KINDS[parse_metric(metric).kind]
    return f"{value * kind.scale:{sign}{kind.reads}}{kind.suffix}"


def metric_table() -> list[str]:
    """The metric table of docs/reference.md, one Markdown line each (a unit test keeps them equal)."""
    lines = [
        "| metric | kind | threshold unit | reads as | interval | operator when omitted (dict form) |",
        "|---|---|---|---|---|---|",
    ]
    for entry in METRICS:
        names = "`p50`, `p95`, `p99`, `p99.9`, any `pQ`" if entry.name == PERCENTILE else f"`{entry.name}`"
        example = format_metric_value("p95" if entry.name == PERCENTILE else entry.name, _EXAMPLE[entry.kind])
        interval = "none: exact" if entry.exact else _ESTIMATORS[entry.interval]
        lines.append(f"| {names} | {entry.kind} | {entry.unit} | `{example}` | {interval} | `{entry.default_op}` |")
    return lines


# How each estimator (the registry's `interval`) bounds its metric, as docs/verdicts.md explains.
_ESTIMATORS = {
    "order statistics": "order statistics (distribution-free)",
    "normal": "normal approximation",
    "wilson": "Wilson score",
    "request rate": "batch means over the windows",
    "row rate": "request rate × rows per request",
    "mismatches": "Wilson score of the checked rows",
    "auc": "Hanley-McNeil",
    "logloss": "normal approximation of the mean loss",
    "agreement": "Wilson score of the compared rows",
}
_EXAMPLE = {
    LATENCY: 412.345, RATE: 104.25, COUNT: 1000.0, PROPORTION: 0.002, QUALITY: 0.78125, RELATIVE: 0.9991,
    FACTOR: 1.875,
}  # fmt: skip
