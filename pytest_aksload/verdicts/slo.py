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
rps per second, requests as a count.

Windowed objectives (``objective over D windows``, D a duration such as ``10s`` or ``1m``) must
hold in EVERY consecutive window of D seconds of the measured run, not just on average: a
service that fails everything for its last 5 s can keep a 25 s run under 25 % failures, but not
its last 10 s window. ``requests`` has no windowed form (use ``rps``).

Verdicts are three-way when the result carries confidence intervals (``result.ci(metric)``, see
confidence.py): PASS when the whole interval meets the objective, FAIL when the whole interval
violates it, INCONCLUSIVE when it straddles the threshold or is unbounded (too few requests). A
windowed objective FAILs if any window fails, PASSes if all pass; the per-window intervals are
Bonferroni-corrected (confidence 1 - a/k over k windows) so that checking many windows does not
multiply false alarms. Results without ``ci`` (plain objects in tests) get PASS/FAIL on the value.

Plain stdlib only: no pytest, locust or pandas (see DESIGN.md, hard rule 1).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Protocol

from pytest_aksload.config.units import (
    NUMBER,
    UnitError,
    exact_float,
    exact_fraction,
    format_duration,
    parse_duration,
    plain_number,
)

__all__ = [
    "FAIL",
    "INCONCLUSIVE",
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
    "format_value",
    "format_verdicts",
    "parse_slo",
    "parse_slos",
]

# Verdicts are strings, not a bool: a third outcome, INCONCLUSIVE, comes from confidence intervals.
PASS = "PASS"
FAIL = "FAIL"
INCONCLUSIVE = "INCONCLUSIVE"
DEFAULT_CONFIDENCE = 0.95

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
# its own so the error can name the part that is wrong. The trailing "over ..." group holds
# the window of a windowed objective ("p95 < 300ms over 10s windows").
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
_WINDOW_RE = re.compile(r"\s*(?P<duration>.*?)\s*windows?\s*", re.DOTALL | re.IGNORECASE | re.ASCII)
_WINDOW_HINT = "write the window like 'over 10s windows' (a duration: 10s, 1m, 500ms)"


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
    window_s: float | None = None  # set for windowed objectives ("... over 10s windows")

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
        window = f" over {format_duration(self.window_s)} windows" if self.window_s is not None else ""
        return f"{self.metric} {self.op} {_threshold_text(self)}{window}"


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
    window_s = None if shape["window"] is None else _parse_window(shape["window"], kind, text)
    return Slo(text=text, metric=metric, op=op, threshold=threshold, quantile=quantile, window_s=window_s)


def _parse_window(text_after_over: str, kind: str, text: str) -> float:
    if kind == _REQUESTS:
        raise _error(
            text, "requests has no windowed form; bound throughput per window with 'rps >= N over 10s windows'"
        )
    match = _WINDOW_RE.fullmatch(text_after_over)
    if match is None or not match["duration"]:
        raise _error(text, _WINDOW_HINT)
    try:
        return parse_duration(match["duration"], what="window")
    except UnitError as error:
        raise _error(text, f"{error}; {_WINDOW_HINT}") from None


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
    positive for headroom and negative for a violation. ``low``/``high`` is the confidence
    interval of the measured value (both equal ``measured`` when the result has none).
    ``reason`` says why a verdict is INCONCLUSIVE; ``window`` is ``(start_s, end_s)`` of the
    worst window of a windowed objective (seconds from the start of the run). Nothing measured
    (no requests) is NaN and fails: a gate must not pass on no evidence.
    """

    slo: Slo
    measured: float
    margin: float
    verdict: str  # PASS, FAIL or INCONCLUSIVE
    low: float = math.nan
    high: float = math.nan
    confidence: float | None = None
    reason: str | None = None
    window: tuple[float, float] | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def interval_text(self) -> str:
        """``"380.1..450.2ms"``, or ``""`` without an interval (or a degenerate one)."""
        if self.confidence is None or math.isnan(self.low) or self.low == self.high:
            return ""
        return f"{_format(self.slo.kind, self.low)}..{_format(self.slo.kind, self.high)}"

    def describe(self) -> str:
        """One line, e.g. ``p95 < 300ms: measured 412.3ms (95% CI 398.0ms..430.1ms), objective < 300ms,
        over by 112.3ms (FAIL)``."""
        head = f"{self.slo}: "
        if self.window is not None:
            head += f"worst window {self.window[0]:g}-{self.window[1]:g}s: "
        if math.isnan(self.measured):
            why = f"; {self.reason}" if self.reason else ""
            return f"{head}nothing was measured, objective {self.slo.objective}{why} ({self.verdict})"
        if self.verdict == INCONCLUSIVE:
            how = self.reason or "the confidence interval straddles the objective"
        elif self.passed:
            how = f"headroom {_format(self.slo.kind, abs(self.margin))}"
        elif self.margin == 0:
            how = f"exactly at the limit, which {self.slo.op} excludes"
        else:
            direction = "over" if self.slo.op in _UPPER_BOUNDS else "short"
            how = f"{direction} by {_format(self.slo.kind, -self.margin)}"
        interval = f" ({self.confidence:.0%} CI {self.interval_text})" if self.interval_text else ""
        return (
            f"{head}measured {_format(self.slo.kind, self.measured)}{interval}, "
            f"objective {self.slo.objective}, {how} ({self.verdict})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; NaN becomes None and an unbounded side "inf" becomes None too."""
        return {
            "objective": str(self.slo),
            "metric": self.slo.metric,
            "op": self.slo.op,
            "threshold": self.slo.threshold,
            "window_s": self.slo.window_s,
            "measured": _json(self.measured),
            "margin": _json(self.margin),
            "ci": None if self.confidence is None else [_json(self.low), _json(self.high)],
            "confidence": self.confidence,
            "verdict": self.verdict,
            "reason": self.reason,
            "window": None if self.window is None else list(self.window),
        }


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


