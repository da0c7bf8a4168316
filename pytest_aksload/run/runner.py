"""Run one load test: Locust in a child process, bounded in time, secrets through its environment only.

The pytest process never imports locust (it gevent-patches the whole process): the child is
`python -m locust` with our recorder attached, in its own process group and a temp working
directory, and hands back one result JSON. See `pytest_aksload/_locust/__init__.py` for the
protocol (environment in, progress lines and a result file out, refreshed headers on stdin).
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aksload import child, lifeline
from pytest_aksload.config.profile import REMOTE_WORKERS_WAIT_S, LoadProfile
from pytest_aksload.run.fdlimit import open_files_problem
from pytest_aksload.stats.result import LoadResult, ResultFileError
from pytest_aksload.targets.target import Target
from pytest_aksload.verdicts import abort

STDERR_TAIL_LINES = 15
# How often the parent wakes to check the deadline and whether a token needs refreshing.
POLL_S = 0.5
KILL_GRACE_S = 3.0


class LoadRunError(Exception):
    """The load generator crashed, hung or produced no usable result (a test ERROR, not a FAIL)."""


class LoadInterrupted(KeyboardInterrupt):
    """pytest was interrupted (Ctrl-C, or SIGTERM turned into one) during a load; the child group is
    gone. `partial` is what the child measured until then (`complete` False), if it wrote anything."""

    def __init__(self, partial: LoadResult | None, cause: KeyboardInterrupt) -> None:
        # Ctrl-C's KeyboardInterrupt has no message; SIGTERM's says which signal.
        super().__init__(f"load test interrupted ({str(cause) or 'Ctrl-C'}); load generator stopped")
        self.partial = partial


@dataclass(frozen=True)
class Progress:
    elapsed_s: float
    users: int
    requests: int
    failures: int
    rps: float
    p95_ms: float | None


@dataclass(frozen=True)
class RunFiles:
    """Where a finished run left the files a report may want."""

    html_report: Path | None


def locust_argv(
    profile: LoadProfile, target: Target, html_report: Path | None, python: str = sys.executable
) -> list[str]:
    """The child's command line. Nothing secret may ever be added here (argv is world-readable)."""
    locustfile = profile.locustfile or child.DEFAULT_LOCUSTFILE_PATH
    if profile.rate is not None:
        locustfile = child.OPEN_MODEL_LOCUSTFILE_PATH
    argv = [
        python,
        "-m",
        "locust",
        "-f",
        f"{child.RECORDER_PATH},{locustfile}",
        "--headless",
        "--host",
        target.host,
        "--users",
        str(profile.users),
        "--spawn-rate",
        # Open model: the users only carry scheduled requests, so all of them from the start.
        f"{profile.spawn_rate if profile.rate is None else profile.users:g}",
        *_run_time_argv(profile),
        # In-flight requests get one timeout (+1 s to report it) to finish: killing them would
        # drop exactly the slowest requests and bias p99 low.
        "--stop-timeout",
        f"{math.ceil(profile.request_timeout_s) + 1}",
        # A failed request must not turn into a crash exit code: non-zero means the child broke.
        "--exit-code-on-error",
        "0",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    if html_report is not None:
        argv += ["--html", str(html_report)]
    return argv


def _run_time_argv(profile: LoadProfile) -> list[str]:
    """`--run-time`, or the master/worker flags of a distributed run, whose master ends the run
    itself (AKSLOAD_RUN_TIME_S; see pytest_aksload/_locust/distributed.py for why)."""
    if profile.workers:
        return ["--processes", str(profile.workers)]
    if profile.remote_workers and profile.master_bind is not None:
        host, port = profile.master_bind
        return [
            "--master",
            "--expect-workers",
            str(profile.remote_workers),
            "--expect-workers-max-wait",
            f"{REMOTE_WORKERS_WAIT_S:g}",
            "--master-bind-host",
            host,
            "--master-bind-port",
            str(port),
        ]
    # Locust takes whole seconds; round up so the gate never measures less than asked.
    return ["--run-time", f"{math.ceil(profile.duration_s)}s"]


def _scale_out_environment(profile: LoadProfile) -> dict[str, str]:
    env = {}
    if profile.workers or profile.remote_workers:
        env[child.ENV_RUN_TIME_S] = f"{math.ceil(profile.duration_s)}"
    if profile.rate is not None:
        # Local workers each read their share; a remote master divides when it configures them.
        env[child.ENV_RATE] = repr(profile.rate / max(1, profile.workers))
        env[child.ENV_ARRIVALS] = profile.arrivals
    return env


def child_environment(
    target: Target, profile: LoadProfile, rows_file: Path, result_file: Path, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: ours minus Locust's own config, plus the run's parameters and secret."""
    environ = dict(os.environ if base is None else base)
    env = {name: value for name, value in environ.items() if not name.startswith("LOCUST_")}
    # Locust also reads ~/.locust.conf: HOME points at the run's own empty directory.
    env["HOME"] = env["USERPROFILE"] = str(rows_file.parent)
    env.update(
        {
            child.ENV_SCORING_URI: target.scoring_uri,
            child.ENV_AUTH_HEADERS: json.dumps(dict(target.headers())),
            child.ENV_ROWS_FILE: str(rows_file),
            child.ENV_RESULT_FILE: str(result_file),
            child.ENV_WARMUP_S: f"{profile.warmup_s}",
            child.ENV_REQUEST_TIMEOUT_S: f"{profile.request_timeout_s}",
            child.ENV_WAIT_MIN_S: f"{profile.wait_s[0]}",
            child.ENV_WAIT_MAX_S: f"{profile.wait_s[1]}",
            "PYTHONUNBUFFERED": "1",
            **_scale_out_environment(profile),
            **lifeline.parent_environment(),  # the child dies with this process, even by SIGKILL
        }
    )
    if profile.abort_on:
        env[child.ENV_ABORT_ON] = abort.encode_rules(profile.abort_on)
    if profile.warmup_auto:  # the cut is found after the run: endpoints and errors must be cuttable too
        env[child.ENV_WINDOW_DETAIL] = "1"
    return env


class _ChildOutput:
    """Reads the child's stdout on a thread: progress lines to a callback, closed windows into
    `windows` (when the child streams them), the rest kept as a tail."""

    def __init__(self, stream: Any, on_progress: Callable[[Progress], None] | None) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.windows: list[dict[str, Any]] = []  # appended by the reader thread only
        self._on_progress = on_progress
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith(child.PROGRESS_PREFIX):
                self._progress(line[len(child.PROGRESS_PREFIX) :])
            elif line.startswith(child.WINDOW_PREFIX):
                self._window(line[len(child.WINDOW_PREFIX) :])
            elif line:
                self.tail.append(line)

    def _progress(self, payload: str) -> None:
        if self._on_progress is None:
            return
        try:
            data = json.loads(payload)
            progress = Progress(
                elapsed_s=float(data["elapsed_s"]),
                users=int(data["users"]),
                requests=int(data["requests"]),
                failures=int(data["failures"]),
                rps=float(data["rps"]),
                p95_ms=None if data.get("p95_ms") is None else float(data["p95_ms"]),
            )
        except (ValueError, KeyError, TypeError):
            return
        self._on_progress(progress)

    def _window(self, payload: str) -> None:
        try:
            window = json.loads(payload)
        except ValueError:
            return
        if isinstance(window, dict):
            self.windows.append(window)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's whole process group, then SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def run_load(
    target: Target,
    profile: LoadProfile,
    payloads: Sequence[Mapping[str, Any]],
    *,
    on_progress: Callable[[Progress], None] | None = None,
    html_report: Path | None = None,
    ca_bundle: str | None = None,
    stop_when: Callable[[Sequence[Mapping[str, Any]]], bool] | None = None,
) -> LoadResult:
    """Run the profile against the target and return the exact result; raise LoadRunError otherwise,
    LoadInterrupted on Ctrl-C. `ca_bundle`: PEM file of CAs the child trusts for https.

    `stop_when`: called with the windows closed so far (result-file window objects) whenever
    new ones arrive; once it returns True the run ends early, exactly as if its run time were
    up (the result is complete). Used to extend a run only until its verdicts are decided."""
    problem = open_files_problem(profile.users)
    if problem is not None:
        raise LoadRunError(problem)
    workdir = Path(tempfile.mkdtemp(prefix="aksload-"))
    try:
        rows_file = workdir / "rows.json"
        rows_file.write_text(json.dumps(list(payloads)))
        result_file = workdir / "result.json"
        stderr_path = workdir / "locust-stderr.log"
        env = child_environment(target, profile, rows_file, result_file)
        if stop_when is not None:
            env[child.ENV_STREAM_WINDOWS] = "1"
        if ca_bundle:
            env[child.ENV_CA_BUNDLE] = ca_bundle
        with open(stderr_path, "wb") as stderr:
            # Started and waited for in this thread: the child's parent-death signal (lifeline)
            # fires when the thread that started it ends.
            process = subprocess.Popen(
                locust_argv(profile, target, html_report),
                cwd=workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
            output = _ChildOutput(process.stdout, on_progress)
            try:
                returncode = _supervise(process, target, profile.deadline_s, _early_stop(output, stop_when))
            except KeyboardInterrupt as interrupt:
                _kill_group(process)  # SIGTERM first: the recorder then writes what it has
                raise LoadInterrupted(_partial_result(result_file), interrupt) from None
            except BaseException:
                _kill_group(process)
                raise
            finally:
                output.join(KILL_GRACE_S)
        secrets = [value for value in target.headers(refresh=False).values()]
        if returncode != 0:
            tail = _scrub("\n".join(_tail(stderr_path) + list(output.tail)), secrets)
            raise LoadRunError(f"load generator (locust) {_exit_cause(returncode)}; its last output:\n{tail}")
        try:
            result = LoadResult.from_file(result_file)
        except ResultFileError as error:
            tail = _scrub("\n".join(_tail(stderr_path)), secrets)
            raise LoadRunError(f"load generator finished without a usable result: {error}\n{tail}") from None
        if not result.complete:
            # Stopped by a signal from outside (an operator, a container runtime): judging a
            # shortened run could pass a gate on data it never collected.
            raise LoadRunError(
                f"load generator was stopped by a signal {result.ended_at - result.started_at:.0f}s into a "
                f"{profile.duration_s:g}s run ({result.requests} requests measured); no verdict on a partial run"
            )
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _exit_cause(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with code {returncode}"
    name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
    if -returncode == signal.SIGKILL:
        # Nobody else SIGKILLs a process unannounced; the kernel does when memory runs out.
        return f"was killed by {name} (out of memory? see dmesg, or run fewer users / a bigger machine)"
    return f"was killed by {name}"


def _partial_result(result_file: Path) -> LoadResult | None:
    try:
        return LoadResult.from_file(result_file)
    except ResultFileError:
        return None


def _early_stop(
    output: _ChildOutput, stop_when: Callable[[Sequence[Mapping[str, Any]]], bool] | None
) -> Callable[[], bool]:
    """True once `stop_when` holds for the windows streamed so far (asked again only when new ones came)."""
    seen = 0

    def check() -> bool:
        nonlocal seen
        windows = output.windows[:]  # the reader thread only appends
        if stop_when is None or len(windows) == seen:
            return False
        seen = len(windows)
        return stop_when(windows)

    return check


def _supervise(
    process: subprocess.Popen[bytes], target: Target, deadline_s: float, stop_now: Callable[[], bool]
) -> int:
    """Wait for the child within its deadline, passing refreshed auth headers on stdin, and asking
    it to end the run once `stop_now()` says so."""
    deadline = time.monotonic() + deadline_s
    stop_sent = False
    while True:
        try:
            return process.wait(POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            _kill_group(process)
            raise LoadRunError(
                f"load generator did not finish within {deadline_s:g}s (run time + request timeout + grace); killed it"
            )
        if target.credential.needs_refresh():
            target.credential.refresh()
            _send_line(process, (json.dumps({"headers": dict(target.headers(refresh=False))}) + "\n").encode())
        if not stop_sent and stop_now():
            _send_line(process, child.STOP_LINE)
            stop_sent = True


def _send_line(process: subprocess.Popen[bytes], line: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(line)
        process.stdin.flush()
    except (BrokenPipeError, OSError):
        pass  # the child is exiting; its exit code tells the rest


def _tail(path: Path) -> list[str]:
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-STDERR_TAIL_LINES:]
