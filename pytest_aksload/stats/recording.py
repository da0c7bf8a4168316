"""The recording core: exact latency histograms of one load run, and the result file they make.

Plain Python, no Locust or gevent (the Locust child wires it to Locust's events in
`_locust/wiring.py`), so it is driven by plain calls in unit tests. `Recorder.record` takes each
finished request's latency in integer microseconds (`round(response_time_ms * 1000)`, keeping
`perf_counter` precision) into HdrHistograms:

* one per endpoint (`"{request_type} {name}"`, at most 50, the rest pooled under
  `(other endpoints)`; `total` is their merge), counting only requests that STARTED at or after
  `measure_start = started_at + warmup_s`;
* one per time window of `window_s` seconds, EVERY request (warm-up too), assigned by its
  COMPLETION time (`stats.windows`).

Each successful answer's predictions (decoded by the test's contract in `child.check_response`)
count as `rows` and, when the sample has expected predictions or labels, go into its window's
`CorrectnessTally` (`stats.windows`); the run's measured figures are the merge of the windows'
measured parts (once per window, not per answer).

Failed requests are in the latency histograms too: a timed-out request is latency a user
experienced. Failures (measured part) are grouped by (kind, status, message) (`stats.error_groups`).

Distributed runs: each worker's `Recorder` `drain`s its mergeable pieces (encoded endpoint
histograms, closed windows by index, error counts) into Locust's worker reports, and the master
`merge`s them, so the master's result is exactly that of all requests. The result file
(`result_schema.ResultFile`, written by `Recorder.result`) is defined in `pytest_aksload.result_schema`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from pytest_aksload import protocol, result_schema
from pytest_aksload.contracts.failures import failure_kind
from pytest_aksload.protocol import SampleRows
from pytest_aksload.result_schema import ErrorExample, ResultFile, Window
from pytest_aksload.stats import error_groups, histograms
from pytest_aksload.stats.correctness import DEFAULT_TOLERANCE, CorrectnessTally
from pytest_aksload.stats.error_groups import ErrorGroups
from pytest_aksload.stats.histograms import HIGHEST_US, LOWEST_US, Latencies
from pytest_aksload.stats.windows import Answers, Windows, empty_window, merge_window

MAX_ENDPOINTS = 50
OTHER_ENDPOINTS = "(other endpoints)"


class EndpointStats:
    """Latencies plus a failure count: one endpoint, or the total."""

    __slots__ = ("latencies", "failures")

    def __init__(self) -> None:
        self.latencies = Latencies()
        self.failures = 0

    def to_dict(self) -> result_schema.Stats:
        return {**self.latencies.to_dict(), "failures": self.failures}  # type: ignore[typeddict-item]


class Recorder:
    """Everything recorded for one run: the mergeable set a distributed master needs, and the
    result file it makes."""

    def __init__(
        self,
        *,
        warmup_s: float,
        window_s: float,
        describe_failure: Callable[[BaseException], str],
        detailed: bool = False,
        **correctness: Any,
    ) -> None:
        """`describe_failure`: a failed request's one-line, redacted message (its error group);
        `correctness`: `tolerance` and `sample`, as `configure` takes them."""
        self.describe_failure = describe_failure
        self.endpoints: dict[str, EndpointStats] = {}
        self.windows = Windows(window_s)
        self.windows.on_measured = self._add_measured
        self.started_at: float | None = None
        self.configure(warmup_s=warmup_s, window_s=window_s, detailed=detailed, **correctness)
        self.errors = ErrorGroups()
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
        tolerance: float = DEFAULT_TOLERANCE,
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
        ids: tuple[str | None, str | None] | None = None,
    ) -> None:
        """One finished request (the hot path: ~3 histogram records and a few dict look-ups).

        `intended` (open model): when the schedule meant to send it (epoch s). The latency then
        counts from that moment, so time spent waiting behind a slow service is not hidden
        (coordinated omission); the latency from the actual send goes to `uncorrected`.
        `predictions`: `(row indices, predictions)` of a successful answer; `status` and `kind`
        (the failure kind the contract gave a refused answer) group a failed one; `ids`: a failed
        one's (x-ms-client-request-id sent, server's x-request-id), kept as its group's example."""
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
            endpoint = self.endpoints.setdefault(key, EndpointStats())
        endpoint.latencies.record(us, counts_index)
        error = None
        examples: tuple[ErrorExample, ...] = ()
        if exception is not None:
            endpoint.failures += 1
            error = (failure_kind(status, exception, kind), status or None, self.describe_failure(exception))
            if ids is not None and (ids[0] or ids[1]):
                examples = (error_groups.example(start_time, *ids),)
            self.errors.add(*error, examples=examples)
        if self.windows.detailed:
            self.windows.record_detail(key, clamped_us, counts_index, error, examples)

    def _add_measured(self, answers: Answers) -> None:
        """A closed window's measured part joins the run's (once per window, not per answer)."""
        self.rows += answers.rows
        if answers.tally is not None:
            if self.correctness is None:
                self.correctness = answers.tally  # its window's figures are already encoded
            else:
                self.correctness.merge(answers.tally)

    def total(self) -> EndpointStats:
        """All endpoints together. Merged on demand rather than recorded per request: one
        histogram record less on the hot path (docs/performance.md)."""
        total = EndpointStats()
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
        self.endpoints, self.errors = {}, ErrorGroups()
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
            _merge_stats(self.endpoints.setdefault(name, EndpointStats()), stats)
        self.errors.add_records(delta["errors"])
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
            merge_window(self.merged_windows, window)
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
            self.on_merged_window(self.merged_windows.get(index) or empty_window(index, self.window_s))
            self._announced_windows += 1

    def _windows_out(self) -> list[Window]:
        if self.merged_windows is None:
            return self.windows.closed
        last = max(self.merged_windows, default=-1)
        return [self.merged_windows.get(i) or empty_window(i, self.window_s) for i in range(last + 1)]

    def result(
        self,
        generator: dict[str, Any],
        complete: bool,
        aborted: result_schema.Aborted | None,
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
            "format": result_schema.RESULT_FORMAT,
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


def _merge_stats(stats: EndpointStats, data: dict[str, Any]) -> None:
    stats.latencies.add(Latencies.from_dict(data))
    stats.failures += data["failures"]


def _merge_schedule(mine: dict[str, float] | None, theirs: dict[str, float]) -> dict[str, float]:
    merged = dict(mine or {})
    for key, value in theirs.items():
        # "max_*" are maxima, "pool" a per-process size that adds up, the rest counts.
        merged[key] = max(merged.get(key, 0), value) if key.startswith("max_") else merged.get(key, 0) + value
    return merged
