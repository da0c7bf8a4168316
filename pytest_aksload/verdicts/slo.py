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

No pytest, locust or pandas here (see DESIGN.md, hard rule 1): the Locust child judges abort rules with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pytest_aksload.config.metrics import FAILURE_RATE, LATENCY, REQUESTS, format_metric_value
from pytest_aksload.config.objectives import Slo, SloSpec, parse_slos
from pytest_aksload.config.units import format_duration
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
    "evaluate",
    "failed_message",
    "format_verdicts",
]

# Verdicts are strings, not a bool: a third outcome, INCONCLUSIVE, comes from confidence intervals.
PASS = "PASS"
FAIL = "FAIL"
INCONCLUSIVE = "INCONCLUSIVE"

_RESULT_ATTRIBUTE = {
    "mean": "mean_ms",
    "max": "max_ms",
    "failure_rate": "failure_rate",
    "rps": "rps",
    "requests": "requests",
    "rows_per_s": "rows_per_s",
    "mismatch_rate": "mismatch_rate",
    "max_abs_error": "max_abs_error",
    "auc": "auc",
    "logloss": "logloss",
}
# Facts of the run, not estimates: judged on the value (no interval).
_FACTS = ("max", "max_abs_error")


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
        return f"{format_metric_value(self.slo.metric, self.low)}..{format_metric_value(self.slo.metric, self.high)}"

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
            how = f"headroom {format_metric_value(self.slo.metric, abs(self.margin))}"
        elif self.margin == 0:
            how = f"exactly at the limit, which {self.slo.op} excludes"
        else:
            direction = "over" if self.slo.caps else "short"
            how = f"{direction} by {format_metric_value(self.slo.metric, -self.margin)}"
        interval = f" ({self.confidence:.0%} CI {self.interval_text})" if self.interval_text else ""
        return (
            f"{head}measured {format_metric_value(self.slo.metric, self.measured)}{interval}, "
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
        # A metric that cannot be measured (no expectations, no labels) fails, saying what is missing.
        unmeasured = getattr(result, "unmeasured", None)
        return SloVerdict(slo, measured, math.nan, FAIL, reason=unmeasured(slo.metric) if unmeasured else None)
    margin = slo.margin(measured)
    ci = getattr(result, "ci", None)
    if ci is None or slo.kind == REQUESTS or slo.metric in _FACTS:
        # Counts and the observed maximum are facts of the run, not estimates.
        verdict = PASS if _holds(slo, measured) else FAIL
        return SloVerdict(slo, measured, margin, verdict, measured, measured)
    low, high = ci(slo.metric, confidence)
    low_holds, high_holds = _holds(slo, low), _holds(slo, high)
    if low_holds and high_holds:
        return SloVerdict(slo, measured, margin, PASS, low, high, confidence)
    if not low_holds and not high_holds:
        return SloVerdict(slo, measured, margin, FAIL, low, high, confidence)
    if math.isinf(low) or math.isinf(high) or (slo.kind == LATENCY and low == 0):
        reason = f"too few requests ({result.requests}) to bound {slo.metric} at {confidence:.0%} confidence"
    else:
        reason = f"the {confidence:.0%} confidence interval straddles the objective; run longer to decide"
    return SloVerdict(slo, measured, margin, INCONCLUSIVE, low, high, confidence, reason)


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
    if slo.kind in (LATENCY, FAILURE_RATE) and not result.requests and slo.metric != "mismatch_rate":
        return math.nan
    if slo.quantile is not None:
        return float(result.percentile(slo.quantile))
    return float(getattr(result, _RESULT_ATTRIBUTE[slo.metric]))


def format_verdicts(verdicts: Sequence[SloVerdict]) -> str:
    """Aligned plain-text table (objective | measured | CI | margin | verdict [| why]) for summaries."""
    if not verdicts:
        return "(no SLOs)"
    rows = [("objective", "measured", "CI", "margin", "verdict")] + [
        (
            str(v.slo),
            format_metric_value(v.slo.metric, v.measured),
            v.interval_text or "-",
            format_metric_value(v.slo.metric, v.margin, "+"),
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
