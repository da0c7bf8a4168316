"""The recorder: exact latency histograms for a Locust run, written as one JSON file at quit.

Loaded as the first locustfile (`-f recorder.py,<user locustfile>`); it defines no User. Its
listeners see every request of every User through Locust's `request` event and record the
latency in integer microseconds (`round(response_time_ms * 1000)`, keeping `perf_counter`
precision) into HdrHistograms:

* `total` and one per endpoint (`"{request_type} {name}"`, at most 50, the rest pooled under
  `(other endpoints)`), counting only requests that STARTED at or after
  `measure_start = started_at + warmup_s`;
* one per time window of `window_s` seconds, EVERY request (warm-up too), assigned by its
  COMPLETION time (so a closed window never changes): only the current window's histogram is
  live, closed ones are kept encoded (a few hundred bytes each), so memory is flat.

Failed requests are in the latency histograms too: a timed-out request is latency a user
experienced. Failures (measured part) are grouped by (kind, status, message), at most 50
groups; later distinct messages are counted under `(other messages)` of their kind.

The result file format (`"format": "pytest-aksload-result/1"`, times are epoch seconds):

    {"format", "complete": bool (false: stopped by a signal before the run ended),
     "started_at", "measure_start", "ended_at", "warmup_s", "window_s", "users_peak",
     "generator": {"cpu_percent" (process CPU time / wall time over the run, 100 = one core),
                   "cpu_percent_peak" (Locust's 5 s samples, null if none), "cpu_warning": bool,
                   "warnings": [Locust's warning log lines, at most 20],
                   "locust_version", "locust": {Locust's own rounded view of the whole run,
                   warm-up included: "requests", "failures", "p50_ms", "p95_ms", "p99_ms"}},
     "total": STATS, "endpoints": {name: STATS},
     "windows": [{"index", "start_offset_s", "duration_s", "requests", "failures",
                  "histogram": encoded or null when empty}],
     "errors": [{"kind", "status" (int or null), "message", "count"}]}
    STATS = {"requests", "failures", "sum_us", "min_us", "max_us", "clamped", "histogram"}

Distributed runs (later): a worker's `Recorder` state is the same set of mergeable pieces
(`Latencies.add`, encoded windows by index, error counts); a `report_to_master` listener would
ship the closed windows and a snapshot, and a `worker_report` listener on the master would
merge them with the same `Latencies.add`/window merge the parent already uses.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections import deque
from typing import Any

import gevent
import locust
from hdrh.histogram import HdrHistogram
from locust import events

from pytest_aksload import child, histograms
from pytest_aksload.histograms import Latencies
from pytest_aksload.validation import failure_kind

logger = logging.getLogger("pytest_aksload.recorder")

MAX_ENDPOINTS = 50
MAX_ERROR_GROUPS = 50
MAX_WARNINGS = 20
OTHER_ENDPOINTS = "(other endpoints)"
OTHER_MESSAGES = "(other messages)"
RATE_SPAN_S = 5.0  # progress "rps" is measured over about this many recent seconds


class _Stats:
    """Latencies plus a failure count: one endpoint, or the total."""

    __slots__ = ("latencies", "failures")

    def __init__(self) -> None:
        self.latencies = Latencies()
        self.failures = 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.latencies.to_dict(), "failures": self.failures}


class _Windows:
    """Per-window histograms; only the current one is live, closed ones are encoded text."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.closed: list[dict[str, Any]] = []
        self.index = 0
        self._histogram: HdrHistogram | None = None
        self._requests = 0
        self._failures = 0

    def record(self, index: int, us: int, failed: bool) -> None:
        if index > self.index:
            self.advance(index)
        if self._histogram is None:  # lazily: empty windows cost no allocation
            self._histogram = histograms.new_histogram()
        self._histogram.record_value(histograms.clamp_us(us)[0])
        self._requests += 1
        self._failures += failed

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
        self.closed.append(
            {
                "index": self.index,
                "start_offset_s": round(self.index * self.window_s, 6),
                "duration_s": round(duration_s, 6),
                "requests": self._requests,
                "failures": self._failures,
                "histogram": histograms.encode(self._histogram) if self._requests else None,
            }
        )
        self.index += 1
        self._histogram = None
        self._requests = self._failures = 0


