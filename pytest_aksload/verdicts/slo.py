"""Judging service-level objectives: the one place that decides and explains SLO verdicts.

The marker's ``slo=``, ``assert_slos`` in test bodies and every report judge objectives here
(their grammar is config/objectives.py), so a verdict means the same thing everywhere it appears.

Verdicts are three-way when the result carries confidence intervals (``result.ci(metric)``, see
stats/confidence.py): PASS when the whole interval meets the objective, FAIL when the whole
interval violates it, INCONCLUSIVE when it straddles the threshold or is unbounded (too few
requests). A windowed objective FAILs if any window fails, PASSes if all pass; the per-window
intervals are Bonferroni-corrected (confidence 1 - a/k over k windows) so that checking many
windows does not multiply false alarms. Results without ``ci`` (plain objects in tests) get
PASS/FAIL on the value.

A per-endpoint objective (``"p95[POST score] < 300ms"``) is judged on ``result.endpoints[name]``;
an endpoint that was not measured FAILs, naming the ones that were. A relative objective
(``"p95 <= 1.10x"``, ``"failure_rate <= +0.5pp"``) is judged on the ratio or difference between
the candidate and ``result.against`` (stats/comparison.py), with the same three-way rule on its
interval; no other side measured FAILs, saying how to give one. ``agreement`` reads
``result.agreement`` and its Wilson interval.

An INCONCLUSIVE verdict also says what would likely decide it: an interval's half-width shrinks
like 1/sqrt(n), so the run must grow by ``(half-width / distance to the threshold)^2`` for the
interval to clear the threshold if the measured value holds (``more_requests``, ``more_s`` at the
measured rate). It is an estimate, not a promise: the value moves as the run grows, and a
sequential run judges later looks at a stricter level.

No pytest, locust or pandas here (docs/architecture.md: the pytest process never imports locust);
the Locust child judges abort rules with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pytest_aksload.config.metrics import LATENCY, format_metric_value, parse_metric
from pytest_aksload.config.objectives import RATIO, Slo, SloSpec, parse_slos
from pytest_aksload.config.units import format_duration
from pytest_aksload.stats.comparison import SideBySideComparison, compare_sides
from pytest_aksload.stats.confidence import DEFAULT_CONFIDENCE

__all__ = [
    "FAIL",
    "INCONCLUSIVE",
    "PASS",
    "Measurements",
    "SloVerdict",
    "SloViolation",
    "WindowedMeasurements",
    "assert_slos",
    "comparisons_judged",
    "evaluate",
    "failed_message",
    "format_verdicts",
]

# Verdicts are strings, not a bool: a third outcome, INCONCLUSIVE, comes from confidence intervals.
PASS = "PASS"
FAIL = "FAIL"
INCONCLUSIVE = "INCONCLUSIVE"

# Needing over this many times the run's load to decide is "too close to decide with more load".
_HOPELESS_GROWTH = 100.0
_NO_OTHER_SIDE = "no other side was measured: pass --aks-against NAME, --aks-against-uri URL or the marker's against="


class Measurements(Protocol):
    """What ``evaluate`` reads from a result (``LoadResult`` or anything shaped like it)."""

    mean_ms: float
    max_ms: float
    failure_rate: float
    rps: float
    requests: int

    def percentile(self, q: float) -> float: ...


@dataclass(frozen=True)
class SloVerdict:
    """The outcome of one objective against one result.

    ``measured`` and ``margin`` are in the objective's canonical units; ``margin`` is
    positive for headroom and negative for a violation. ``low``/``high`` is the confidence
    interval of the measured value (both equal ``measured`` when the result has none).
    ``reason`` says why a verdict is INCONCLUSIVE; ``window`` is ``(start_s, end_s)`` of the
    worst window of a windowed objective (seconds from the start of the run). Nothing measured
    (no requests) is NaN and fails: a gate must not pass on no evidence.

    A relative objective's ``measured`` is the ratio or difference, ``candidate``/``other`` the
    two sides' values. An INCONCLUSIVE verdict carries ``more_requests``/``more_s`` (how much more
    load would likely decide it, both sides counted; None when unknown) and ``would_decide``, the
    sentence that says so.
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
    candidate: float | None = None  # relative objectives only (None: not one; NaN breaks equality)
    other: float | None = None
    more_requests: int | None = None
    more_s: float | None = None
    would_decide: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def interval_text(self) -> str:
        """``"380.1..450.2ms"``, or ``""`` without an interval (or a degenerate one)."""
        if self.confidence is None or math.isnan(self.low) or self.low == self.high:
            return ""
        return f"{self.slo.format_value(self.low)}..{self.slo.format_value(self.high)}"

    def describe(self) -> str:
        """One line, e.g. ``p95 < 300ms: measured 412.3ms (95% CI 398.0ms..430.1ms), objective < 300ms,
        over by 112.3ms (FAIL)``."""
        head = f"{self.slo}: "
        if self.window is not None:
            head += f"worst window {self.window[0]:g}-{self.window[1]:g}s: "
        if math.isnan(self.measured):
            why = f"; {self.reason}" if self.reason else ""
            return f"{head}nothing was measured, objective {self.slo.objective}{why} ({self.verdict})"
        then = f"; {self.would_decide}" if self.would_decide else ""
        if self.slo.relative is not None:
            return self._describe_relative(head, then)
        if self.verdict == INCONCLUSIVE:
            how = (self.reason or "the confidence interval straddles the objective") + then
        elif self.passed:
            how = f"headroom {self.slo.format_value(abs(self.margin))}"
        elif self.margin == 0:
            how = f"exactly at the limit, which {self.slo.op} excludes"
        else:
            direction = "over" if self.slo.caps else "short"
            how = f"{direction} by {self.slo.format_value(-self.margin)}"
        interval = f" ({_level(self.confidence)} CI {self.interval_text})" if self.interval_text else ""
        return (
            f"{head}measured {self.slo.format_value(self.measured)}{interval}, "
            f"objective {self.slo.objective}, {how} ({self.verdict})"
        )

    def _describe_relative(self, head: str, then: str) -> str:
        """``p95 <= 1.10x: 412.0ms vs 130.2ms on the other side, ratio 3.16 (95% CI 2.90..3.45),
        objective <= 1.10x (FAIL)``."""
        # Each side's own value of the metric (412.0ms), then their ratio or difference.
        candidate, other = (format_metric_value(self.slo.metric, value) for value in (self.candidate, self.other))
        sides = f"{candidate} vs {other} on the other side"
        if self.slo.relative == RATIO:
            show = _ratio_text
            what = f"ratio {show(self.measured)}"
        else:
            show = self.slo.format_value
            what = f"difference {show(self.measured)}"
        if self.confidence is not None and not math.isnan(self.low) and self.low != self.high:
            what += f" ({_level(self.confidence)} CI {show(self.low)}..{show(self.high)})"
        how = f", {self.reason}{then}" if self.verdict == INCONCLUSIVE and self.reason else then
        return f"{head}{sides}, {what}, objective {self.slo.objective}{how} ({self.verdict})"

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
            "endpoint": self.slo.endpoint,
            "relative": self.slo.relative,
            "candidate": None if self.candidate is None else _json(self.candidate),
            "other": None if self.other is None else _json(self.other),
            "more_requests": self.more_requests,
            "more_s": self.more_s,
            "would_decide": self.would_decide,
        }


