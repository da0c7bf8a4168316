"""Service-level objectives as users write them: the grammar, read once at collection time.

The marker's ``slo=`` and ``abort_on=``, assertions in test bodies and every report read
objectives through this module, so an objective means the same thing everywhere it appears;
verdicts/slo.py judges them against a result.

Grammar (whitespace- and case-insensitive)::

    objective := metric [scope] op value [over D windows]
    metric    := a name or alias of the metric registry (config/metrics.py: pQ with 0 < Q <= 100,
                 mean, max, failure_rate, rps, ...; docs/reference.md's table lists them)
    scope     := "[" endpoint "]"   one endpoint, named as a key of result.endpoints ("POST score");
                                    for the metrics whose entry has `per_endpoint`
    op        := <  |  <=  |  >  |  >=
    value     := number [unit]                      absolute: the candidate's own value
               | number "x"                         ratio candidate / other side (entry `relative` "x")
               | [+|-] number "pp"                  difference candidate - other side in percentage
                                                    points (entry `relative` "pp")
    number    := digits with an optional decimal fraction (no exponent; a sign only before pp)
    unit      := ms | s        latency: required (a bare 300 could be ms or s)
               | % | none      proportion, relative: percent, or a bare fraction 0..1
               | none | rps | /s    rate
               | none          count: a whole number; prediction quality: a number

Thresholds are held in canonical units: latency in ms, failure_rate as a fraction 0..1,
rps per second, requests as a count; a ratio as the ratio, a pp difference as a fraction
(``+0.5pp`` is 0.005). Relative objectives (``x``, ``pp``) and ``agreement`` compare with another
deployment (``Slo.compares``): the gate needs ``--aks-against``/``--aks-against-uri``/``against=``.

Windowed objectives (``objective over D windows``, D a duration such as ``10s`` or ``1m``) must
hold in EVERY consecutive window of D seconds of the measured run, not just on average: a
service that fails everything for its last 5 s can keep a 25 s run under 25 % failures, but not
its last 10 s window. ``requests`` has no windowed form (use ``rps``); relative, per-endpoint
and agreement objectives are judged on the whole run (windows record neither side apart nor
endpoints apart).

Plain stdlib only: no pytest, locust or pandas (docs/architecture.md: the pytest process never imports locust).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pytest_aksload.config.metrics import (
    COUNT,
    DIFFERENCE_FORM,
    LATENCY,
    PROPORTION,
    RATE,
    RATIO_FORM,
    RELATIVE,
    VALID_METRICS,
    MetricEntry,
    MetricError,
    entry_of,
    format_metric_value,
    parse_metric,
    threshold_units,
    valid_names,
)
from pytest_aksload.config.units import (
    NUMBER,
    UnitError,
    exact_float,
    exact_fraction,
    format_duration,
    parse_duration,
    plain_number,
)

__all__ = ["OPERATORS", "RATIO", "DIFFERENCE", "Slo", "SloError", "SloSpec", "parse_slo", "parse_slos"]

OPERATORS = ("<", "<=", ">", ">=")
_UPPER_BOUNDS = ("<", "<=")  # objectives that cap a value; the others set a floor

_VALID_OPERATORS = " ".join(OPERATORS)

# Relative forms: a ratio candidate/other ("p95 <= 1.10x") or a difference candidate - other in
# percentage points ("failure_rate <= +0.5pp"); the registry says which metrics have each.
RATIO, DIFFERENCE = RATIO_FORM, DIFFERENCE_FORM
_RATIO_HINT = f"a ratio to the other side (x) is for {valid_names(lambda e: e.relative == RATIO)}, e.g. 'p95 <= 1.10x'"
_DIFFERENCE_HINT = (
    "a difference from the other side in percentage points (pp) is for "
    f"{valid_names(lambda e: e.relative == DIFFERENCE)}, e.g. 'failure_rate <= +0.5pp'"
)
# What an endpoint's statistics give (no rows or predictions are kept per endpoint).
_SCOPED_HINT = f"per-endpoint objectives are for {valid_names(lambda e: e.per_endpoint)}"


# Deliberately lenient: every non-empty string matches, and each part is then validated on
# its own so the error can name the part that is wrong. The trailing "over ..." group holds
# the window of a windowed objective ("p95 < 300ms over 10s windows").
_SHAPE = re.compile(
    rf"""
    (?P<metric>[^\s<>=!\[]*)\s*
    (?:\[(?P<endpoint>[^\]]*)(?P<close>\]?))?\s*   # an unterminated "[" takes the rest, to say so
    (?P<op>[<>=!]*)\s*
    (?P<value>(?P<sign>[+-]?)(?P<number>{NUMBER})?\s*(?P<unit>.*?))\s*
    (?:(?<=\s)over\b(?P<window>.*))?   # a lookbehind, as the \s* runs above have taken the space
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE | re.ASCII,
)
_WINDOW_RE = re.compile(r"\s*(?P<duration>.*?)\s*windows?\s*", re.DOTALL | re.IGNORECASE | re.ASCII)
_WINDOW_HINT = "write the window like 'over 10s windows' (a duration: 10s, 1m, 500ms)"


