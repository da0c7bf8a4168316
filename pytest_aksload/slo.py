"""Service-level objectives: the one place that reads, checks and explains them.

The marker's ``slo=`` argument, assertions in test bodies and every report go through
this module, so an objective means the same thing everywhere it appears.

Grammar (whitespace- and case-insensitive)::

    objective := metric op number [unit]
    metric    := pQ            0 < Q <= 100, e.g. p50, p95, p99.9 (p100 is max)
               | mean | max                         latency metrics
               | failure_rate | rps | requests
    op        := <  |  <=  |  >  |  >=
    number    := digits with an optional decimal fraction (no sign, no exponent)
    unit      := ms | s        latency metrics: required (a bare 300 could be ms or s)
               | % | none      failure_rate: percent, or a bare fraction 0..1
               | none | rps | /s    rps
               | none          requests: a whole number

Thresholds are held in canonical units: latency in ms, failure_rate as a fraction 0..1,
rps per second, requests as a count. ``"... over 10s windows"`` is reserved for windowed
objectives and rejected for now.

Plain stdlib only: no pytest, locust or pandas (see DESIGN.md, hard rule 1).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from pytest_aksload.units import NUMBER, exact_float, exact_fraction, plain_number

__all__ = [
    "FAIL",
    "OPERATORS",
    "PASS",
    "Measurements",
    "Slo",
    "SloError",
    "SloSpec",
    "SloVerdict",
    "SloViolation",
    "assert_slos",
    "evaluate",
    "failed_message",
    "format_verdicts",
    "parse_slo",
    "parse_slos",
]

# Verdicts are strings, not a bool, so that a third outcome (INCONCLUSIVE, from confidence
# intervals) can be added without changing what callers store or print.
PASS = "PASS"
FAIL = "FAIL"

OPERATORS = ("<", "<=", ">", ">=")
_UPPER_BOUNDS = ("<", "<=")  # objectives that cap a value; the others set a floor

# Metric kinds decide units, defaults and formatting.
_LATENCY, _FAILURE_RATE, _RPS, _REQUESTS = "latency", "failure_rate", "rps", "requests"
_NAMED_METRICS = {
    "mean": _LATENCY,
    "max": _LATENCY,
    "failure_rate": _FAILURE_RATE,
    "rps": _RPS,
    "requests": _REQUESTS,
}
_RESULT_ATTRIBUTE = {
    "mean": "mean_ms",
    "max": "max_ms",
    "failure_rate": "failure_rate",
    "rps": "rps",
    "requests": "requests",
}
# Lower-case unit -> factor to canonical units. Latency has no "" entry on purpose:
# durations elsewhere default to seconds, latencies are read in ms; a bare number is ambiguous.
_UNITS: dict[str, dict[str, int | Fraction]] = {
    _LATENCY: {"ms": 1, "s": 1000},
    _FAILURE_RATE: {"%": Fraction(1, 100), "": 1},
    _RPS: {"": 1, "rps": 1, "/s": 1},
    _REQUESTS: {"": 1},
}
_UNIT_HINT = {
    _LATENCY: "latency metrics take ms or s (e.g. 'p95 < 300ms')",
    _FAILURE_RATE: "failure_rate takes % or a bare fraction 0..1 (e.g. 'failure_rate < 1%')",
    _RPS: "rps takes a plain number of requests per second (e.g. 'rps >= 100')",
    _REQUESTS: "requests takes a plain whole number (e.g. 'requests >= 1000')",
}
# A dict value without an operator gets the usual direction: latency and errors are
# ceilings, throughput and volume are floors.
_DEFAULT_OP = {_LATENCY: "<", _FAILURE_RATE: "<", _RPS: ">=", _REQUESTS: ">="}
_VALID_METRICS = "p<q> (e.g. p50, p95, p99.9), mean, max, failure_rate, rps, requests"
_VALID_OPERATORS = " ".join(OPERATORS)

# Deliberately lenient: every non-empty string matches, and each part is then validated on
# its own so the error can name the part that is wrong. The trailing "over ..." group is
# where windowed objectives ("p95 < 300ms over 10s windows") will plug in.
_SHAPE = re.compile(
    rf"""
    (?P<metric>[^\s<>=!]*)\s*
    (?P<op>[<>=!]*)\s*
    (?P<value>(?P<sign>[+-]?)(?P<number>{NUMBER})?\s*(?P<unit>.*?))\s*
    (?:(?<=\s)over\b(?P<window>.*))?   # a lookbehind, as the \s* runs above have taken the space
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE | re.ASCII,
)
_QUANTILE_RE = re.compile(rf"p(?P<q>{NUMBER})", re.ASCII)