def _ratio_text(value: float) -> str:
    return "unbounded" if math.isinf(value) else "n/a" if math.isnan(value) else f"{value:.2f}"


def _level(confidence: float) -> str:
    """``95%``, ``97.5%``, ``99.58%``: rounded down, so a look's stricter level never reads stricter than it is."""
    text = f"{math.floor(confidence * 10_000 + 1e-9) / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


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
        if slo.window_s is not None:
            verdicts.append(_judge_windows(slo, result, confidence))
            continue
        verdict = _judge_relative(slo, result, confidence) if slo.relative else _judge_scoped(slo, result, confidence)
        verdicts.append(_with_what_would_decide(verdict, result))
    return verdicts


def _scoped(slo: Slo, result: Any, side: str = "") -> tuple[Any, str | None]:
    """The measurements an objective is about: the run, or one of its endpoints; else why not."""
    if slo.endpoint is None:
        return result, None
    endpoints = getattr(result, "endpoints", None) or {}
    if slo.endpoint in endpoints:
        return endpoints[slo.endpoint], None
    measured = ", ".join(repr(name) for name in endpoints) or "none"
    return None, f"no endpoint {slo.endpoint!r} was measured{side}; measured endpoints: {measured}"


def _judge_scoped(slo: Slo, result: Measurements, confidence: float) -> SloVerdict:
    subject, missing = _scoped(slo, result)
    if subject is None:
        return SloVerdict(slo, math.nan, math.nan, FAIL, reason=missing)
    return _judge(slo, subject, confidence)