class _Errors:
    """Failure counts by (kind, status, message), cardinality bounded."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int | None, str], int] = {}

    def add(self, kind: str, status: int | None, message: str) -> None:
        key = (kind, status, message)
        if key not in self.counts and len(self.counts) >= MAX_ERROR_GROUPS:
            key = (kind, None, OTHER_MESSAGES)
        self.counts[key] = self.counts.get(key, 0) + 1

    def to_list(self) -> list[dict[str, Any]]:
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
            text = child.redact(" ".join(record.getMessage().split()))[:300]
        except Exception:  # a logging handler must never raise into Locust
            return
        if text not in self.messages:
            self.messages.append(text)


class Recorder:
    """Everything recorded for one run; no Locust objects inside, so it is unit-testable and
    its state is the mergeable set a distributed master will need."""

    def __init__(self, *, warmup_s: float, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"{child.ENV_WINDOW_S} must be positive, not {window_s}")
        self.warmup_s = warmup_s
        self.window_s = window_s
        self.total = _Stats()
        self.endpoints: dict[str, _Stats] = {}
        self.windows = _Windows(window_s)
        self.errors = _Errors()
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._mono_start = 0.0
        self._cpu_start = 0.0
        self.cpu_percent: float | None = None
        self.all_requests = 0
        self.all_failures = 0
        self.users_peak = 0

    @property
    def measure_start(self) -> float:
        return (self.started_at or 0.0) + self.warmup_s

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    def start(self) -> None:
        self.started_at = time.time()
        self._mono_start = time.monotonic()
        self._cpu_start = time.process_time()

    def stop(self) -> None:
        if not self.running:
            return
        elapsed = time.monotonic() - self._mono_start
        self.ended_at = (self.started_at or 0.0) + elapsed
        self.windows.finish(elapsed)
        if elapsed > 0:
            self.cpu_percent = round((time.process_time() - self._cpu_start) / elapsed * 100.0, 1)

    def elapsed_s(self) -> float:
        return time.monotonic() - self._mono_start

    def record(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        start_time: float | None,
        status: int | None,
        exception: BaseException | None,
    ) -> None:
        """One finished request (the hot path: ~3 histogram records and a few dict look-ups)."""
        if not self.running:
            return
        us = histograms.ms_to_us(response_time_ms)
        failed = exception is not None
        self.all_requests += 1
        self.all_failures += failed
        self.windows.record(int((time.monotonic() - self._mono_start) / self.window_s), us, failed)
        if start_time is None:  # custom clients may omit it; the completion time minus latency is as good
            start_time = time.time() - response_time_ms / 1000.0
        if start_time < self.measure_start:
            return
        key = f"{request_type} {name}"
        endpoint = self.endpoints.get(key)
        if endpoint is None:
            if len(self.endpoints) >= MAX_ENDPOINTS:
                key = OTHER_ENDPOINTS
            endpoint = self.endpoints.setdefault(key, _Stats())
        self.total.latencies.record(us)
        endpoint.latencies.record(us)
        if exception is not None:
            self.total.failures += 1
            endpoint.failures += 1
            self.errors.add(failure_kind(status, exception), status or None, child.describe_failure(exception))

    def measured_p95_ms(self) -> float | None:
        if not self.total.latencies.count:
            return None
        return round(self.total.latencies.percentiles_ms([95])[95], 3)

    def to_dict(self, generator: dict[str, Any], complete: bool) -> dict[str, Any]:
        return {
            "format": child.RESULT_FORMAT,
            "complete": complete,
            "started_at": self.started_at,
            "measure_start": self.measure_start,
            "ended_at": self.ended_at,
            "warmup_s": self.warmup_s,
            "window_s": self.window_s,
            "users_peak": self.users_peak,
            "generator": {"cpu_percent": self.cpu_percent, **generator},
            "total": self.total.to_dict(),
            "endpoints": {name: stats.to_dict() for name, stats in self.endpoints.items()},
            "windows": self.windows.closed,
            "errors": self.errors.to_list(),
        }


def write_json_atomically(path: str, data: dict[str, Any]) -> None:
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
        self.result_file = os.environ.get(child.ENV_RESULT_FILE, "")
        if not self.result_file:
            raise RuntimeError(f"{child.ENV_RESULT_FILE} is not set: the recorder has nowhere to write")
        self.progress_s = child._env_float(child.ENV_PROGRESS_S, 2.0) or 2.0
        self.recorder = Recorder(
            warmup_s=child._env_float(child.ENV_WARMUP_S, 0.0),
            window_s=child._env_float(child.ENV_WINDOW_S, 1.0),
        )
        child.auth_headers()  # parse now: a malformed value fails the child before any request
        self.cpu_peak: float | None = None
        self.cpu_warning = False
        self.warnings = _WarningLog()
        logging.getLogger().addHandler(self.warnings)
        self.written = False
        self._progress = None
        self._rate_samples: deque[tuple[float, int]] = deque()
        gevent.spawn(_read_stdin_headers)

    # --- Locust event listeners -------------------------------------------------------------
    def on_test_start(self, **_kwargs: Any) -> None:
        self.recorder.start()
        self._progress = gevent.spawn(self._progress_loop)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        start_time: float | None = None,
        response: Any = None,
        **_kwargs: Any,
    ) -> None:
        status = getattr(response, "status_code", None)
        self.recorder.record(request_type, name, response_time, start_time, status, exception)

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

    def on_quitting(self, **_kwargs: Any) -> None:
        if self.written or self.recorder.started_at is None:
            return  # never started: no result; the parent reports the missing file
        complete = self.recorder.ended_at is not None  # else a signal cut the run short
        self.recorder.stop()
        self.written = True
        write_json_atomically(self.result_file, self.recorder.to_dict(self._generator(), complete))

    # --- helpers ----------------------------------------------------------------------------
    def _sample_users(self) -> None:
        runner = getattr(self.environment, "runner", None)
        if runner is not None:
            self.recorder.users_peak = max(self.recorder.users_peak, runner.user_count)

    def _progress_loop(self) -> None:
        while True:
            gevent.sleep(self.progress_s)
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
        line = {
            "elapsed_s": round(now, 2),
            "users": runner.user_count if runner is not None else 0,
            "requests": rec.all_requests,
            "failures": rec.all_failures,
            "rps": round(rps, 2),
            "p95_ms": rec.measured_p95_ms(),
            "warmup": now < rec.warmup_s,
        }
        sys.stdout.write(child.PROGRESS_PREFIX + json.dumps(line) + "\n")
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
        return {
            "cpu_percent_peak": self.cpu_peak,
            "cpu_warning": self.cpu_warning,
            "warnings": list(self.warnings.messages),
            "locust_version": locust.__version__,
            "locust": own,
        }


def _read_stdin_headers() -> None:
    """Apply `{"headers": {...}}` lines from stdin (token refresh) until EOF.

    The blocking `os.read` runs in gevent's native thread pool so the event loop never waits;
    `os.read` (not `sys.stdin`) because a thread blocked inside a buffered reader at exit
    aborts the interpreter. A TTY is left alone: Locust polls it for its own keys.
    """
    try:
        if os.isatty(0):
            return
    except OSError:
        return
    pool = gevent.get_hub().threadpool
    buffer = b""
    while True:
        try:
            chunk = pool.apply(os.read, (0, 65536))
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                _apply_header_line(line)


def _apply_header_line(line: bytes) -> None:
    try:
        message = json.loads(line)
        child.replace_auth_headers(message["headers"])
    except (ValueError, KeyError, TypeError):
        # Never quote the line: it carries a credential.
        logger.warning('ignored a malformed line on stdin (%d bytes); expected {"headers": {...}}', len(line))


def install(hooks: Any = events) -> None:
    """Register the recorder with Locust's event hooks, once per process (this file may be
    loaded both as a locustfile and by import)."""
    if getattr(hooks, "_aksload_recorder_installed", False):
        return
    hooks._aksload_recorder_installed = True

    def on_init(environment: Any, **_kwargs: Any) -> None:
        session = _Session(environment)
        hooks.test_start.add_listener(session.on_test_start)
        hooks.request.add_listener(session.on_request)
        hooks.spawning_complete.add_listener(session.on_spawning_complete)
        hooks.test_stop.add_listener(session.on_test_stop)
        hooks.quitting.add_listener(session.on_quitting)
        if hasattr(hooks, "usage_monitor"):
            hooks.usage_monitor.add_listener(session.on_usage_monitor)
        if hasattr(hooks, "cpu_warning"):
            hooks.cpu_warning.add_listener(session.on_cpu_warning)

    hooks.init.add_listener(on_init)


install()