class SloError(ValueError):
    """An objective could not be read. The message is one line naming the bad part."""


@dataclass(frozen=True)
class Slo:
    """One objective, e.g. ``p95 < 300ms``. ``text`` is what the user wrote and is not
    part of equality: ``"p95<300ms"`` and ``"P95 < 0.3s"`` are the same objective."""

    text: str = field(compare=False)
    metric: str  # canonical: "p95", "p99.9", "mean", "max", "failure_rate", "rps", "requests", ...
    op: str
    threshold: float  # canonical units: ms, fraction 0..1, per second, count
    quantile: float | None = None  # set for pQ metrics only
    window_s: float | None = None  # set for windowed objectives ("... over 10s windows")
    endpoint: str | None = None  # set for per-endpoint objectives ("p95[POST score] < 300ms")
    relative: str | None = None  # RATIO ("x") or DIFFERENCE ("pp") against the other side

    @property
    def compares(self) -> bool:
        """True when judging needs another deployment's figures (a relative objective or agreement)."""
        return self.relative is not None or self.kind == RELATIVE

    @property
    def entry(self) -> MetricEntry:
        """The metric's registry entry (config/metrics.py)."""
        return parse_metric(self.metric).entry

    @property
    def kind(self) -> str:
        """The metric's kind: ``"latency"``, ``"rate"``, ``"count"``, ``"proportion"``, ``"prediction quality"``
        or ``"relative"`` (of the metric: a relative objective's value is a ratio or difference, see ``relative``)."""
        return parse_metric(self.metric).kind

    @property
    def caps(self) -> bool:
        """True when the objective caps the value (``<``, ``<=``); otherwise it sets a floor."""
        return self.op in _UPPER_BOUNDS

    def margin(self, value: float) -> float:
        """Headroom of ``value`` against the threshold: positive inside, negative beyond it."""
        return self.threshold - value if self.caps else value - self.threshold

    @property
    def objective(self) -> str:
        """The right-hand side as shown to people, e.g. ``"< 300ms"``, ``">= 100/s"``, ``"<= 1.10x"``."""
        suffix = "/s" if self.kind == RATE and self.relative is None else ""
        return f"{self.op} {_threshold_text(self)}{suffix}"

    @property
    def subject(self) -> str:
        """The metric with its scope, e.g. ``"p95"``, ``"p95[POST score]"``."""
        return self.metric if self.endpoint is None else f"{self.metric}[{self.endpoint}]"

    def format_value(self, value: float | None, sign: str = "") -> str:
        """A measured value (or interval bound, or margin) as this objective reads it: ``412.3ms``,
        a ratio ``3.16x``, a difference ``+0.30pp``."""
        if self.relative is None or value is None or not math.isfinite(value):
            return format_metric_value(self.metric, value, sign)
        if self.relative == RATIO:
            return f"{value:{sign}.2f}x"
        return f"{value * 100:+.2f}pp"

    def __str__(self) -> str:
        window = f" over {format_duration(self.window_s)} windows" if self.window_s is not None else ""
        return f"{self.subject} {self.op} {_threshold_text(self)}{window}"


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
        raise _error(text, f"missing metric; valid metrics: {VALID_METRICS}")
    try:
        metric = parse_metric(shape["metric"])
    except MetricError as error:
        raise _error(text, str(error)) from None
    entry = metric.entry
    endpoint = _parse_scope(shape, metric.name, entry, text)
    op = shape["op"]
    if not op:
        raise _error(text, f"missing operator after {shape['metric']!r}; use one of {_VALID_OPERATORS}")
    if op not in OPERATORS:
        raise _error(text, f"unknown operator {op!r}; use one of {_VALID_OPERATORS}")
    threshold, relative = _parse_value(shape, metric.name, entry, text)
    window_s = None if shape["window"] is None else _parse_window(shape["window"], metric.name, entry, text)
    if window_s is not None:
        # Windows record neither the two sides apart nor the endpoints apart.
        if relative is not None:
            raise _error(text, "relative objectives are judged on the whole run; drop 'over ...'")
        if not entry.windowed:
            judged_on = "a capacity search's sizing" if entry.sized else "the whole run"
            raise _error(text, f"{metric.name} is judged on {judged_on}; drop 'over ...'")
        if endpoint is not None:
            raise _error(text, "per-endpoint objectives are judged on the whole run; drop 'over ...'")
    return Slo(
        text=text,
        metric=metric.name,
        op=op,
        threshold=threshold,
        quantile=metric.quantile,
        window_s=window_s,
        endpoint=endpoint,
        relative=relative,
    )


def _parse_scope(shape: re.Match[str], metric: str, entry: MetricEntry, text: str) -> str | None:
    """The endpoint of ``metric[endpoint]``, None without a scope."""
    if shape["endpoint"] is None:
        return None
    if not shape["close"]:
        raise _error(text, "unterminated '[': write the endpoint like 'p95[POST score] < 300ms'")
    endpoint = shape["endpoint"].strip()
    if not endpoint:
        raise _error(text, "empty endpoint in '[]': name one as in result.endpoints, e.g. 'p95[POST score] < 300ms'")
    if not entry.per_endpoint:
        raise _error(text, f"{metric} has no per-endpoint form; {_SCOPED_HINT}")
    return endpoint