class SloError(ValueError):
    """An objective could not be read. The message is one line naming the bad part."""


class Measurements(Protocol):
    """What ``evaluate`` reads from a result (``LoadResult`` or anything shaped like it)."""

    mean_ms: float
    max_ms: float
    failure_rate: float
    rps: float
    requests: int

    def percentile(self, q: float) -> float: ...


@dataclass(frozen=True)
class Slo:
    """One objective, e.g. ``p95 < 300ms``. ``text`` is what the user wrote and is not
    part of equality: ``"p95<300ms"`` and ``"P95 < 0.3s"`` are the same objective."""

    text: str = field(compare=False)
    metric: str  # canonical: "p95", "p99.9", "mean", "max", "failure_rate", "rps", "requests"
    op: str
    threshold: float  # canonical units: ms, fraction 0..1, per second, count
    quantile: float | None = None  # set for pQ metrics only

    @property
    def kind(self) -> str:
        """``"latency"``, ``"failure_rate"``, ``"rps"`` or ``"requests"``."""
        return _NAMED_METRICS.get(self.metric, _LATENCY)

    @property
    def objective(self) -> str:
        """The right-hand side as shown to people, e.g. ``"< 300ms"``, ``">= 100/s"``."""
        suffix = "/s" if self.kind == _RPS else ""
        return f"{self.op} {_threshold_text(self)}{suffix}"

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {_threshold_text(self)}"


# Everything the marker's slo= may be; parse_slos() turns any of it into a list of Slo.
SloSpec = None | str | Slo | Sequence[str | Slo] | Mapping[str, str | float]


def parse_slo(text: str) -> Slo:
    """Read one objective such as ``"p95 < 300ms"``; raise ``SloError`` naming the bad part."""
    if not isinstance(text, str):
        raise SloError(f"slo must be a string like 'p95 < 300ms', got {type(text).__name__} {text!r}")
    stripped = text.strip()
    if not stripped:
        raise _error(text, "empty objective; write it like 'p95 < 300ms'")
    shape = _SHAPE.fullmatch(stripped)
    assert shape is not None  # the pattern matches any non-empty string
    if shape["window"] is not None:
        raise _error(
            text, "windowed SLOs are not supported yet; state the objective for the whole run, e.g. 'p95 < 300ms'"
        )
    if not shape["metric"]:
        raise _error(text, f"missing metric; valid metrics: {_VALID_METRICS}")
    metric, quantile, kind = _parse_metric(shape["metric"], text)

    op = shape["op"]
    if not op:
        raise _error(text, f"missing operator after {shape['metric']!r}; use one of {_VALID_OPERATORS}")
    if op not in OPERATORS:
        raise _error(text, f"unknown operator {op!r}; use one of {_VALID_OPERATORS}")

    number, unit = shape["number"], shape["unit"]
    if number is None:
        problem = f"expected a number, got {shape['value']!r}" if shape["value"] else f"missing value after {op!r}"
        raise _error(text, f"{problem}; {_UNIT_HINT[kind]}")
    if shape["sign"] == "-":
        raise _error(text, f"threshold must not be negative; {_UNIT_HINT[kind]}")
    factor = _UNITS[kind].get(unit.lower())
    if factor is None:
        problem = f"unknown unit {unit!r}" if unit else "missing unit"
        raise _error(text, f"{problem}; {_UNIT_HINT[kind]}")
    try:
        threshold = exact_float(number, factor)
        whole = exact_fraction(number).denominator == 1
    except OverflowError:
        raise _error(text, f"value {number!r} is too large") from None

    if kind == _FAILURE_RATE and threshold > 1:
        problem = (
            f"a bare failure_rate is a fraction 0..1; for a percentage write {number}%"
            if not unit
            else "failure_rate cannot exceed 100%"
        )
        raise _error(text, problem)
    if kind == _REQUESTS and not whole:
        raise _error(text, f"requests must be a whole number, got {number!r}")
    return Slo(text=text, metric=metric, op=op, threshold=threshold, quantile=quantile)


