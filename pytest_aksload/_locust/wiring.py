"""The recorder's wiring to Locust (child process only): events, progress lines, stdin, result file.

The recording itself is `stats.recording.Recorder`, plain Python; this module hands it Locust's
`request` events (`ChildSession.on_request`, the per-request path), runs the event-loop lag
probe and the progress lines, reads the parent's control lines from stdin, watches abort rules
and side-by-side decisions, and writes the result file at quit. `install` registers a session
with Locust's event hooks; the recording locustfile (`recorder_locustfile.py`, what Locust is
handed with `-f`) calls it. Importing this module registers nothing.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import os
import stat
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import gevent.os
import locust

from pytest_aksload import child, protocol, result_schema
from pytest_aksload._locust import distributed, sequential_decision
from pytest_aksload.config.objectives import parse_slo
from pytest_aksload.protocol import Progress, RunSettings
from pytest_aksload.result_schema import ResultFile, Window
from pytest_aksload.stats import histograms
from pytest_aksload.stats.histograms import Latencies
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.verdicts import abort

logger = logging.getLogger("pytest_aksload.recorder")

MAX_WARNINGS = 20
INTENDED_KEY = "aksload_intended"  # request context: the open model's intended send time (epoch s)
LAG_PROBE_S = 0.1  # the event-loop lag probe's sleep
RATE_SPAN_S = 5.0  # progress "rps" is measured over about this many recent seconds

_session: ChildSession | None = None  # this process's (Locust makes one environment per process)


def session() -> ChildSession:
    """The session `install` made for this process's Locust environment (the open model's
    schedule counts into its recorder)."""
    if _session is None:
        raise RuntimeError("the recorder is not installed: run Locust with the recording locustfile first")
    return _session


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


def write_json_atomically(path: str, data: ResultFile) -> None:
    """Write `data` so a reader sees either no file or the whole file, never a torn one."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as file:
        json.dump(data, file, separators=(",", ":"), allow_nan=False)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


class ChildSession:
    """Wires a Recorder to one Locust environment: events, progress lines, stdin, result file."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.role = distributed.role(environment)
        run = child.context()  # reads the environment now: a malformed value fails the child before any request
        self.settings = run.settings
        if not self.settings.result_file and self.role != "worker":  # a worker ships its data to the master
            raise RuntimeError(f"{protocol.ENV_RESULT_FILE} is not set: the recorder has nowhere to write")
        self.recorder = _new_recorder(self.settings)
        if self.settings.side_by_side:
            self.recorder.other = _new_recorder(self.settings)
        self.aborted: result_schema.Aborted | None = None
        # Side by side: the test's objectives, judged at each look; the run ends once they are decided.
        self.decision = sequential_decision.watch_for(
            self.role, self.settings.objectives, self.settings.request_timeout_s
        )
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
        self._master: distributed.Master | None = None

    def attach(self, hooks: Any) -> None:
        """Role-specific wiring: distributed messages, and stdin/progress in the one process that
        talks to the parent (local worker processes share the master's pipes)."""
        if self.role == "worker":
            distributed.attach_worker(self.environment, hooks, self.recorder, self._configured)
            return
        if self.role == "master":
            run_time_s = self.settings.run_time_s or 0.0
            self._master = distributed.attach_master(self.environment, hooks, self.recorder, run_time_s)
            self._stop_run = self._master.finish
        gevent.spawn(_read_stdin, self._stdin_line)

    def _configured(self) -> None:
        """A remote worker got the run's settings from the master."""
        self.settings = child.context().settings
        self.recorder.configure(**_recorder_settings(self.settings))
        if self.settings.side_by_side and self.recorder.other is None:
            self.recorder.other = _new_recorder(self.settings)

    # --- Locust event listeners -------------------------------------------------------------
    def on_test_start(self, **_kwargs: Any) -> None:
        # Everything loaded so far (modules, the sample, encoded bodies) lives for the whole run: out
        # of the collector's sight, a full collection during the load scans only what the run made,
        # a far shorter pause of the event loop (docs/performance.md).
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
                context.get(INTENDED_KEY), None, context.get(child.FAILURE_KIND_KEY), child.request_ids_of(response),
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
            # The run's last state: a run shorter than the progress interval (or whose test_start
            # came late on a busy host) would otherwise show no progress line at all.
            self._emit_progress()
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
        result = self.recorder.result(self._generator(), complete, self.aborted, sequential)
        if self.settings.run_id:
            result["run_id"] = self.settings.run_id
        write_json_atomically(result_file, result)

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
            if self._master is not None:
                self._master.forward_headers()

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
        # A distributed master: worker reports that failed authentication, dropped (the test ERRORs).
        rejected = {} if self._master is None else {"rejected_reports": self._master.rejected_reports}
        return {
            **rejected,
            "cpu_percent_peak": self.cpu_peak,
            "cpu_warning": self.cpu_warning,
            # Event-loop lateness in ms (LAG_PROBE_S probes); None when no probe completed.
            "loop_lag_ms": {"p50": lag.get(50), "p95": lag.get(95), "max": self.loop_lag.max_ms() if lag else None},
            "warnings": list(self.warnings.messages),
            "locust_version": locust.__version__,
            "locust": own,
        }


def _new_recorder(settings: RunSettings) -> Recorder:
    return Recorder(describe_failure=_describe_failure, **_recorder_settings(settings))


def _describe_failure(exception: BaseException) -> str:
    # The context of now: a remote worker's is replaced once its master has sent the settings.
    return child.context().describe_failure(exception)


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
    native thread: a thread parked in `os.read` for the whole run cost the load generator a large
    share of its requests per second (docs/performance.md). Only a pipe
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


def install(hooks: Any) -> None:
    """Register the recorder with Locust's event hooks (`locust.events`): at `init`, a
    `ChildSession` for the process's environment."""

    def on_init(environment: Any, **_kwargs: Any) -> None:
        global _session
        _session = ChildSession(environment)
        # Request ids differ across a distributed run's processes by Locust's worker index.
        child.set_worker_index(lambda: max(0, getattr(environment.runner, "worker_index", 0)))
        hooks.test_start.add_listener(_session.on_test_start)
        hooks.request.add_listener(_session.on_request)
        hooks.spawning_complete.add_listener(_session.on_spawning_complete)
        hooks.test_stop.add_listener(_session.on_test_stop)
        hooks.quitting.add_listener(_session.on_quitting)
        if hasattr(hooks, "usage_monitor"):
            hooks.usage_monitor.add_listener(_session.on_usage_monitor)
        if hasattr(hooks, "cpu_warning"):
            hooks.cpu_warning.add_listener(_session.on_cpu_warning)
        _session.attach(hooks)
        _warm_locust_stop()

    hooks.init.add_listener(on_init)


def _warm_locust_stop() -> None:
    """Locust's `runner.stop()` logs its caller through `inspect.stack()`, whose first call in a
    process reads source files and scans `sys.modules`, far slower than later ones: a frozen event
    loop while the run's last requests are in flight, which made their latency that much too high
    (the whole p99.9 error in bench/accuracy.py; figures in docs/performance.md). Make the first
    call now, before any request."""
    inspect.stack()
