"""`LoadResult`: what one load test measured, read from the result file the Locust child wrote.

Every number comes from the recorder's HDR histograms (microseconds, 3 significant digits),
so percentiles are within 0.05 % of the recorded latencies, unlike Locust's own rounded
statistics. Latency statistics include failed requests (a timeout is latency a user saw).
Requests that started during warm-up are left out of everything except `timeline`.

An undefined latency statistic (no requests) is NaN: NaN fails every comparison, so an empty
run can never pass a latency SLO by accident. `to_dict()` writes it as null.

A `LoadResult` never changes after parsing (a cut warm-up is a new result, `with_warmup`). What
the gate concludes from it (verdicts, baseline and side-by-side comparisons, generator health, a
capacity search) lives in a `verdicts.gated.GatedResult` that holds it: what the `load_result`
fixture gives.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_aksload.config.metrics import METRICS, PERCENTILE, Metric
from pytest_aksload.protocol import ProtocolError
from pytest_aksload.result_schema import RESULT_FORMAT, check_result
from pytest_aksload.stats import confidence, histograms, sequential
from pytest_aksload.stats.comparison import SideBySideComparison, compare_sides
from pytest_aksload.stats.correctness import CorrectnessTally
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.latency_stats import (
    STANDARD_QUANTILES,
    EndpointStats,
    LatencyStats,
    WindowSpan,
    json_number,
)
from pytest_aksload.stats.windows import (
    after_warmup,
    answers_of_windows,
    endpoints_of_windows,
    errors_of_windows,
    latencies_of_windows,
    total_of_windows,
)


class ResultFileError(Exception):
    """The result file is missing, truncated, not JSON or not a pytest-aksload result."""


@dataclass(frozen=True)
class ErrorGroup:
    """Failed requests that share a kind (`contracts.status.FAILURE_KINDS`: `http`, `throttling`, `timeout`,
    `model`, `routing`, `validation`, `connection`),
    an HTTP status (None without a response) and a message. `examples`: its first 3 failed requests
    by start time, each `{"at": epoch s, "request_id": x-ms-client-request-id sent, "x_request_id":
    the server's x-request-id}` (None where absent), to find them in the server's logs."""

    kind: str
    status: int | None
    message: str
    count: int
    examples: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ErrorGroup:
        return cls(
            record["kind"], record["status"], record["message"], record["count"],
            tuple(dict(example) for example in record.get("examples", ())),
        )  # fmt: skip

    @property
    def request_ids(self) -> list[str]:
        """The x-ms-client-request-ids of its examples (those that carried one)."""
        return [example["request_id"] for example in self.examples if example.get("request_id")]


@dataclass(frozen=True)
class WindowStats:
    """One time window of the run (warm-up included), by request completion time."""

    index: int
    start_offset_s: float
    duration_s: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    # Failed requests by kind when the child detailed the window (warmup="auto"), else None.
    failures_by_kind: dict[str, int] | None = None
    # Of the rows checked in the window, the fraction predicted wrong (NaN: none checked).
    mismatch_rate: float = math.nan