def parse_slos(value: SloSpec) -> list[Slo]:
    """Objectives from the marker's ``slo=``: None, a string, a list/tuple of strings, or a dict.

    Dict form: ``{"p95": "300ms", "failure_rate": "1%", "rps": "> 50"}``. A value without an
    operator means ``<`` for latency and failure_rate and ``>=`` for rps and requests. A
    number value is read like the same number written bare in a string: a fraction for
    failure_rate, per second for rps, a count for requests; latency needs a string with a
    unit (``{"p95": 300}`` is an error, as ``"p95 < 300"`` is). ``Slo`` objects pass through.
    """
    if value is None:
        return []
    if isinstance(value, Slo):
        return [value]
    if isinstance(value, str):
        return [parse_slo(value)]
    if isinstance(value, (list, tuple)):
        return [_parse_item(item) for item in value]
    if isinstance(value, Mapping):
        return [_parse_entry(key, item) for key, item in value.items()]
    raise SloError(
        "slo must be a string, a list of strings or a dict like {'p95': '300ms'}, "
        f"got {type(value).__name__} {value!r}"
    )


def _parse_item(item: object) -> Slo:
    if isinstance(item, Slo):
        return item
    if isinstance(item, str):
        return parse_slo(item)
    raise SloError(f"each slo in a list must be a string like 'p95 < 300ms', got {type(item).__name__} {item!r}")


def _parse_entry(key: object, value: object) -> Slo:
    if not isinstance(key, str):
        raise SloError(f"slo dict keys must be metric names like 'p95', got {type(key).__name__} {key!r}")
    if isinstance(value, str):
        body = value.strip()
        if body and body[0] in "<>=!":
            return parse_slo(f"{key} {body}")
        return parse_slo(f"{key} {_default_op(key)} {body}")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise SloError(f"slo {{{key!r}: {value!r}}}: the threshold must be a finite number")
        return parse_slo(f"{key} {_default_op(key)} {plain_number(number)}")
    raise SloError(
        f"slo {{{key!r}: {value!r}}}: the value must be a string like '300ms' or '< 300ms', "
        f"or a number, got {type(value).__name__}"
    )


def _default_op(key: str) -> str:
    try:
        return _DEFAULT_OP[_parse_metric(key.strip(), key)[2]]
    except SloError:
        return "<"  # unknown metric: parse_slo reports it with the full text


def _parse_metric(name: str, text: str) -> tuple[str, float | None, str]:
    """(canonical name, quantile or None, kind) for a metric word."""
    key = name.lower()
    if key in _NAMED_METRICS:
        return key, None, _NAMED_METRICS[key]
    match = _QUANTILE_RE.fullmatch(key)
    if match is None:
        raise _error(text, f"unknown metric {name!r}; valid metrics: {_VALID_METRICS}")
    try:
        quantile = exact_float(match["q"])
    except OverflowError:
        quantile = math.inf
    if not 0 < quantile <= 100:
        raise _error(text, f"quantile {name!r} is out of range; use p<q> with 0 < q <= 100, e.g. p95 (p100 is max)")
    if quantile == 100:
        # The maximum is recorded exactly; a histogram's 100th percentile is only its bucket.
        return "max", None, _LATENCY
    return "p" + plain_number(quantile), quantile, _LATENCY


def _threshold_text(slo: Slo) -> str:
    """Threshold in the form ``str(slo)`` uses; always reads back to the same float."""
    if slo.kind == _LATENCY:
        return plain_number(slo.threshold, -3) + "s" if slo.threshold >= 1000 else plain_number(slo.threshold) + "ms"
    if slo.kind == _FAILURE_RATE:
        return plain_number(slo.threshold, 2) + "%"
    return plain_number(slo.threshold)


def _error(text: str, problem: str) -> SloError:
    # repr() keeps the message on one line whatever the text contains.
    return SloError(f"slo {text!r}: {problem}")


