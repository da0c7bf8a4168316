"""The recorder: exact latency histograms for a Locust run, written as one JSON file at quit.

Loaded as the first locustfile (`-f recorder.py,<user locustfile>`); it defines no User. Its
listeners see every request of every User through Locust's `request` event and record the
latency in integer microseconds (`round(response_time_ms * 1000)`, keeping `perf_counter`
precision) into HdrHistograms:

* one per endpoint (`"{request_type} {name}"`, at most 50, the rest pooled under
  `(other endpoints)`; `total` is their merge), counting only requests that STARTED at or after
  `measure_start = started_at + warmup_s`;
* one per time window of `window_s` seconds, EVERY request (warm-up too), assigned by its
  COMPLETION time (so a closed window never changes): only the current window's histogram is
  live, closed ones are kept encoded (a few hundred bytes each), so memory is flat.

Each successful answer's predictions (decoded by the test's contract in `child.check_response`,
handed over in the request's context) count as `rows` and, when the sample has expected
predictions or labels, go into a `CorrectnessTally`: ONE per answer, that of its window's warm-up
or measured part (by its start time, like the latencies). An answer already seen to match its
expectations (the same rows, the same predictions: a deterministic model's usual answer) is only
counted (~0.4 µs) and added to the tally with its count when the window closes. A closed window's
figures are both parts; the run's measured figures are the merge of the windows' measured parts
(once per window, not per answer).

Failed requests are in the latency histograms too: a timed-out request is latency a user
experienced. Failures (measured part) are grouped by (kind, status, message), at most 50
groups; later distinct messages are counted under `(other messages)` of their kind.

The result file (`protocol.ResultFile`, written by `Recorder.result`) and the other lines of the
wire are defined in `pytest_aksload.protocol`.

Distributed runs (distributed.py): each worker's `Recorder` `drain`s its mergeable pieces
(encoded endpoint histograms, closed windows by index, error counts) into Locust's worker
reports, and the master `merge`s them, so the master's result is exactly that of all requests.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import math
import os
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.os
import locust
from hdrh.histogram import HdrHistogram
from locust import events

from pytest_aksload import child, lifeline, protocol
from pytest_aksload._locust import distributed, sequential_decision
from pytest_aksload.config.objectives import parse_slo
from pytest_aksload.contracts.failures import failure_kind
from pytest_aksload.protocol import Progress, ResultFile, RunSettings, SampleRows, Window
from pytest_aksload.stats import histograms
from pytest_aksload.stats.correctness import CorrectnessTally
from pytest_aksload.stats.histograms import HIGHEST_US, LOWEST_US, Latencies
from pytest_aksload.verdicts import abort

logger = logging.getLogger("pytest_aksload.recorder")

MAX_ENDPOINTS = 50
MAX_ERROR_GROUPS = 50
MAX_WARNINGS = 20
# Distinct answers remembered as matching their expectations (rows x predictions): a deterministic
# model answers each sample row alike, so a few per row; past the bound every answer is tallied.
MAX_MATCHING_ANSWERS = 65_536
OTHER_ENDPOINTS = "(other endpoints)"
OTHER_MESSAGES = "(other messages)"
INTENDED_KEY = "aksload_intended"  # request context: the open model's intended send time (epoch s)
LAG_PROBE_S = 0.1  # the event-loop lag probe's sleep
RATE_SPAN_S = 5.0  # progress "rps" is measured over about this many recent seconds


ErrorGroupKey = tuple[str, "int | None", str]  # (kind, status, message)
_AnswerKey = tuple[tuple[int, ...], tuple[float, ...]]  # (rows sent, predictions answered)


class _Stats:
    """Latencies plus a failure count: one endpoint, or the total."""

    __slots__ = ("latencies", "failures")

    def __init__(self) -> None:
        self.latencies = Latencies()
        self.failures = 0

    def to_dict(self) -> protocol.Stats:
        return {**self.latencies.to_dict(), "failures": self.failures}  # type: ignore[typeddict-item]


class _Answers:
    """The successful answers of one window whose requests started in one part of the run
    (warm-up or measured): their rows, the tally of their predictions (None until one), and how
    often each answer already known to match its expectations came again (added at close)."""

    __slots__ = ("rows", "tally", "repeats")

    def __init__(self) -> None:
        self.rows = 0
        self.tally: CorrectnessTally | None = None
        self.repeats: dict[_AnswerKey, int] = {}


class _Windows:
    """Per-window histograms; only the current one is live, closed ones are encoded text."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.closed: list[Window] = []
        self.on_close: Callable[[Window], None] | None = None  # abort_on watches closed windows
        self.index = 0
        self._histogram: HdrHistogram | None = None
        self._requests = 0
        self._failures = 0
        # warmup="auto" cuts after the run, from the windows: "detailed" windows also split their
        # requests by endpoint and keep their failure groups, so the cut applies to those too.
        self.detailed = False
        self._endpoints: dict[str, list[Any]] = {}  # name -> [histogram, requests, failures]
        self._errors = _Errors()
        # The current window's answers: (warm-up part, measured part), indexed by `measured`.
        self._answers = (_Answers(), _Answers())
        self.on_measured: Callable[[_Answers], None] | None = None  # the measured part of each closed window
        self.compares = False  # whether there are expected predictions or labels to tally against
        self._tolerance = protocol.DEFAULT_TOLERANCE
        self._expected: list[float | None] | None = None
        self._labels: list[float | None] | None = None
        self._matching: set[_AnswerKey] = set()

    def compare_with(self, sample: SampleRows | None, tolerance: float) -> None:
        """Tally predictions against `sample`'s expectations and labels (when it has any)."""
        self._expected = None if sample is None else sample.expected
        self._labels = None if sample is None else sample.labels
        self.compares = self._expected is not None or self._labels is not None
        self._tolerance = tolerance
        self._matching = set()

    def record_predictions(self, measured: bool, rows: Sequence[int], predictions: list[float]) -> None:
        """A successful answer's rows and predictions, in the window its `record` just went to;
        `measured`: whether its request started after the warm-up."""
        answers = self._answers[measured]
        answers.rows += len(rows)
        if not self.compares:
            return
        # The same rows answered alike and known to match: counted now, tallied once at close (the
        # tally per answer was the recorder's largest cost per request). A tally of n repeats is
        # that of n answers; only the float sums may differ in the last bit.
        key = (rows, tuple(predictions)) if type(rows) is tuple else None
        if key in self._matching:
            answers.repeats[key] = answers.repeats.get(key, 0) + 1  # type: ignore[index]
            return
        mismatches = self._tally(answers).add_batch(rows, predictions, self._expected, self._labels)
        if key is not None and not mismatches and len(self._matching) < MAX_MATCHING_ANSWERS:
            self._matching.add(key)

    def _tally(self, answers: _Answers) -> CorrectnessTally:
        if answers.tally is None:
            answers.tally = CorrectnessTally(self._tolerance)
        return answers.tally

    def record(self, index: int, us: int, failed: bool, counts_index: int) -> None:
        """`us` already clamped; `counts_index` is its `histograms.counts_index`."""
        if index > self.index:
            self.advance(index)
        if self._histogram is None:  # lazily: empty windows cost no allocation
            self._histogram = histograms.new_histogram()
        histograms.record_at(self._histogram, counts_index, us)
        self._requests += 1
        self._failures += failed

    def record_detail(self, endpoint: str, us: int, counts_index: int, error: ErrorGroupKey | None) -> None:
        """The current window's share of `endpoint`, and the failure group of `error` (detailed windows)."""
        stats = self._endpoints.get(endpoint)
        if stats is None:
            stats = self._endpoints[endpoint] = [histograms.new_histogram(), 0, 0]
        histograms.record_at(stats[0], counts_index, us)
        stats[1] += 1
        if error is not None:
            stats[2] += 1
            self._errors.add(*error)

    def advance(self, index: int) -> None:
        """Close the current window and any empty ones before `index`."""
        while self.index < index:
            self._close(self.window_s)

    def finish(self, elapsed_s: float) -> None:
        """Close the last, partial window at run end (`elapsed_s` after the start)."""
        self.advance(max(0, math.ceil(elapsed_s / self.window_s) - 1))
        start = self.index * self.window_s
        self._close(max(0.0, min(self.window_s, elapsed_s - start)))

    def _close(self, duration_s: float) -> None:
        histogram = histograms.encode(self._histogram) if self._requests else None
        window = _window(self.index, self.window_s, duration_s, self._requests, self._failures, histogram)
        warmup, measured = self._answers
        window["rows"] = warmup.rows + measured.rows
        for answers in self._answers:
            for (rows, predictions), times in answers.repeats.items():
                self._tally(answers).add_batch(rows, predictions, self._expected, self._labels, times)
        if self.compares:
            window["correctness"] = _both_tallies(warmup.tally, measured.tally)
        if self.on_measured is not None:
            self.on_measured(measured)
        self._answers = (_Answers(), _Answers())
        if self.detailed:
            window["endpoints"] = {
                name: {"requests": requests, "failures": failures, "histogram": histograms.encode(histogram)}
                for name, (histogram, requests, failures) in self._endpoints.items()
            }
            window["errors"] = self._errors.to_list()
            self._endpoints, self._errors = {}, _Errors()
        self.closed.append(window)
        self.index += 1
        self._histogram = None
        self._requests = self._failures = 0
        if self.on_close is not None:
            self.on_close(self.closed[-1])