def _parse_value(shape: re.Match[str], metric: str, entry: MetricEntry, text: str) -> tuple[float, str | None]:
    """The threshold in canonical units, and the relative form (None: an absolute threshold)."""
    number, unit, sign = shape["number"], shape["unit"], shape["sign"]
    if number is None:
        given = shape["value"]
        problem = f"expected a number, got {given!r}" if given else f"missing value after {shape['op']!r}"
        raise _error(text, f"{problem}; {entry.hint}")
    relative = unit.lower() if unit.lower() in (RATIO, DIFFERENCE) else None
    if relative is not None:
        return _relative_threshold(metric, entry, relative, sign, number, text), relative
    if sign == "-":
        raise _error(text, f"threshold must not be negative; {entry.hint}")
    if sign == "+":
        raise _error(text, f"a sign (+/-) is only for a difference in pp, e.g. 'failure_rate <= +0.5pp'; {entry.hint}")
    return _absolute_threshold(metric, entry, number, unit, text), None


def _relative_threshold(metric: str, entry: MetricEntry, relative: str, sign: str, number: str, text: str) -> float:
    if relative == RATIO:
        if entry.relative != RATIO:
            raise _error(text, f"{metric} has no ratio form; {_RATIO_HINT}")
        if sign:
            raise _error(text, f"a ratio takes no sign (a sign is only for pp); {_RATIO_HINT}")
        threshold = _number(number, 1, text)
        if threshold <= 0:
            raise _error(text, f"a ratio must be above 0; {_RATIO_HINT}")
        return threshold
    if entry.relative != DIFFERENCE:
        raise _error(text, f"{metric} has no pp form; {_DIFFERENCE_HINT}")
    threshold = _number(number, Fraction(1, 100), text)
    if threshold > 1:
        raise _error(text, f"a difference of rates cannot exceed 100pp; {_DIFFERENCE_HINT}")
    return -threshold if sign == "-" else threshold


def _absolute_threshold(metric: str, entry: MetricEntry, number: str, unit: str, text: str) -> float:
    factor = threshold_units(entry.kind).get(unit.lower())
    if factor is None:
        problem = f"unknown unit {unit!r}" if unit else "missing unit"
        raise _error(text, f"{problem}; {entry.hint}")
    threshold = _number(number, factor, text)
    if entry.kind in (PROPORTION, RELATIVE) and threshold > 1:
        problem = (
            f"a bare {metric} is a fraction 0..1; for a percentage write {number}%"
            if not unit
            else f"{metric} cannot exceed 100%"
        )
        raise _error(text, problem)
    if entry.kind == COUNT and exact_fraction(number).denominator != 1:
        raise _error(text, f"{metric} must be a whole number, got {number!r}")
    return threshold


def _number(number: str, factor: int | Fraction, text: str) -> float:
    try:
        return exact_float(number, factor)
    except OverflowError:
        raise _error(text, f"value {number!r} is too large") from None


def _parse_window(text_after_over: str, metric: str, entry: MetricEntry, text: str) -> float:
    if entry.kind == COUNT and not entry.sized:
        raise _error(
            text, f"{metric} has no windowed form; bound throughput per window with 'rps >= N over 10s windows'"
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
    operator gets its metric's default operator (the registry's: ``<`` for latency and
    failure_rate, ``>=`` for rps and requests). A number value is read like the same number
    written bare in a string: a fraction for failure_rate, per second for rps, a count for
    requests; latency needs a string with a unit (``{"p95": 300}`` is an error, as
    ``"p95 < 300"`` is). ``Slo`` objects pass through.
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
        # "p95[POST score]": the metric decides
        return entry_of(key.partition("[")[0].strip()).default_op
    except MetricError:
        return "<"  # unknown metric: parse_slo reports it with the full text


def _threshold_text(slo: Slo) -> str:
    """Threshold in the form ``str(slo)`` uses; always reads back to the same float."""
    if slo.relative == RATIO:
        two_places = f"{slo.threshold:.2f}"  # "1.10x" as people write ratios, when that is exact
        return (two_places if float(two_places) == slo.threshold else plain_number(slo.threshold)) + "x"
    if slo.relative == DIFFERENCE:
        return ("-" if slo.threshold < 0 else "+") + plain_number(abs(slo.threshold), 2) + "pp"
    if slo.kind == LATENCY:
        return plain_number(slo.threshold, -3) + "s" if slo.threshold >= 1000 else plain_number(slo.threshold) + "ms"
    if slo.kind in (PROPORTION, RELATIVE):
        return plain_number(slo.threshold, 2) + "%"
    return plain_number(slo.threshold)


def _error(text: str, problem: str) -> SloError:
    # repr() keeps the message on one line whatever the text contains.
    return SloError(f"slo {text!r}: {problem}")