class LoadResult(LatencyStats):
    """What the Locust child measured in one load test, read-only (see the module docstring).

    Fields: `requests`, `failures`, `failure_rate`, `rps`, `p50_ms`, `p95_ms`, `p99_ms`,
    `mean_ms`, `max_ms`, `percentile(q)`, `duration_s` (measured interval), `endpoints`,
    `errors`, `timeline` (every recorded window), `windows(window_s)` (the measured run in
    windows of a given length), `started_at`/`measure_start`/`ended_at` (epoch seconds),
    `warmup_s`, `warmup_method`, `window_s`, `users_peak`, `complete`, `aborted`, `run_id` (every
    request's x-ms-client-request-id starts with it; "" when the run had none),
    `uncorrected`/`schedule` (open model), `generator` (load generator health: `cpu_percent`,
    `warnings`, Locust's own rounded figures); what the answers held: `rows`, `rows_per_s`,
    `mismatch_rate`, `max_abs_error`, `auc`, `logloss` (NaN when unmeasurable; `unmeasured(metric)`
    says why), `mismatches` (the first few: row, expected, got), `correctness` (the tally).

    Side by side (`--aks-against`): `against` (the other deployment's `LoadResult`, measured in the
    same run; None otherwise), `agreement` (fraction of the rows predicted on both sides whose
    predictions agree; NaN when none were compared), `agreement_tally` (`compared`, `agreeing`,
    `max_abs_difference`), `comparison` (metric -> `SideBySideComparison`: both values, the ratio or
    difference and its interval), and for a run judged while it ran, `looks` (how many) and
    `decided_at_s` (when the outcome was decided, seconds from the start; None: ran to the end).
    """

    # Attribute types for readers and type checkers (each set once, in __init__).
    _data: dict[str, Any]
    started_at: float
    measure_start: float
    ended_at: float
    warmup_s: float
    window_s: float
    users_peak: int
    complete: bool
    generator: dict[str, Any]
    endpoints: dict[str, EndpointStats]
    errors: list[ErrorGroup]
    timeline: list[WindowStats]
    warmup_method: str
    aborted: dict[str, Any] | None
    uncorrected: LatencyStats | None
    schedule: dict[str, float] | None
    against: LoadResult | None
    agreement_tally: dict[str, Any] | None
    looks: int | None
    decided_at_s: float | None
    run_id: str

    def __init__(self, data: dict[str, Any]) -> None:
        """Use `from_dict`/`from_file`; `data` must already have been validated."""
        duration = max(0.0, data["ended_at"] - data["measure_start"])
        total = data["total"]
        super().__init__(
            _latencies(total, "total"),
            total["failures"],
            duration,
            rows=total.get("rows"),
            correctness=_tally(total.get("correctness"), "total"),
            sample_rows=data.get("sample_rows"),
        )
        uncorrected = data.get("uncorrected")
        self._set(
            _data=data,
            started_at=data["started_at"],
            measure_start=data["measure_start"],
            ended_at=data["ended_at"],
            warmup_s=data["warmup_s"],
            window_s=data["window_s"],
            users_peak=data["users_peak"],
            complete=data["complete"],
            generator=data["generator"],
            endpoints={
                name: EndpointStats(_latencies(stats, f"endpoints[{name!r}]"), stats["failures"], duration)
                for name, stats in data["endpoints"].items()
            },
            errors=[ErrorGroup.from_record(group) for group in data["errors"]],
            timeline=[_window_stats(window) for window in data["windows"]],
            # How the warm-up was chosen: "fixed", or e.g. "MSER-5" when warmup="auto" cut it (steady_state.py).
            warmup_method=data.get("warmup_method", "fixed"),
            # Set when an abort_on rule stopped the run early: {"rule", "reason", "at_s"} (abort.py).
            aborted=data.get("aborted"),
            # Open model (rate=): the statistics above count from each request's INTENDED send time
            # (coordinated omission corrected); `uncorrected` counts from the actual send, as a
            # closed-model tool would. `schedule`: how well the arrival schedule was kept.
            uncorrected=None
            if uncorrected is None
            else LatencyStats(_latencies(uncorrected, "uncorrected"), uncorrected["failures"], duration),
            schedule=data.get("schedule"),
            # from_dict: the other side's own derived `summary` is dropped like ours
            against=None if data.get("against") is None else LoadResult.from_dict(data["against"]),
            agreement_tally=data.get("agreement"),
            looks=(data.get("sequential") or {}).get("looks"),
            decided_at_s=(data.get("sequential") or {}).get("decided_at_s"),
            run_id=data.get("run_id", ""),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        """Build from the result JSON (or `to_dict()` output); ResultFileError if malformed."""
        return cls(_validated(data))

    @classmethod
    def from_file(cls, path: str | Path) -> LoadResult:
        """Read the child's result file; ResultFileError (one line) if it is unusable."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ResultFileError(f"no result file at {path}: the load generator wrote none") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ResultFileError(f"cannot read result file {path}: {exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ResultFileError(f"result file {path} is not valid JSON (truncated or corrupt?): {exc}") from None
        try:
            return cls.from_dict(data)
        except ResultFileError as exc:
            raise ResultFileError(f"result file {path}: {exc}") from None

    @property
    def agreement(self) -> float:
        """Fraction of the rows predicted on both sides whose predictions agree (NaN: none compared)."""
        tally = self.agreement_tally
        return tally["agreeing"] / tally["compared"] if tally and tally["compared"] else math.nan

    @property
    def judging_confidence(self) -> float:
        """The level this result's verdicts and comparisons are judged at: the default, or for a run
        judged while it ran, its last look's (stats/sequential.py)."""
        if self.looks:
            return sequential.look_confidence(confidence.DEFAULT_CONFIDENCE, self.looks)
        return confidence.DEFAULT_CONFIDENCE

    def _ci_agreement(self, metric: Metric, level: float) -> tuple[float, float]:
        # Wilson on the compared rows (NaN: none compared).
        tally = self.agreement_tally
        if not tally or not tally["compared"]:
            return math.nan, math.nan
        return confidence.wilson_interval(tally["agreeing"], tally["compared"], level)

    def unmeasured(self, metric: str) -> str | None:
        if metric == "agreement" and math.isnan(self.agreement):
            if self.against is None:
                return "no other side was measured: pass --aks-against NAME, --aks-against-uri URL or against="
            return "no row was predicted on both sides (agreement needs a contract that yields predictions)"
        return super().unmeasured(metric)

    def compare_sides(self, level: float | None = None) -> dict[str, SideBySideComparison]:
        """Each metric of both sides (p50, p95, p99, mean, failure_rate, rps; rows_per_s,
        mismatch_rate and agreement when measured): value, ratio or difference, interval at `level`
        (default `judging_confidence`). Empty without an other side."""
        other = self.against
        if other is None:
            return {}
        level = self.judging_confidence if level is None else level
        # The registry's metrics with a relative form that both sides measured; of the percentiles the standard ones.
        named = [entry.name for entry in METRICS if entry.relative and entry.name != PERCENTILE]
        measured = [name for name in named if not (self.unmeasured(name) or other.unmeasured(name))]
        metrics = [f"p{q}" for q in STANDARD_QUANTILES] + measured
        comparisons = {metric: compare_sides(metric, self, other, level) for metric in metrics}
        if not math.isnan(self.agreement):
            low, high = self.ci("agreement", level)
            value = self.agreement
            comparisons["agreement"] = SideBySideComparison("agreement", value, math.nan, None, value, low, high, level)
        return comparisons

    @cached_property
    def comparison(self) -> dict[str, SideBySideComparison]:
        """`compare_sides()` at `judging_confidence` (verdicts left None: verdicts/slo.py fills them)."""
        return self.compare_sides()

    @property
    def failures_by_kind(self) -> dict[str, int]:
        """Measured failures per kind, most frequent first: throttling (429/503) apart from
        model errors (`http`, `validation`) and transport errors (`connection`, `timeout`)."""
        return _kinds((group.kind, group.count) for group in self.errors)

    def _measured_windows(self) -> list[dict[str, Any]]:
        """The recorded windows that start after the warm-up (raw result-file form)."""
        return after_warmup(self._data["windows"], self.warmup_s)

    def windows(self, window_s: float) -> list[WindowSpan]:
        """The measured run cut into consecutive windows of about `window_s` (whole recorded
        windows, so a multiple of `self.window_s`). A tail shorter than half a window joins the
        window before it, so the last window is 0.5-1.5 windows long and no request is left out.
        Windows hold requests by COMPLETION time."""
        per_span = max(1, round(window_s / self.window_s))
        measured = self._measured_windows()
        groups = [measured[first : first + per_span] for first in range(0, len(measured), per_span)]
        if len(groups) > 1 and sum(w["duration_s"] for w in groups[-1]) < per_span * self.window_s / 2:
            groups[-2:] = [groups[-2] + groups[-1]]
        spans = []
        for group in groups:
            duration = sum(w["duration_s"] for w in group)
            latencies = latencies_of_windows(group)
            failures = sum(w["failures"] for w in group)
            answers = answers_of_windows(group)
            spans.append(
                WindowSpan(
                    latencies,
                    failures,
                    group[0]["start_offset_s"],
                    duration,
                    rows=answers["rows"],
                    correctness=_tally(answers["correctness"], "windows"),
                    sample_rows=self._sample_rows,
                )
            )
        return spans

    def _ci_request_rate(self, metric: Metric, level: float) -> tuple[float, float]:
        # Batch means over the recorded windows; the last, partial window is too short to be a batch.
        full = [w for w in self._measured_windows() if w["duration_s"] >= self.window_s / 2]
        if len(full) < 2:
            return super()._ci_request_rate(metric, level)
        return confidence.rps_interval([w["requests"] for w in full], [w["duration_s"] for w in full], level)

    def with_warmup(self, warmup_s: float, method: str) -> LoadResult:
        """This result with the first `warmup_s` seconds cut, totals recomputed from the windows.

        Windows hold requests by completion time (a fixed warm-up cuts by start time). When they
        are detailed (the child splits them by endpoint for warmup="auto"), `endpoints` and
        `errors` are recomputed too; otherwise they keep the child's view.
        """
        # A new top level over the same (never changed) windows: nothing is copied but what the cut changes.
        windows = self._data["windows"]
        kept = after_warmup(windows, warmup_s)
        data = {
            **self._data,
            "warmup_s": warmup_s,
            "measure_start": self.started_at + warmup_s,
            "warmup_method": method,
            "total": total_of_windows(kept),
        }
        if kept and all("endpoints" in w for w in windows):
            data["endpoints"] = endpoints_of_windows(kept)
            data["errors"] = errors_of_windows(kept)
        if self.against is not None:
            # Both sides share the run's clock: the same cut keeps the comparison like for like.
            data["against"] = self.against.with_warmup(warmup_s, method)._data
        return LoadResult(data)

    @classmethod
    def from_windows(cls, windows: Sequence[Mapping[str, Any]], warmup_s: float) -> LoadResult:
        """A provisional result from a running load's closed windows alone (what the child
        streams): totals by completion time after `warmup_s`, no endpoints or errors, times in
        seconds from the start. `windows` must not be empty; all but the last are full."""
        data = {
            "format": RESULT_FORMAT,
            "complete": False,
            "started_at": 0.0,
            "measure_start": warmup_s,
            "ended_at": windows[-1]["start_offset_s"] + windows[-1]["duration_s"],
            "warmup_s": warmup_s,
            "window_s": windows[0]["duration_s"],
            "users_peak": 0,
            "generator": {},
            "total": total_of_windows(after_warmup(windows, warmup_s)),
            "endpoints": {},
            "windows": [dict(w) for w in windows],
            "errors": [],
        }
        return LoadResult(data)

    def result_file(self) -> dict[str, Any]:
        """The result file's content as read (encoded histograms included, so it can be re-analysed
        and merged), without any derived `summary`; a copy, JSON-safe."""
        return copy.deepcopy(self._data)

    def figures(self) -> dict[str, Any]:
        """This side's headline numbers (`summary()`) with their intervals (`ci`, at `confidence`),
        `duration_s`, `failures_by_kind` and each endpoint's headline numbers; JSON-safe."""
        return {
            **self.summary(),
            "ci": self.cis(),
            "confidence": confidence.DEFAULT_CONFIDENCE,
            "duration_s": self.duration_s,
            "failures_by_kind": self.failures_by_kind,
            "endpoints": {name: stats.summary() for name, stats in self.endpoints.items()},
        }

    def other_side_figures(self) -> dict[str, Any] | None:
        """Side by side: the other side's headline numbers with their intervals (None: no other side)."""
        return None if self.against is None else {**self.against.summary(), "ci": self.against.cis()}

    def to_dict(self) -> dict[str, Any]:
        """`result_file()` plus a `summary`: `figures()`, and side by side the other side's figures,
        `agreement` and each metric `comparison`; JSON-safe."""
        summary = self.figures()
        if self.against is not None:
            summary["against"] = self.other_side_figures()
            summary["agreement"] = json_number(self.agreement)
            summary["comparison"] = {metric: c.to_dict() for metric, c in self.comparison.items()}
        return {**self.result_file(), "summary": summary}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _tally(data: Mapping[str, Any] | None, where: str) -> CorrectnessTally | None:
    if data is None:
        return None
    try:
        return CorrectnessTally.from_dict(data)
    except ValueError as exc:
        raise ResultFileError(f"{where}.correctness: {exc}") from None


def _latencies(stats: dict[str, Any], where: str) -> Latencies:
    try:
        return Latencies.from_dict(stats)
    except ValueError as exc:
        raise ResultFileError(f"{where}: {exc}") from None


def _window_stats(window: dict[str, Any]) -> WindowStats:
    encoded = window["histogram"]
    # Decoded one at a time and dropped: a live histogram is ~190 kB, a closed window a few
    # hundred bytes, and an hour of 1 s windows must not cost gigabytes here.
    if encoded is None:
        if window["requests"]:
            raise ResultFileError(f"window {window['index']}: requests without a histogram")
        values = {q: math.nan for q in STANDARD_QUANTILES}
        mean_ms = math.nan
    else:
        try:
            histogram = histograms.decode(encoded)
        except ValueError as exc:
            raise ResultFileError(f"window {window['index']}: {exc}") from None
        if histogram.get_total_count() != window["requests"]:
            raise ResultFileError(f"window {window['index']}: histogram and request count disagree")
        values = {q: v / 1000.0 for q, v in histograms.percentiles_us(histogram, STANDARD_QUANTILES).items()}
        mean_ms = histograms.moments_us(histogram)[0] / 1000.0
    duration = window["duration_s"]
    return WindowStats(
        index=window["index"],
        start_offset_s=window["start_offset_s"],
        duration_s=duration,
        requests=window["requests"],
        failures=window["failures"],
        rps=window["requests"] / duration if duration > 0 else 0.0,
        p50_ms=values[50],
        p95_ms=values[95],
        p99_ms=values[99],
        mean_ms=mean_ms,
        failures_by_kind=_kinds((g["kind"], g["count"]) for g in window["errors"]) if "errors" in window else None,
        mismatch_rate=_window_mismatch_rate(window),
    )


def _kinds(counted: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Failures per kind, most frequent first."""
    counts: dict[str, int] = {}
    for kind, count in counted:
        counts[kind] = counts.get(kind, 0) + count
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _window_mismatch_rate(window: Mapping[str, Any]) -> float:
    tally = _tally(window.get("correctness"), f"windows[{window['index']}]")
    return tally.mismatch_rate if tally is not None and tally.checked else math.nan


def _validated(data: Any) -> dict[str, Any]:
    """Check shape and types so a LoadResult never holds missing data; ResultFileError if not.
    What the child writes is checked against its definition on the wire (`result_schema.ResultFile`)."""
    try:
        check_result(data)
    except ProtocolError as exc:
        raise ResultFileError(str(exc)) from None
    data = dict(data)
    data.pop("summary", None)  # derived by to_dict(); always recomputed
    return data
