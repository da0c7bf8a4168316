"""Nothing the plugin starts outlives a gate killed by SIGKILL (a CI runner's hard timeout, the OOM killer).

The live tests start an inner pytest running a 30 s load test, wait until load flows, `kill -9`
the pytest process and then require that every process it started (the Locust child, its
`--processes` workers, the `--aks-local` server and its workers) is gone and that the endpoint
receives nothing more. The documented bound is 2 s (docs/reliability.md); the assertion allows
`GONE_BOUND_S` because a shared 2-core host can stall any process for a while, and the measured
time is printed (`-s`) so the typical figure can be checked against the documented one.

The first tests check `lifeline` itself on plain Python processes, both mechanisms (the Linux
parent-death signal and the portable polling), including a fork and a parent that died before
its child could hold on to it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import GATE, Gates, tagged_processes
from loopback_servers import ScoringServer, closed_port

from pytest_aksload import lifeline

DOCUMENTED_BOUND_S = 2.0
# The assertion's bound: the documented one plus room for a stalled, shared 2-core host.
GONE_BOUND_S = 4.0
# A 30 s load: only the kill can end it within the test's time.
LOAD_30S = 'users=4, spawn_rate=50, duration="30s", wait=(0.05, 0.1), timeout="2s", rows=5{extra}'
# A remote worker gives a silent master 5 s (MASTER_SILENCE_S in _locust/distributed.py, which
# this process must not import: it loads locust), then finishes the requests in flight.
REMOTE_WORKER_BOUND_S = 5.0 + GONE_BOUND_S
PROGRESS = re.compile(r"\[aksload\] .*?, (\d+) requests,")

# A process started like the plugin starts one: `lifeline.parent_environment()` of its parent.
STARTER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pytest_aksload import lifeline
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env={**os.environ, **lifeline.parent_environment()})
    print(child.pid, flush=True)
    child.wait()
    """
)
# The held child forks a grandchild (the parent-death signal is cleared on fork) and reports both pids.
HELD_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pytest_aksload import lifeline
    if os.environ.get("FORCE_POLLING"):
        lifeline._set_parent_death_signal = lambda: False
    assert lifeline.hold()
    assert lifeline.PARENT_PID_ENV not in os.environ
    if os.fork() == 0:
        time.sleep(600)
    print(os.getpid(), flush=True)
    time.sleep(600)
    """
)


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def _seconds_until_gone(pids: list[int], bound_s: float = GONE_BOUND_S) -> float:
    """From now until none of `pids` runs; fails after `bound_s`, killing what is left (no load may go on)."""
    started = time.monotonic()
    while alive := _alive(pids):
        if time.monotonic() - started > bound_s:
            for pid in alive:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
            pytest.fail(f"still running {bound_s:g}s after their parent died: {alive}")
        time.sleep(0.02)
    return time.monotonic() - started


def _held_family(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[int]]:
    """A starter, its held child and the child's forked grandchild; returns the starter and the two pids."""
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, HELD_CHILD], stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env
    )
    assert starter.stdout is not None
    child_pid = int(starter.stdout.readline())
    child = psutil.Process(child_pid)
    deadline = time.monotonic() + 30
    while not child.children() and time.monotonic() < deadline:  # the fork is the child's last step
        time.sleep(0.02)
    return starter, [child_pid] + [grandchild.pid for grandchild in child.children()]


@pytest.mark.parametrize("mechanism", ["parent-death signal", "polling"])
def test_held_child_and_its_fork_die_with_the_parent(tmp_path: Path, mechanism: str) -> None:
    if mechanism == "parent-death signal" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    env = dict(os.environ, FORCE_POLLING="1" if mechanism == "polling" else "")
    starter, pids = _held_family(tmp_path, env)
    try:
        assert len(pids) == 2 and _alive(pids) == pids
        time.sleep(0.3)  # both lived on while the parent did
        assert _alive(pids) == pids
    finally:
        starter.kill()
        starter.wait()
    print(f"{mechanism}: child and fork gone {_seconds_until_gone(pids):.2f}s after SIGKILL of the parent")


def test_child_whose_parent_died_before_it_held_on_dies_at_once(tmp_path: Path) -> None:
    survived = tmp_path / "survived"
    late_child = (
        "import time; time.sleep(1.0)\n"  # the parent is SIGKILLed meanwhile
        "from pytest_aksload import lifeline; lifeline.hold()\n"
        f"open({str(survived)!r}, 'w').close()\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", STARTER, late_child], stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    child_pid = int(starter.stdout.readline())
    starter.kill()
    starter.wait()
    _seconds_until_gone([child_pid], bound_s=30)
    assert not survived.exists()


def test_hold_without_a_parent_pid_does_nothing() -> None:
    code = "from pytest_aksload import lifeline; print(lifeline.hold())"
    env = {k: v for k, v in os.environ.items() if k != lifeline.PARENT_PID_ENV}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "False\n"