class _Errors:
    """Failure counts by (kind, status, message), cardinality bounded."""

    def __init__(self) -> None:
        self.counts: dict[ErrorGroupKey, int] = {}

    def add(self, kind: str, status: int | None, message: str, count: int = 1) -> None:
        key = (kind, status, message)
        if key not in self.counts and len(self.counts) >= MAX_ERROR_GROUPS:
            key = (kind, None, OTHER_MESSAGES)
        self.counts[key] = self.counts.get(key, 0) + count

    def to_list(self) -> list[protocol.ErrorGroup]:
        ordered = sorted(self.counts.items(), key=lambda item: -item[1])
        return [
            {"kind": kind, "status": status, "message": message, "count": count}
            for (kind, status, message), count in ordered
        ]


class _WarningLog(logging.Handler):
    """Keeps Locust's warnings (CPU, users not stopping, ...) for the result, bounded and redacted."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) >= MAX_WARNINGS:
            return
        try:
            text = child.context().redact(" ".join(record.getMessage().split()))[:300]
        except Exception:  # a logging handler must never raise into Locust
            return
        if text not in self.messages:
            self.messages.append(text)


class Recorder:
    """Everything recorded for one run; no Locust objects inside, so it is unit-testable and
    its state is the mergeable set a distributed master will need."""

    def __init__(self, *, warmup_s: float, window_s: float, detailed: bool = False, **correctness: Any) -> None:
        """`correctness`: `tolerance` and `sample`, as `configure` takes them."""
        self.endpoints: dict[str, _Stats] = {}
        self.windows = _Windows(window_s)
        self.windows.on_measured = self._add_measured
        self.started_at: float | None = None
        self.configure(warmup_s=warmup_s, window_s=window_s, detailed=detailed, **correctness)
        self.errors = _Errors()
        self.ended_at: float | None = None
        self._mono_start = 0.0
        self._cpu_start = 0.0
        self.cpu_percent: float | None = None
        self.all_requests = 0
        self.all_failures = 0
        self.users_peak = 0
        # What the answers held (measured part): rows sent in successful requests, and predictions
        # against the sample's expectations and labels (None: nothing to compare). Complete up to
        # the last closed window (`_add_measured`): all of the run once it stopped.
        self.rows = 0
        self.correctness: CorrectnessTally | None = None
        # Open model only: the latencies as measured from the actual send (the "corrected" ones,
        # from the intended send time, go into total/endpoints/windows) and how well the
        # schedule was kept (counters owned by `open_model`).
        self.uncorrected: Latencies | None = None
        self.schedule: dict[str, float] | None = None
        # Distributed master only: what the workers shipped (see `merge`).
        self.merged_windows: dict[int, Window] | None = None
        self.workers_reported: set[str] = set()
        self.worker_ended_at = 0.0
        self._drained_windows = 0
        self._worker_windows: dict[str, int] = {}  # master: windows received so far, per worker
        self._announced_windows = 0
        # Master: told of each merged window once complete (its own `windows` stay empty).
        self.on_merged_window: Callable[[Window], None] | None = None
        # Side by side: the other side's own recorder, and how the two sides' predictions of the
        # same rows agreed (measured part): [rows compared, rows agreeing, largest difference].
        self.other: Recorder | None = None
        self.agreement: list[float] = [0, 0, 0.0]

    def configure(
        self,
        *,
        warmup_s: float,
        window_s: float,
        detailed: bool,
        tolerance: float = protocol.DEFAULT_TOLERANCE,
        sample: SampleRows | None = None,
    ) -> None:
        """The run's settings (`detailed`: windows split by endpoint, for warmup="auto"; `sample`:
        the rows with their expectations and labels); called again in a remote worker once its
        master has sent them."""
        if window_s <= 0:
            raise ValueError(f"{protocol.ENV_WINDOW_S} must be positive, not {window_s}")
        self.warmup_s = warmup_s
        self.measure_start = (self.started_at or 0.0) + warmup_s
        # Side by side, while a decision is confirmed: requests that start from then on are not measured.
        self.measure_end = math.inf
        self.window_s = self.windows.window_s = window_s
        self.windows.detailed = detailed
        self.tolerance = tolerance
        self.sample = sample
        self.windows.compare_with(sample, tolerance)

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    def start(self) -> None:
        self.started_at = time.time()
        self.measure_start = self.started_at + self.warmup_s  # an attribute: read per request
        self._mono_start = time.monotonic()
        self._cpu_start = time.process_time()
        if self.other is not None:
            self.other.start()
            # One clock for both sides: the same start, warm-up cut and windows.
            self.other.started_at, self.other._mono_start = self.started_at, self._mono_start
            self.other.measure_start = self.measure_start

    def stop(self) -> None:
        if self.other is not None:
            self.other.stop()
        if not self.running:
            return
        elapsed = time.monotonic() - self._mono_start
        self.ended_at = (self.started_at or 0.0) + elapsed
        self.windows.finish(elapsed)
        if elapsed > 0:
            self.cpu_percent = round((time.process_time() - self._cpu_start) / elapsed * 100.0, 1)

    def elapsed_s(self) -> float:
        return time.monotonic() - self._mono_start

    def advance_windows(self) -> None:
        """Close the windows that have ended even when no request completes in them (a hung
        service): abort rules and the parent's extension judge closed windows."""
        if self.running:
            self.windows.advance(int(self.elapsed_s() / self.window_s))
        if self.other is not None:
            self.other.advance_windows()

    def record_agreement(self, start_time: float | None, agreement: tuple[int, int, float]) -> None:
        """A side-by-side pair's comparison (`child.AGREEMENT_KEY`), counted when its second
        request started in the measured part."""
        if self.running and (start_time is None or self.measure_start <= start_time < self.measure_end):
            compared, agreeing, largest = agreement
            self.agreement[0] += compared
            self.agreement[1] += agreeing
            self.agreement[2] = max(self.agreement[2], largest)

    def measured_requests(self) -> int:
        """Requests of the measured part so far (cheap: a sum over at most MAX_ENDPOINTS counts)."""
        return sum(stats.latencies.count for stats in self.endpoints.values())

    def record(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        start_time: float | None,
        status: int | None,
        exception: BaseException | None,
        intended: float | None = None,
        predictions: tuple[Any, list[float]] | None = None,
        kind: str | None = None,
    ) -> None:
        """One finished request (the hot path: ~3 histogram records and a few dict look-ups).

        `intended` (open model): when the schedule meant to send it (epoch s). The latency then
        counts from that moment, so time spent waiting behind a slow service is not hidden
        (coordinated omission); the latency from the actual send goes to `uncorrected`.
        `predictions`: `(row indices, predictions)` of a successful answer; `status` and `kind`
        (the failure kind the contract gave a refused answer) group a failed one."""
        if not self.running:
            return
        us = histograms.ms_to_us(response_time_ms)
        failed = exception is not None
        self.all_requests += 1
        self.all_failures += failed
        if start_time is None:  # custom clients may omit it; the completion time minus latency is as good
            start_time = time.time() - response_time_ms / 1000.0
        if intended is not None:
            actual_us = us
            us += max(0, round((start_time - intended) * 1_000_000))
            start_time = intended
        clamped_us = us if LOWEST_US <= us <= HIGHEST_US else histograms.clamp_us(us)[0]  # no call when in range
        counts_index = histograms.counts_index(clamped_us)  # once for both histograms
        windows = self.windows
        window = int((time.monotonic() - self._mono_start) / self.window_s)
        windows.record(window, clamped_us, failed, counts_index)
        measured = self.measure_start <= start_time < self.measure_end
        if predictions is not None and not failed:
            windows.record_predictions(measured, predictions[0], predictions[1])
        if not measured:
            return
        if intended is not None:
            if self.uncorrected is None:
                self.uncorrected = Latencies()
            self.uncorrected.record(actual_us)
        key = f"{request_type} {name}"
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            if len(self.endpoints) >= MAX_ENDPOINTS:
                key = OTHER_ENDPOINTS
            endpoint = self.endpoints.setdefault(key, _Stats())
        endpoint.latencies.record(us, counts_index)
        error = None
        if exception is not None:
            endpoint.failures += 1
            error = (failure_kind(status, exception, kind), status or None, child.context().describe_failure(exception))
            self.errors.add(*error)
        if self.windows.detailed:
            self.windows.record_detail(key, clamped_us, counts_index, error)

    def _add_measured(self, answers: _Answers) -> None:
        """A closed window's measured part joins the run's (once per window, not per answer)."""
        self.rows += answers.rows
        if answers.tally is not None:
            if self.correctness is None:
                self.correctness = answers.tally  # its window's figures are already encoded
            else:
                self.correctness.merge(answers.tally)

    def total(self) -> _Stats:
        """All endpoints together. Merged on demand rather than recorded per request: one
        histogram record less on the hot path (~2.5 µs, a few % of the generator's throughput)."""
        total = _Stats()
        for stats in self.endpoints.values():
            total.latencies.add(stats.latencies)
            total.failures += stats.failures
        return total

    def measured_p95_ms(self) -> float | None:
        total = self.total()
        if not total.latencies.count:
            return None
        return round(total.latencies.percentiles_ms([95])[95], 3)

    # --- distributed runs: a worker drains deltas, the master merges them ---------------------
    def drain(self, final: bool = False) -> dict[str, Any]:
        """What this worker recorded since the last drain, as mergeable pieces; resets them.

        Histograms travel encoded (a few kB), so a report stays small however many requests
        it stands for; windows go once they are closed (all of them in the `final` drain)."""
        delta: dict[str, Any] = {
            "all_requests": self.all_requests,
            "all_failures": self.all_failures,
            "endpoints": {name: stats.to_dict() for name, stats in self.endpoints.items()},
            "errors": self.errors.to_list(),
            "windows": self.windows.closed[self._drained_windows :],
            "uncorrected": None if self.uncorrected is None else self.uncorrected.to_dict(),
            "schedule": self.schedule,
            "rows": self.rows,
            "correctness": None if self.correctness is None else self.correctness.to_dict(),
            "agreement": list(self.agreement),
            "against": None if self.other is None else self.other.drain(final),
        }
        self.agreement = [0, 0, 0.0]
        if final:
            delta.update(started_at=self.started_at, ended_at=self.ended_at, cpu_percent=self.cpu_percent)
        self.all_requests = self.all_failures = 0
        self.endpoints, self.errors = {}, _Errors()
        self.uncorrected = None
        self.rows, self.correctness = 0, None
        self.schedule = None if self.schedule is None else dict.fromkeys(self.schedule, 0)
        self._drained_windows = len(self.windows.closed)
        return delta

    def merge(self, worker: str, delta: dict[str, Any]) -> None:
        """Add a worker's `drain` to this (master's) recorder: exact, histograms add bucket by bucket."""
        self.all_requests += delta["all_requests"]
        self.all_failures += delta["all_failures"]
        for name, stats in delta["endpoints"].items():
            if name not in self.endpoints and len(self.endpoints) >= MAX_ENDPOINTS:
                name = OTHER_ENDPOINTS
            _merge_stats(self.endpoints.setdefault(name, _Stats()), stats)
        for group in delta["errors"]:
            self.errors.add(group["kind"], group["status"], group["message"], group["count"])
        if delta["uncorrected"] is not None:
            if self.uncorrected is None:
                self.uncorrected = Latencies()
            self.uncorrected.add(Latencies.from_dict(delta["uncorrected"]))
        if delta["schedule"] is not None:
            self.schedule = _merge_schedule(self.schedule, delta["schedule"])
        self.rows += delta.get("rows", 0)
        if delta.get("correctness") is not None:
            theirs = CorrectnessTally.from_dict(delta["correctness"])
            if self.correctness is None:
                self.correctness = CorrectnessTally(theirs.tolerance)
            self.correctness.merge(theirs)
        compared, agreeing, largest = delta.get("agreement") or (0, 0, 0.0)
        self.agreement = [self.agreement[0] + compared, self.agreement[1] + agreeing, max(self.agreement[2], largest)]
        if delta.get("against") is not None and self.other is not None:
            self.other.merge(worker, delta["against"])
        if self.merged_windows is None:
            self.merged_windows = {}
        for window in delta["windows"]:
            _merge_window(self.merged_windows, window)
            self._worker_windows[worker] = max(self._worker_windows.get(worker, 0), window["index"] + 1)
        self._announce_merged_windows()
        if "ended_at" in delta:
            self.workers_reported.add(worker)
            self.worker_ended_at = max(self.worker_ended_at, delta["ended_at"] or 0.0)

    def _announce_merged_windows(self) -> None:
        """Master: a window is complete once every worker that sends windows has sent it; hand
        the complete ones to `on_merged_window` in order, as a single process closes its own."""
        if self.on_merged_window is None or self.merged_windows is None or not self._worker_windows:
            return
        complete = min(self._worker_windows.values())
        while self._announced_windows < complete:
            index = self._announced_windows
            self.on_merged_window(self.merged_windows.get(index) or _empty_window(index, self.window_s))
            self._announced_windows += 1

    def _windows_out(self) -> list[Window]:
        if self.merged_windows is None:
            return self.windows.closed
        last = max(self.merged_windows, default=-1)
        return [self.merged_windows.get(i) or _empty_window(i, self.window_s) for i in range(last + 1)]

    def result(
        self,
        generator: dict[str, Any],
        complete: bool,
        aborted: protocol.Aborted | None,
        sequential: dict[str, Any] | None = None,
        ended_at: float | None = None,
    ) -> ResultFile:
        """The result file's content: the one place it is written (side by side, the other side's
        own result under `against`, and `agreement`; `sequential`: the looks of a decided run)."""
        if self.workers_reported:
            # The workers' clock: the master stops a moment after its last worker did, and
            # counting that moment would understate the rate.
            self.ended_at = min(self.ended_at or math.inf, max(self.worker_ended_at, self.measure_start))
            generator = {**generator, "workers": len(self.workers_reported)}
        result: ResultFile = {
            "format": protocol.RESULT_FORMAT,
            "complete": complete,
            "started_at": self.started_at or 0.0,
            "measure_start": self.measure_start,
            "ended_at": self._measured_until() if ended_at is None else ended_at,
            "warmup_s": self.warmup_s,
            "window_s": self.window_s,
            "users_peak": self.users_peak,
            "generator": {"cpu_percent": self.cpu_percent, **generator},
            "total": {
                **self.total().to_dict(),
                "rows": self.rows,
                "correctness": self._correctness_out(),
            },
            "endpoints": {name: stats.to_dict() for name, stats in self.endpoints.items()},
            "windows": self._windows_out(),
            "errors": self.errors.to_list(),
        }
        if aborted is not None:
            result["aborted"] = aborted
        if self.uncorrected is not None:
            result["uncorrected"] = {**self.uncorrected.to_dict(), "failures": self.total().failures}
        if self.schedule is not None:
            result["schedule"] = self.schedule
        if self.sample is not None:
            result["sample_rows"] = len(self.sample.rows)
        if self.other is not None:
            result["against"] = self.other.result(generator, complete, None, ended_at=result["ended_at"])
            compared, agreeing, largest = self.agreement
            result["agreement"] = {
                "compared": int(compared),
                "agreeing": int(agreeing),
                "max_abs_difference": largest if compared else None,
            }
        if sequential is not None:
            result["sequential"] = sequential
        return result

    def _measured_until(self) -> float:
        """The end of the measured interval: the run's end, or the moment measuring stopped."""
        return min(self.ended_at or 0.0, self.measure_end)

    def _correctness_out(self) -> dict[str, Any] | None:
        if self.correctness is not None:
            return self.correctness.to_dict()
        # Something to compare but no answer measured: an empty tally (a metric then reads "no rows checked").
        return CorrectnessTally(self.tolerance).to_dict() if self.windows.compares else None