class WindowedMeasurements(Measurements, Protocol):
    """One window of a run: the measurements plus where it lies (seconds from the run's start)."""

    start_offset_s: float
    duration_s: float


def evaluate(slos: SloSpec, result: Measurements, confidence: float = DEFAULT_CONFIDENCE) -> list[SloVerdict]:
    """One verdict per objective, in order. ``slos`` is anything ``parse_slos`` accepts.

    A result with ``ci(metric, confidence)`` gets three-way verdicts; a windowed objective
    needs ``result.windows(window_s)`` (a sequence of ``WindowedMeasurements``).
    """
    verdicts = []
    for slo in parse_slos(slos):
        if slo.window_s is None:
            verdicts.append(_judge(slo, result, confidence))
        else:
            verdicts.append(_judge_windows(slo, result, confidence))
    return verdicts


def _judge(slo: Slo, result: Measurements, confidence: float) -> SloVerdict:
    measured = _measure(slo, result)
    if math.isnan(measured):
        return SloVerdict(slo, measured, math.nan, FAIL)
    margin = slo.threshold - measured if slo.op in _UPPER_BOUNDS else measured - slo.threshold
    ci = getattr(result, "ci", None)
    if ci is None or slo.kind == _REQUESTS or slo.metric == "max":
        # Counts and the observed maximum are facts of the run, not estimates.
        verdict = PASS if _holds(slo, measured) else FAIL
        return SloVerdict(slo, measured, margin, verdict, measured, measured)
    low, high = ci(slo.metric, confidence)
    low_holds, high_holds = _holds(slo, low), _holds(slo, high)
    if low_holds and high_holds:
        return SloVerdict(slo, measured, margin, PASS, low, high, confidence)
    if not low_holds and not high_holds:
        return SloVerdict(slo, measured, margin, FAIL, low, high, confidence)
    if math.isinf(low) or math.isinf(high) or (slo.kind == _LATENCY and low == 0):
        reason = f"too few requests ({result.requests}) to bound {slo.metric} at {confidence:.0%} confidence"
    else:
        reason = f"the {confidence:.0%} confidence interval straddles the objective; run longer to decide"
    return SloVerdict(slo, measured, margin, INCONCLUSIVE, low, high, confidence, reason)


def _holds(slo: Slo, value: float) -> bool:
    # For finite floats a - b == 0 exactly when a == b, so the margin alone decides.
    margin = slo.threshold - value if slo.op in _UPPER_BOUNDS else value - slo.threshold
    return margin > 0 or (margin == 0 and slo.op in ("<=", ">="))