def _skip_without_the_local_service() -> None:
    # find_spec, not importorskip: pytester restores sys.modules after each test, and numpy
    # (lightgbm's) cannot be imported a second time into one process.
    missing = [name for name in ("azureml_inference_server_http", "lightgbm") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the local service needs {', '.join(missing)}")


# --- gates killed mid-load ------------------------------------------------------------------


class _InnerPytest:
    """An inner pytest run in a process of its own (so it can be SIGKILLed), its output followed."""

    def __init__(self, gates: Gates, extra_marker: str, *args: str) -> None:
        gates.pytester.makepyfile(test_gate=GATE.format(marker=LOAD_30S.format(extra=extra_marker)))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=gates.pytester.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output: list[str] = []
        self.load_flows = threading.Event()
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            self.output.append(line)
            match = PROGRESS.search(line)
            if match and int(match.group(1)) > 0:
                self.load_flows.set()

    def wait_for_load(self, timeout_s: float) -> None:
        if not self.load_flows.wait(timeout_s):
            self.process.kill()
            self.process.wait()
            pytest.fail(f"no load flowed within {timeout_s:g}s; inner pytest said:\n{''.join(self.output)[-3000:]}")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: pytest runs no cleanup at all
        self.process.wait()


def _kill_mid_load(gates: Gates, extra_marker: str, *args: str, startup_s: float = 60.0) -> tuple[list[str], float]:
    """Start the gate, wait until load flows, SIGKILL pytest. Returns the command lines of the
    processes it had started and the seconds from the kill until every one of them was gone."""
    inner = _InnerPytest(gates, extra_marker, *args)
    try:
        inner.wait_for_load(startup_s)
        started = [p for p in tagged_processes(gates.tag) if p.pid != inner.process.pid]
        names = [" ".join(p.cmdline()) for p in started]
    finally:
        inner.kill()
    return names, _seconds_until_gone([p.pid for p in started])


def _assert_load_stopped(server: ScoringServer) -> None:
    """Nothing reaches the server once the generator is gone (no process of it is left to send)."""
    gone_at = time.time()
    count = len(server.scoring_requests())
    time.sleep(1.0)
    received = server.scoring_requests()
    assert len(received) == count, f"{len(received) - count} requests arrived after every load process was gone"
    assert max(r.arrived_at for r in received) <= gone_at


def test_sigkilled_gate_stops_its_load(gates: Gates) -> None:
    with ScoringServer() as server:
        names, gone_s = _kill_mid_load(gates, "", "--aks-scoring-uri", server.url)
        _assert_load_stopped(server)
    assert sum("locust" in name for name in names) == 1, names
    print(f"plain: Locust child gone {gone_s:.2f}s after SIGKILL of pytest")


def test_sigkilled_gate_stops_its_worker_processes(gates: Gates) -> None:
    with ScoringServer() as server:
        names, gone_s = _kill_mid_load(gates, ", workers=2", "--aks-scoring-uri", server.url)
        _assert_load_stopped(server)
    assert sum("locust" in name for name in names) == 3, names  # the master and its 2 forked workers
    print(f"workers=2: master and workers gone {gone_s:.2f}s after SIGKILL of pytest")


def test_sigkilled_gate_stops_the_local_service(gates: Gates) -> None:
    _skip_without_the_local_service()
    # The server's start-up (the model load) comes before any load.
    names, gone_s = _kill_mid_load(gates, "", "--aks-local", startup_s=120)
    assert sum("locust" in name for name in names) == 1, names
    assert sum("azureml_inference_server_http" in name for name in names) >= 2, names  # the arbiter and a worker
    print(f"--aks-local: Locust child, server and its workers gone {gone_s:.2f}s after SIGKILL of pytest")


def test_local_server_workers_die_with_a_sigkilled_arbiter() -> None:
    """The OOM killer may pick the server's arbiter itself: its workers must not serve on."""
    _skip_without_the_local_service()
    from pytest_aksload.local import LocalService

    service = LocalService(workers=2)
    service.start()
    try:
        workers = [worker.pid for worker in psutil.Process(service.pid).children()]
        assert len(workers) == 2
        os.kill(service.pid, signal.SIGKILL)
        gone_s = _seconds_until_gone(workers)
    finally:
        service.stop()
    print(f"gunicorn workers gone {gone_s:.2f}s after SIGKILL of their arbiter")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the master's parent-death signal")
def test_remote_worker_stops_when_its_master_dies_with_the_gate(gates: Gates, monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote worker is not ours to kill: it stops when its master (dead with the gate) goes silent."""
    port = closed_port()
    monkeypatch.setenv("AKSLOAD_WORKER_TOKEN", "parent-death-worker-token-0123456789")  # the gate's and the worker's
    worker_env = {k: v for k, v in os.environ.items() if k != "AKSLOAD_KEY"}
    script = Path(sys.executable).with_name("aksload-worker")  # the installed console script
    worker = subprocess.Popen(
        [str(script), "--master-host", "127.0.0.1", "--master-port", str(port)],
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with ScoringServer() as server:
            bind = ("--aks-expect-workers", "1", "--aks-master-bind", f"127.0.0.1:{port}")
            names, _gone_s = _kill_mid_load(gates, "", "--aks-scoring-uri", server.url, *bind)
            killed_at = time.monotonic()
            try:
                worker.wait(REMOTE_WORKER_BOUND_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the remote worker still ran {REMOTE_WORKER_BOUND_S:g}s after its master died")
            stopped_s = time.monotonic() - killed_at
            _assert_load_stopped(server)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert any("--master" in name for name in names), names
    print(f"remote worker: exited {stopped_s:.2f}s after its master died (code {worker.returncode})")