def _both_tallies(first: CorrectnessTally | None, second: CorrectnessTally | None) -> dict[str, Any] | None:
    """The `to_dict` of both tallies together (None when neither exists)."""
    if first is None or second is None:
        only = first or second
        return None if only is None else only.to_dict()
    return CorrectnessTally.merged([first, second]).to_dict()


def _merge_stats(stats: _Stats, data: dict[str, Any]) -> None:
    stats.latencies.add(Latencies.from_dict(data))
    stats.failures += data["failures"]


def _merge_schedule(mine: dict[str, float] | None, theirs: dict[str, float]) -> dict[str, float]:
    merged = dict(mine or {})
    for key, value in theirs.items():
        # "max_*" are maxima, "pool" a per-process size that adds up, the rest counts.
        merged[key] = max(merged.get(key, 0), value) if key.startswith("max_") else merged.get(key, 0) + value
    return merged


def _merge_window(windows: dict[int, Window], window: Window) -> None:
    mine = windows.get(window["index"])
    if mine is None:
        windows[window["index"]] = window.copy()
        return
    _merge_counts(mine, window)
    mine["duration_s"] = max(mine["duration_s"], window["duration_s"])
    mine["rows"] = mine.get("rows", 0) + window.get("rows", 0)
    if window.get("correctness") is not None:
        theirs = CorrectnessTally.from_dict(window["correctness"])
        if mine.get("correctness") is not None:
            theirs.merge(CorrectnessTally.from_dict(mine["correctness"]))
        mine["correctness"] = theirs.to_dict()
    if "endpoints" in window:  # detailed windows
        endpoints = mine.setdefault("endpoints", {})
        for name, stats in window["endpoints"].items():
            if name in endpoints:
                _merge_counts(endpoints[name], stats)
            else:
                endpoints[name] = dict(stats)
        errors = _Errors()
        for group in mine.get("errors", []) + window["errors"]:
            errors.add(group["kind"], group["status"], group["message"], group["count"])
        mine["errors"] = errors.to_list()