def _judge(slo: Slo, result: Measurements, confidence: float) -> SloVerdict:
    measured = _measure(slo, result)
    if math.isnan(measured):
        # A metric that cannot be measured (no expectations, no labels) fails, saying what is missing.
        unmeasured = getattr(result, "unmeasured", None)
        return SloVerdict(slo, measured, math.nan, FAIL, reason=unmeasured(slo.metric) if unmeasured else None)
    margin = slo.margin(measured)
    ci = getattr(result, "ci", None)
    if ci is None or slo.entry.exact:
        # Counts and the observed maximum are facts of the run, not estimates.
        verdict = PASS if _holds(slo, measured) else FAIL
        return SloVerdict(slo, measured, margin, verdict, measured, measured)
    low, high = ci(slo.metric, confidence)
    verdict = _three_way(slo, low, high)
    reason = None
    if verdict == INCONCLUSIVE:
        if math.isinf(low) or math.isinf(high) or (slo.kind == LATENCY and low == 0):
            reason = f"too few requests ({result.requests}) to bound {slo.metric} at {_level(confidence)} confidence"
        else:
            reason = f"the {_level(confidence)} confidence interval straddles the objective; run longer to decide"
    return SloVerdict(slo, measured, margin, verdict, low, high, confidence, reason)


def _three_way(slo: Slo, low: float, high: float) -> str:
    low_holds, high_holds = _holds(slo, low), _holds(slo, high)
    if low_holds and high_holds:
        return PASS
    if not low_holds and not high_holds:
        return FAIL
    return INCONCLUSIVE


def _judge_relative(slo: Slo, result: Measurements, confidence: float) -> SloVerdict:
    """A ratio or difference against ``result.against``, judged on its interval like an absolute value."""
    subject, missing = _scoped(slo, result)
    against = getattr(result, "against", None)
    if subject is not None and against is None:
        missing = _NO_OTHER_SIDE
    elif subject is not None:
        against, missing = _scoped(slo, against, " on the other side")
    if missing is not None:
        return SloVerdict(slo, math.nan, math.nan, FAIL, reason=missing)
    comparison = compare_sides(slo.metric, subject, against, confidence)
    sides = {"candidate": comparison.candidate, "other": comparison.other}
    # A side with no request (e.g. a custom locustfile that never sends to it) FAILs: a rate ratio
    # over zero would otherwise be an unbounded INCONCLUSIVE, which --aks-inconclusive=pass passes.
    if math.isnan(comparison.value) or not subject.requests or not against.requests:
        empty = "the candidate" if math.isnan(comparison.candidate) or not subject.requests else "the other side"
        reason = f"{empty} measured no {slo.metric} to compare"
        return SloVerdict(slo, math.nan, math.nan, FAIL, reason=reason, **sides)
    verdict = _three_way(slo, comparison.low, comparison.high)
    reason = None
    if verdict == INCONCLUSIVE:
        if math.isinf(comparison.low) or math.isinf(comparison.high) or comparison.low == 0:
            counts = f"{subject.requests} and {against.requests}"
            form = "ratio" if slo.relative == RATIO else "difference"
            reason = f"too few requests ({counts}) to bound the {slo.metric} {form} at {_level(confidence)} confidence"
        else:
            reason = f"the {_level(confidence)} confidence interval straddles the objective; run longer to decide"
    return SloVerdict(
        slo,
        comparison.value,
        slo.margin(comparison.value),
        verdict,
        comparison.low,
        comparison.high,
        confidence,
        reason,
        **sides,
    )


