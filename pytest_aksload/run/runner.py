"""Run one load test: Locust in a child process, bounded in time, secrets through its environment only.

The pytest process never imports locust (it gevent-patches the whole process): the child is
`python -m locust` with our recorder attached, in its own process group and a temp working
directory, and hands back one result JSON. `pytest_aksload.protocol` defines the wire
(environment in, progress lines and a result file out, refreshed headers on stdin).
"""

from __future__ import annotations

import collections
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aksload import lifeline, protocol, result_schema, worker_auth
from pytest_aksload.config.profile import REMOTE_WORKERS_WAIT_S, LoadProfile
from pytest_aksload.protocol import Progress, RunSettings
from pytest_aksload.redact import SECRETS, redact
from pytest_aksload.run.fdlimit import open_files_problem
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.stats.result import LoadResult, ResultFileError
from pytest_aksload.targets.target import Target

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


def locust_argv(
    profile: LoadProfile, target: Target, html_report: Path | None, python: str = sys.executable
) -> list[str]:
    """The child's command line. Nothing secret may ever be added here (argv is world-readable)."""
    locustfile = profile.locustfile or protocol.DEFAULT_LOCUSTFILE_PATH
    if profile.rate is not None:
        locustfile = protocol.OPEN_MODEL_LOCUSTFILE_PATH
    argv = [
        python,
        "-m",
        "locust",
        "-f",
        f"{protocol.RECORDER_PATH},{locustfile}",
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


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_time_argv(profile: LoadProfile) -> list[str]:
    """`--run-time`, or the master/worker flags of a distributed run, whose master ends the run
    itself (`RunSettings.run_time_s`; see pytest_aksload/_locust/distributed.py for why)."""
    if profile.workers:
        # Locust's local master binds every interface on port 5557 unless told otherwise: loopback
        # only, on a free port, so two gates on one machine (parallel CI jobs) cannot collide.
        port = _free_loopback_port()
        return ["--processes", str(profile.workers), "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--master-port", str(port)]  # fmt: skip
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


def _worker_token(profile: LoadProfile) -> str | None:
    """The token every worker of a distributed run must prove it holds: the user's for remote
    workers (checked at session start, `config.settings`), a fresh one for local worker processes
    (they inherit it from the master: the same authenticated path, on loopback)."""
    if profile.workers:
        token: str | None = worker_auth.new_token()
    elif profile.remote_workers:
        token = os.environ.get(worker_auth.WORKER_TOKEN_ENV)
    else:
        return None
    SECRETS.remember(token)
    return token


def child_environment(
    settings: RunSettings,
    headers: Mapping[str, str],
    home: Path,
    base: Mapping[str, str] | None = None,
    against_headers: Mapping[str, str] | None = None,
    worker_token: str | None = None,
) -> dict[str, str]:
    """The child's environment: ours minus Locust's own config and any run settings not ours (the
    child reads its run from `AKSLOAD_CHILD_*` only), plus this run's settings and the secrets
    (`worker_token`: a distributed run's, `_worker_token`)."""
    environ = dict(os.environ if base is None else base)
    env = {
        name: value for name, value in environ.items() if not name.startswith(("LOCUST_", protocol.CHILD_ENV_PREFIX))
    }
    # Locust also reads ~/.locust.conf: HOME points at the run's own empty directory.
    env["HOME"] = env["USERPROFILE"] = str(home)
    env.update(settings.to_env())
    env[protocol.ENV_AUTH_HEADERS] = protocol.encode_auth_headers(headers)
    if against_headers is not None:  # the other side's own key (ini aks_against_key_env)
        env[protocol.ENV_AGAINST_AUTH_HEADERS] = protocol.encode_auth_headers(against_headers)
    if worker_token is not None:
        env[protocol.ENV_WORKER_TOKEN] = worker_token
    env["PYTHONUNBUFFERED"] = "1"
    env.update(lifeline.parent_environment())  # the child dies with this process, even by SIGKILL
    return env


class _ChildOutput:
    """Reads the child's stdout on a thread: progress lines to a callback, closed windows into
    `windows` (when the child streams them), the rest kept as a tail."""

    def __init__(self, stream: Any, on_progress: Callable[[Progress], None] | None) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.windows: list[result_schema.Window] = []  # appended by the reader thread only
        self._on_progress = on_progress
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith(protocol.PROGRESS_PREFIX):
                progress = protocol.decode_progress(line)
                if progress is not None and self._on_progress is not None:
                    self._on_progress(progress)
            elif line.startswith(protocol.WINDOW_PREFIX):
                window = protocol.decode_window(line)
                if window is not None:
                    self.windows.append(window)
            elif line:
                self.tail.append(line)

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


def run_load(
    plan: RunPlan,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    html_report: Path | None = None,
    stop_when: Callable[[Sequence[Mapping[str, Any]]], bool] | None = None,
) -> LoadResult:
    """Run the plan and return the exact result; raise LoadRunError otherwise, LoadInterrupted on
    Ctrl-C. Side by side (`plan.against`), the result holds the other side under `against`.

    `stop_when`: called with the windows closed so far (result-file window objects) whenever
    new ones arrive; once it returns True the run ends early, exactly as if its run time were
    up (the result is complete). Used to extend a run only until its verdicts are decided."""
    problem = open_files_problem(plan.profile.users)
    if problem is not None:
        raise LoadRunError(problem)
    workdir = Path(tempfile.mkdtemp(prefix="aksload-"))
    try:
        rows_file, result_file = workdir / "rows.json", workdir / "result.json"
        stderr_path = workdir / "locust-stderr.log"
        rows_file.write_text(protocol.encode_rows_file(plan.sample))
        settings = plan.run_settings(rows_file, result_file, stream_windows=stop_when is not None)
        against = plan.against
        own = against.target.headers() if against is not None and against.own_credential else None
        token = _worker_token(plan.profile)
        env = child_environment(settings, plan.target.headers(), workdir, against_headers=own, worker_token=token)
        with open(stderr_path, "wb") as stderr:
            child = _Child(locust_argv(plan.profile, plan.target, html_report), env, workdir, stderr, on_progress)
            returncode = child.supervise(plan.target, plan.profile.deadline_s, stop_when, result_file)
        if returncode != 0:
            tail = crash_tail(stderr_path, child.output.tail)
            raise LoadRunError(f"load generator (locust) {_exit_cause(returncode)}; its last output:\n{tail}")
        return _complete_result(result_file, stderr_path, plan.profile.duration_s)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Child:
    """The Locust child, started in this thread: its parent-death signal (lifeline) fires when the
    thread that started it ends, so it is started and waited for in the same one."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        workdir: Path,
        stderr: Any,
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.process = subprocess.Popen(
            argv, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
        self.output = _ChildOutput(self.process.stdout, on_progress)

    def supervise(
        self,
        target: Target,
        deadline_s: float,
        stop_when: Callable[[Sequence[Mapping[str, Any]]], bool] | None,
        result_file: Path,
    ) -> int:
        """Its exit code, within the deadline; on Ctrl-C it is stopped (SIGTERM first: the recorder
        then writes what it has) and LoadInterrupted carries that partial result."""
        try:
            return _supervise(self.process, target, deadline_s, _early_stop(self.output, stop_when))
        except KeyboardInterrupt as interrupt:
            _kill_group(self.process)
            raise LoadInterrupted(_partial_result(result_file), interrupt) from None
        except BaseException:
            _kill_group(self.process)
            raise
        finally:
            self.output.join(KILL_GRACE_S)


def _complete_result(result_file: Path, stderr_path: Path, duration_s: float) -> LoadResult:
    """The result the child wrote, if it is usable and complete; LoadRunError saying why not."""
    try:
        result = LoadResult.from_file(result_file)
    except ResultFileError as error:
        tail = crash_tail(stderr_path)
        raise LoadRunError(f"load generator finished without a usable result: {error}\n{tail}") from None
    if not result.complete:
        # Stopped by a signal from outside (an operator, a container runtime): judging a
        # shortened run could pass a gate on data it never collected.
        raise LoadRunError(
            f"load generator was stopped by a signal {result.ended_at - result.started_at:.0f}s into a "
            f"{duration_s:g}s run ({result.requests} requests measured); no verdict on a partial run"
        )
    return result


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
            _send_line(process, protocol.encode_headers_line(target.headers(refresh=False)))
        if not stop_sent and stop_now():
            _send_line(process, protocol.STOP_LINE)
            stop_sent = True


def _send_line(process: subprocess.Popen[bytes], line: bytes) -> None:
    assert process.stdin is not None
    try:
        process.stdin.write(line)
        process.stdin.flush()
    except (BrokenPipeError, OSError):
        pass  # the child is exiting; its exit code tells the rest


def crash_tail(stderr_path: Path, stdout_tail: Iterable[str] = ()) -> str:
    """The child's last output lines, for a crash message; every secret the session ever held is
    masked (a token replaced by a refresh mid-run included), so it is safe to print."""
    try:
        lines = stderr_path.read_text("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    return redact("\n".join([line for line in lines if line.strip()][-STDERR_TAIL_LINES:] + list(stdout_tail)))