def _merge_counts(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Add `theirs` requests, failures and histogram to `mine` (a window, or its part for one endpoint)."""
    encoded = [w["histogram"] for w in (mine, theirs) if w["histogram"] is not None]
    mine["histogram"] = histograms.encode(histograms.merge(encoded)) if encoded else None
    mine["requests"] += theirs["requests"]
    mine["failures"] += theirs["failures"]


def _window(
    index: int, window_s: float, duration_s: float, requests: int, failures: int, histogram: str | None
) -> Window:
    return {
        "index": index,
        "start_offset_s": round(index * window_s, 6),
        "duration_s": round(duration_s, 6),
        "requests": requests,
        "failures": failures,
        "histogram": histogram,
    }


def _empty_window(index: int, window_s: float) -> Window:
    return _window(index, window_s, window_s, 0, 0, None)


def write_json_atomically(path: str, data: ResultFile) -> None:
    """Write `data` so a reader sees either no file or the whole file, never a torn one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as file:
        json.dump(data, file, separators=(",", ":"), allow_nan=False)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class _Session:
    """Wires a Recorder to one Locust environment: events, progress lines, stdin, result file."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.role = distributed.role(environment)
        run = child.context()  # reads the environment now: a malformed value fails the child before any request
        self.settings = run.settings
        if not self.settings.result_file and self.role != "worker":  # a worker ships its data to the master
            raise RuntimeError(f"{protocol.ENV_RESULT_FILE} is not set: the recorder has nowhere to write")
        self.recorder = Recorder(**_recorder_settings(self.settings))
        if self.settings.side_by_side:
            self.recorder.other = Recorder(**_recorder_settings(self.settings))
        self.aborted: protocol.Aborted | None = None
        # Side by side: the test's objectives, judged at each look; the run ends once they are decided.
        # Looks need every request's start time: worker processes keep theirs, so they run to the end.
        objectives = self.settings.objectives if self.role == "local" else ()
        settle_s = self.settings.request_timeout_s
        self.decision = sequential_decision.DecisionWatch(objectives, settle_s) if objectives else None
        rules = [parse_slo(rule) for rule in self.settings.abort_on]
        self.abort_watch = abort.AbortWatch(rules, self.recorder.window_s, self.recorder.warmup_s)
        # The parent judges the run while it goes on (--aks-inconclusive=extend): closed windows on stdout.
        if self.abort_watch.rules or self.settings.stream_windows or self.decision is not None:
            if self.role == "master":
                self.recorder.on_merged_window = self._window_closed
            elif self.role == "local":
                self.recorder.windows.on_close = self._window_closed
        self._stop_run: Callable[[], None] = lambda: self.environment.runner.quit()
        self._stopping = False
        self.cpu_peak: float | None = None
        self.cpu_warning = False
        self.loop_lag = Latencies()
        self._lag: Any = None
        self.warnings = _WarningLog()
        logging.getLogger().addHandler(self.warnings)
        self.written = False
        self._progress = None
        self._rate_samples: deque[tuple[float, int]] = deque()
        self._forward_headers: Callable[[], None] | None = None

    def attach(self, hooks: Any) -> None:
        """Role-specific wiring: distributed messages, and stdin/progress in the one process that
        talks to the parent (local worker processes share the master's pipes)."""
        if self.role == "worker":
            distributed.attach_worker(self.environment, hooks, self.recorder, self._configured)
            return
        if self.role == "master":
            run_time_s = self.settings.run_time_s or 0.0
            self._forward_headers, self._stop_run = distributed.attach_master(
                self.environment, hooks, self.recorder, run_time_s
            )
        gevent.spawn(_read_stdin, self._stdin_line)

    def _configured(self) -> None:
        """A remote worker got the run's settings from the master."""
        self.settings = child.context().settings
        self.recorder.configure(**_recorder_settings(self.settings))
        if self.settings.side_by_side and self.recorder.other is None:
            self.recorder.other = Recorder(**_recorder_settings(self.settings))

    # --- Locust event listeners -------------------------------------------------------------
    def on_test_start(self, **_kwargs: Any) -> None:
        # Everything loaded so far (modules, the sample, encoded bodies) lives for the whole run: out
        # of the collector's sight, a full collection during the load scans only what the run made
        # (bench/throughput.py: ~25 ms -> ~3 ms each, every few seconds at full speed).
        gc.collect()
        gc.freeze()
        self.recorder.start()
        self._lag = gevent.spawn(self._lag_loop)
        if self.role != "worker":
            self._progress = gevent.spawn(self._progress_loop)

    def _lag_loop(self) -> None:
        """How late the event loop wakes a greenlet: every request of every user waits that long
        before its send (or after its response), so it is the generator's own queueing, whether
        the child burns its CPU itself or a competing process starves it."""
        while True:
            before = time.monotonic()
            gevent.sleep(LAG_PROBE_S)
            self.loop_lag.record(histograms.ms_to_us((time.monotonic() - before - LAG_PROBE_S) * 1000.0))
            self.recorder.advance_windows()

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        start_time: float | None = None,
        response: Any = None,
        context: dict[str, Any] | None = None,
        response_length: int = 0,
        url: str | None = None,
        **_kwargs: Any,
    ) -> None:
        # Locust's own arguments are named (response_length, url): no dict built for `_kwargs` per request.
        if context is None:
            context = {}
        recorder = self.recorder
        if recorder.other is not None:  # side by side only: the hot path of a plain run skips this
            agreement = context.get(child.AGREEMENT_KEY)
            if agreement is not None:
                recorder.record_agreement(start_time, agreement)
            if context.get(child.SIDE_KEY) == child.AGAINST:
                recorder = recorder.other
        if exception is None:
            recorder.record(
                request_type, name, response_time, start_time, None, None,
                context.get(INTENDED_KEY), context.get(child.PREDICTIONS_KEY),
            )  # fmt: skip
        else:  # only then the status and kind matter (the failure's group)
            recorder.record(
                request_type, name, response_time, start_time, getattr(response, "status_code", None), exception,
                context.get(INTENDED_KEY), None, context.get(child.FAILURE_KIND_KEY),
            )  # fmt: skip

    def on_spawning_complete(self, user_count: int, **_kwargs: Any) -> None:
        self.recorder.users_peak = max(self.recorder.users_peak, user_count)

    def on_usage_monitor(self, cpu_usage: float, **_kwargs: Any) -> None:
        self.cpu_peak = max(self.cpu_peak or 0.0, cpu_usage)

    def on_cpu_warning(self, **_kwargs: Any) -> None:
        self.cpu_warning = True

    def on_test_stop(self, **_kwargs: Any) -> None:
        self._sample_users()
        self.recorder.stop()
        if self._progress is not None:
            self._progress.kill(block=False)
        if self._lag is not None:
            self._lag.kill(block=False)

    def on_quitting(self, **_kwargs: Any) -> None:
        if self.role == "worker" or self.written or self.recorder.started_at is None:
            return  # never started: no result; the parent reports the missing file
        complete = self.recorder.ended_at is not None  # else a signal cut the run short
        self.recorder.stop()
        self.written = True
        result_file = self.settings.result_file
        assert result_file is not None  # checked at init for every role that writes
        sequential = None if self.decision is None else self.decision.outcome(self.recorder)
        write_json_atomically(result_file, self.recorder.result(self._generator(), complete, self.aborted, sequential))

    def _window_closed(self, window: Window) -> None:
        if self.settings.stream_windows:
            sys.stdout.write(protocol.encode_window(window) + "\n")
            sys.stdout.flush()
        if self.decision is not None and not self._stopping and self.decision.look(self.recorder, self._generator):
            self._end_run()
        if self.aborted is not None or not self.abort_watch.rules:
            return
        self.aborted = self.abort_watch.window_closed(window)
        if self.aborted is not None:
            self._end_run()

    def _end_run(self) -> None:
        """End the run now, as its run time would (users finish their in-flight requests)."""
        if not self._stopping:
            self._stopping = True
            # Not from inside a request-event callback: quitting kills the user greenlets.
            gevent.spawn(self._stop_run)

    def _stdin_line(self, line: bytes) -> None:
        try:
            control = protocol.decode_control_line(line)
        except protocol.ProtocolError as error:  # its message never quotes the line (a credential)
            logger.warning("ignored %s", error)
            return
        if control.stop:
            self._end_run()
        elif control.headers is not None:
            # Use the refreshed headers here and, on a master, pass them on to the workers.
            child.context().replace_auth_headers(control.headers)
            if self._forward_headers is not None:
                self._forward_headers()

    # --- helpers ----------------------------------------------------------------------------
    def _sample_users(self) -> None:
        runner = getattr(self.environment, "runner", None)
        if runner is not None:
            self.recorder.users_peak = max(self.recorder.users_peak, runner.user_count)

    def _progress_loop(self) -> None:
        while True:
            gevent.sleep(self.settings.progress_s)
            self._sample_users()
            self._emit_progress()

    def _emit_progress(self) -> None:
        rec = self.recorder
        now = rec.elapsed_s()
        self._rate_samples.append((now, rec.all_requests))
        while len(self._rate_samples) > 2 and now - self._rate_samples[1][0] >= RATE_SPAN_S:
            self._rate_samples.popleft()
        then, count_then = self._rate_samples[0]
        if len(self._rate_samples) == 1:
            then, count_then = 0.0, 0
        rps = (rec.all_requests - count_then) / (now - then) if now > then else 0.0
        runner = getattr(self.environment, "runner", None)
        progress = Progress(
            elapsed_s=round(now, 2),
            users=runner.user_count if runner is not None else 0,
            requests=rec.all_requests,
            failures=rec.all_failures,
            rps=round(rps, 2),
            p95_ms=rec.measured_p95_ms(),
            warmup=now < rec.warmup_s,
        )
        sys.stdout.write(protocol.encode_progress(progress) + "\n")
        sys.stdout.flush()

    def _generator(self) -> dict[str, Any]:
        stats = getattr(self.environment, "stats", None)
        own: dict[str, Any] | None = None
        if stats is not None:
            total = stats.total
            own = {
                "requests": total.num_requests,
                "failures": total.num_failures,
                **{
                    f"p{int(q * 100)}_ms": (total.get_response_time_percentile(q) if total.num_requests else None)
                    for q in (0.5, 0.95, 0.99)
                },
            }
        lag = self.loop_lag.percentiles_ms([50, 95]) if self.loop_lag.count else {}
        return {
            "cpu_percent_peak": self.cpu_peak,
            "cpu_warning": self.cpu_warning,
            # Event-loop lateness in ms (LAG_PROBE_S probes); None when no probe completed.
            "loop_lag_ms": {"p50": lag.get(50), "p95": lag.get(95), "max": self.loop_lag.max_ms() if lag else None},
            "warnings": list(self.warnings.messages),
            "locust_version": locust.__version__,
            "locust": own,
        }


def _recorder_settings(settings: RunSettings) -> dict[str, Any]:
    """The run's settings the recorder needs (`Recorder.configure`); the sample only once known (a
    remote worker learns it from its master)."""
    return {
        "warmup_s": settings.warmup_s,
        "window_s": settings.window_s,
        "detailed": settings.window_detail,
        "tolerance": settings.tolerance,
        "sample": child.context().sample if settings.configured else None,
    }


def _read_stdin(on_line: Callable[[bytes], None]) -> None:
    """Hand each line from stdin to `on_line` until EOF: `{"headers": {...}}` (a token refresh)
    or `{"stop": true}` (the parent has its verdict: end the run now).

    The pipe is read non-blocking on gevent's event loop (`gevent.os.nb_read`), never from a
    native thread: a thread parked in `os.read` for the whole run cost the load generator 15-25 %
    of its requests per second (measured with bench/throughput.py's fast target). Only a pipe
    or socket can carry refreshes: a TTY is left alone (Locust polls it for its own keys), and
    /dev/null or a file has nothing to wait for.
    """
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return
    os.set_blocking(0, False)
    buffer = b""
    while True:
        try:
            chunk = gevent.os.nb_read(0, 65536)
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                on_line(line)


def install(hooks: Any = events) -> None:
    """Register the recorder with Locust's event hooks, once per process (this file may be
    loaded both as a locustfile and by import)."""
    if getattr(hooks, "_aksload_recorder_installed", False):
        return
    hooks._aksload_recorder_installed = True
    lifeline.hold()  # before Locust forks its --processes workers: they die with this process, it with pytest

    def on_init(environment: Any, **_kwargs: Any) -> None:
        session = _Session(environment)
        hooks.aksload_recorder = session.recorder  # for open_model, which may be a second copy of this module
        hooks.test_start.add_listener(session.on_test_start)
        hooks.request.add_listener(session.on_request)
        hooks.spawning_complete.add_listener(session.on_spawning_complete)
        hooks.test_stop.add_listener(session.on_test_stop)
        hooks.quitting.add_listener(session.on_quitting)
        if hasattr(hooks, "usage_monitor"):
            hooks.usage_monitor.add_listener(session.on_usage_monitor)
        if hasattr(hooks, "cpu_warning"):
            hooks.cpu_warning.add_listener(session.on_cpu_warning)
        session.attach(hooks)
        _warm_locust_stop()

    hooks.init.add_listener(on_init)


def _warm_locust_stop() -> None:
    """Locust's `runner.stop()` logs its caller through `inspect.stack()`, whose first call in a
    process reads source files and scans `sys.modules`: ~20 ms measured, a frozen event loop
    while the run's last requests are in flight, which made their latency ~20 ms too high (the
    whole p99.9 error in bench/accuracy.py). Later calls take ~0.2 ms: make the first one now,
    before any request."""
    inspect.stack()


install()