def _with_what_would_decide(verdict: SloVerdict, result: Measurements) -> SloVerdict:
    """An INCONCLUSIVE verdict with how much more load would likely decide it (module docstring)."""
    if verdict.verdict != INCONCLUSIVE or math.isnan(verdict.measured):
        return verdict
    low, high, measured = verdict.low, verdict.high, verdict.measured
    if not (math.isfinite(low) and math.isfinite(high)) or (verdict.slo.kind == LATENCY and low == 0):
        return verdict  # unbounded: the reason already says there are too few requests
    threshold = verdict.slo.threshold
    # The half of the interval that reaches across the threshold is what must shrink.
    reach = high - measured if threshold >= measured else measured - low
    distance = abs(threshold - measured)
    if reach <= 0:
        return verdict
    growth = math.inf if distance == 0 else (reach / distance) ** 2
    if growth > _HOPELESS_GROWTH:
        return replace(verdict, would_decide="too close to the objective to decide with more load")
    against = getattr(result, "against", None) if verdict.slo.relative else None
    requests = result.requests + (against.requests if against is not None else 0)
    more_requests = _round_up(math.ceil(requests * (growth - 1.0)))
    duration_s = getattr(result, "duration_s", None)
    more_s = None if not duration_s else duration_s * (growth - 1.0)
    at_rate = "" if more_s is None else f" (~{_seconds_text(more_s)} at this rate)"
    sentence = f"about {more_requests:,} more requests{at_rate} would likely decide it"
    return replace(verdict, more_requests=more_requests, more_s=more_s, would_decide=sentence)


def _round_up(count: int) -> int:
    """Up to two significant figures (2,371 -> 2,400): an estimate should not look precise."""
    if count < 100:
        return max(count, 1)
    step = 10 ** (len(str(count)) - 2)
    return -(-count // step) * step


def _seconds_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def comparisons_judged(result: Any, verdicts: Sequence[SloVerdict]) -> dict[str, SideBySideComparison]:
    """``result.comparison`` with each metric's verdict filled from the whole-run relative objectives
    judged on it (the worst one when several; an endpoint-scoped objective is not the run's)."""
    comparisons = dict(getattr(result, "comparison", None) or {})
    for verdict in verdicts:
        slo = verdict.slo
        if slo.endpoint is None and slo.metric in comparisons and slo.compares:
            current = comparisons[slo.metric]
            if current.verdict is None or _SEVERITY[verdict.verdict] < _SEVERITY[current.verdict]:
                comparisons[slo.metric] = replace(current, verdict=verdict.verdict)
    return comparisons


def _holds(slo: Slo, value: float) -> bool:
    # For finite floats a - b == 0 exactly when a == b, so the margin alone decides.
    margin = slo.margin(value)
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
    if slo.entry.needs_requests and not result.requests:
        return math.nan
    return parse_metric(slo.metric).value_of(result)  # where the registry says its value is


def format_verdicts(verdicts: Sequence[SloVerdict]) -> str:
    """Aligned plain-text table (objective | measured | CI | margin | verdict [| why]) for summaries."""
    if not verdicts:
        return "(no SLOs)"
    rows = [("objective", "measured", "CI", "margin", "verdict")] + [
        (
            str(v.slo),
            v.slo.format_value(v.measured),
            v.interval_text or "-",
            v.slo.format_value(v.margin, "+"),
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
    if verdict.reason and (verdict.verdict == INCONCLUSIVE or math.isnan(verdict.measured)):
        notes.append(verdict.reason)
    if verdict.would_decide:
        notes.append(verdict.would_decide)
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