# Worst first: a failing window beats an undecided one, which beats a passing one.
_SEVERITY = {FAIL: 0, INCONCLUSIVE: 1, PASS: 2}


def _judge_windows(slo: Slo, result: Measurements, confidence: float) -> SloVerdict:
    assert slo.window_s is not None
    windows_of = getattr(result, "windows", None)
    if windows_of is None:
        raise TypeError(f"{slo}: the result has no windows(window_s) to judge a windowed objective on")
    windows: Sequence[WindowedMeasurements] = windows_of(slo.window_s)
    if not windows:
        reason = f"the measured run has no complete {format_duration(slo.window_s)} window"
        return SloVerdict(slo, math.nan, math.nan, INCONCLUSIVE, reason=reason)
    # Bonferroni: k windows at 1 - a/k each keep the chance of any false alarm at most a.
    per_window = 1.0 - (1.0 - confidence) / len(windows)
    judged = []
    for window in windows:
        bare = Slo(text=slo.text, metric=slo.metric, op=slo.op, threshold=slo.threshold, quantile=slo.quantile)
        verdict = _judge(bare, window, per_window)
        judged.append((_SEVERITY[verdict.verdict], _nan_low(verdict.margin), window, verdict))
    _, _, worst_window, worst = min(judged, key=lambda item: item[:2])
    start = worst_window.start_offset_s
    return replace(worst, slo=slo, window=(round(start, 3), round(start + worst_window.duration_s, 3)))


def _nan_low(margin: float) -> float:
    return -math.inf if math.isnan(margin) else margin


def _measure(slo: Slo, result: Measurements) -> float:
    # With no requests, a latency of 0 or a failure rate of 0 would be a free pass.
    if slo.kind in (_LATENCY, _FAILURE_RATE) and not result.requests:
        return math.nan
    if slo.quantile is not None:
        return float(result.percentile(slo.quantile))
    return float(getattr(result, _RESULT_ATTRIBUTE[slo.metric]))


def format_value(slo: Slo, value: float) -> str:
    """`value` in the display form of `slo`'s metric, e.g. ``412.3ms``, ``0.20%``, ``104.2/s``."""
    return _format(slo.kind, value)


def _format(kind: str, value: float, sign: str = "") -> str:
    """Display form per metric kind; ``sign="+"`` shows the sign of margins."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return f"{value:{sign}}"  # an interval side too few requests bound: "inf", never "infms"
    if kind == _LATENCY:
        return f"{value:{sign}.1f}ms"
    if kind == _FAILURE_RATE:
        return f"{value * 100:{sign}.2f}%"
    if kind == _RPS:
        return f"{value:{sign}.1f}/s"
    return f"{value:{sign}.0f}"


def format_verdicts(verdicts: Sequence[SloVerdict]) -> str:
    """Aligned plain-text table (objective | measured | CI | margin | verdict [| why]) for summaries."""
    if not verdicts:
        return "(no SLOs)"
    rows = [("objective", "measured", "CI", "margin", "verdict")] + [
        (
            str(v.slo),
            _format(v.slo.kind, v.measured),
            v.interval_text or "-",
            _format(v.slo.kind, v.margin, "+"),
            v.verdict + _verdict_note(v),
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for objective, measured, interval, margin, verdict in rows:
        cells = f"{objective:<{widths[0]}}  {measured:>{widths[1]}}  {interval:>{widths[2]}}  {margin:>{widths[3]}}"
        lines.append(f"{cells}  {verdict}".rstrip())
    return "\n".join(lines)


def _verdict_note(verdict: SloVerdict) -> str:
    notes = []
    if verdict.window is not None:
        notes.append(f"worst window {verdict.window[0]:g}-{verdict.window[1]:g}s")
    if verdict.verdict == INCONCLUSIVE and verdict.reason:
        notes.append(verdict.reason)
    return f" ({'; '.join(notes)})" if notes else ""


def failed_message(verdicts: Sequence[SloVerdict]) -> str:
    """A header line, then one ``describe()`` line per objective, passing ones included."""
    failed = sum(v.verdict == FAIL for v in verdicts)
    undecided = sum(v.verdict == INCONCLUSIVE for v in verdicts)
    counts = f"{failed} of {len(verdicts)} objectives failed" + (f", {undecided} inconclusive" if undecided else "")
    lines = [f"SLO violated: {counts}"]
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