@dataclass(frozen=True)
class SloVerdict:
    """The outcome of one objective against one result.

    ``measured`` and ``margin`` are in the objective's canonical units; ``margin`` is
    positive for headroom and negative for a violation. Nothing measured (no requests) is
    NaN and fails: a gate must not pass on no evidence.
    """

    slo: Slo
    measured: float
    margin: float
    verdict: str  # PASS or FAIL

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def describe(self) -> str:
        """One line, e.g. ``p95 < 300ms: measured 412.3ms, objective < 300ms, over by 112.3ms (FAIL)``."""
        head = f"{self.slo}: "
        if math.isnan(self.measured):
            return f"{head}nothing was measured, objective {self.slo.objective} ({self.verdict})"
        if self.passed:
            how = f"headroom {_format(self.slo.kind, abs(self.margin))}"
        elif self.margin == 0:
            how = f"exactly at the limit, which {self.slo.op} excludes"
        else:
            direction = "over" if self.slo.op in _UPPER_BOUNDS else "short"
            how = f"{direction} by {_format(self.slo.kind, -self.margin)}"
        return (
            f"{head}measured {_format(self.slo.kind, self.measured)}, "
            f"objective {self.slo.objective}, {how} ({self.verdict})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; NaN becomes None because JSON has no NaN."""
        return {
            "objective": str(self.slo),
            "metric": self.slo.metric,
            "op": self.slo.op,
            "threshold": self.slo.threshold,
            "measured": None if math.isnan(self.measured) else self.measured,
            "margin": None if math.isnan(self.margin) else self.margin,
            "verdict": self.verdict,
        }


def evaluate(slos: SloSpec, result: Measurements) -> list[SloVerdict]:
    """One verdict per objective, in order. ``slos`` is anything ``parse_slos`` accepts."""
    verdicts = []
    for slo in parse_slos(slos):
        measured = _measure(slo, result)
        if math.isnan(measured):
            verdicts.append(SloVerdict(slo, measured, math.nan, FAIL))
            continue
        margin = slo.threshold - measured if slo.op in _UPPER_BOUNDS else measured - slo.threshold
        # For finite floats a - b == 0 exactly when a == b, so the margin alone decides.
        holds = margin > 0 or (margin == 0 and slo.op in ("<=", ">="))
        verdicts.append(SloVerdict(slo, measured, margin, PASS if holds else FAIL))
    return verdicts


def _measure(slo: Slo, result: Measurements) -> float:
    # With no requests, a latency of 0 or a failure rate of 0 would be a free pass.
    if slo.kind in (_LATENCY, _FAILURE_RATE) and not result.requests:
        return math.nan
    if slo.quantile is not None:
        return float(result.percentile(slo.quantile))
    return float(getattr(result, _RESULT_ATTRIBUTE[slo.metric]))


def _format(kind: str, value: float, sign: str = "") -> str:
    """Display form per metric kind; ``sign="+"`` shows the sign of margins."""
    if math.isnan(value):
        return "n/a"
    if kind == _LATENCY:
        return f"{value:{sign}.1f}ms"
    if kind == _FAILURE_RATE:
        return f"{value * 100:{sign}.2f}%"
    if kind == _RPS:
        return f"{value:{sign}.1f}/s"
    return f"{value:{sign}.0f}"


def format_verdicts(verdicts: Sequence[SloVerdict]) -> str:
    """Aligned plain-text table (objective | measured | margin | verdict) for summaries."""
    if not verdicts:
        return "(no SLOs)"
    rows = [("objective", "measured", "margin", "verdict")] + [
        (str(v.slo), _format(v.slo.kind, v.measured), _format(v.slo.kind, v.margin, "+"), v.verdict) for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for objective, measured, margin, verdict in rows:
        line = f"{objective:<{widths[0]}}  {measured:>{widths[1]}}  {margin:>{widths[2]}}  {verdict}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def failed_message(verdicts: Sequence[SloVerdict]) -> str:
    """A header line, then one ``describe()`` line per objective, passing ones included."""
    failed = sum(not v.passed for v in verdicts)
    lines = [f"SLO violated: {failed} of {len(verdicts)} objectives failed"]
    lines.extend(v.describe() for v in verdicts)
    return "\n".join(lines)


class SloViolation(AssertionError):
    """Raised when objectives fail; an AssertionError so pytest reports a FAIL, not an ERROR."""

    def __init__(self, verdicts: Sequence[SloVerdict]) -> None:
        self.verdicts = tuple(verdicts)
        super().__init__(failed_message(self.verdicts))

    def __reduce__(self) -> tuple[type[SloViolation], tuple[tuple[SloVerdict, ...]]]:
        # Rebuild from the verdicts, not the message, so it survives pickling (xdist, subprocesses).
        return (type(self), (self.verdicts,))


def assert_slos(slos: SloSpec, result: Measurements) -> list[SloVerdict]:
    """Evaluate and raise ``SloViolation`` if any objective fails; return the verdicts otherwise.

    For test bodies: ``assert_slos(["p95 < 300ms", "failure_rate < 1%"], load_result)``.
    """
    verdicts = evaluate(slos, result)
    if not all(v.passed for v in verdicts):
        raise SloViolation(verdicts)
    return verdicts
