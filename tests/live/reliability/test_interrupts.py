"""Interrupts: Ctrl-C (SIGINT) or SIGTERM (a CI job cancelled) to pytest during a load test.

The Locust child group and the --aks-local server must be gone within a few seconds, and the
partial result is reported as interrupted, not as a verdict.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import GATE, Gates, tagged_processes, wait_until_gone
from loopback_servers import ScoringServer

# Long enough that the signal surely lands mid-load.
LONG = 'users=4, spawn_rate=50, duration="60s", wait=(0.05, 0.1), timeout="2s", rows=5'
# From the signal to a fully exited pytest: the runner's SIGTERM grace (3 s) plus teardown.
EXIT_BOUND_S = 15.0
# Python leaves SIGINT ignored if the launching shell ignored it (background jobs); a user's
# terminal delivers it, so restore the default before running pytest.
LAUNCH = "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); sys.exit(pytest.main())"


def _wait_for_locust(tag: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in tagged_processes(tag):
            try:
                if "locust" in process.cmdline():
                    return
            except Exception:
                continue
        time.sleep(0.2)
    pytest.fail(f"no Locust child appeared within {timeout_s:g}s")


def _interrupt(gates: Gates, signum: int, *args: str, startup_s: float = 30.0) -> tuple[str, int, float]:
    gates.pytester.makepyfile(test_gate=GATE.format(marker=LONG))
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "-p", "no:cacheprovider", *args],
        cwd=gates.pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_locust(gates.tag, startup_s)
        time.sleep(3.0)  # let some requests complete, so there is a partial result to report
        process.send_signal(signum)
        signalled = time.monotonic()
        output, _ = process.communicate(timeout=EXIT_BOUND_S)
        exit_s = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    leftovers = wait_until_gone(gates.tag, timeout_s=5.0)
    assert not leftovers, f"processes left behind by the interrupted run: {leftovers}"
    return output.decode("utf-8", "replace"), process.returncode, exit_s


def _assert_reported_interrupted(output: str) -> None:
    row = next((line for line in output.splitlines() if line.startswith("test_gate.py::test_gate ")), "")
    assert row.endswith("INTERRUPTED"), output
    requests = int(row.split()[1])
    assert requests > 0  # the partial numbers are shown, not a verdict


def test_ctrl_c_stops_the_child_and_reports_partial_result(gates: Gates) -> None:
    with ScoringServer() as server:
        output, code, exit_s = _interrupt(gates, signal.SIGINT, "--aks-scoring-uri", server.url)
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "load test interrupted (Ctrl-C); load generator stopped" in output
    _assert_reported_interrupted(output)
    assert exit_s < EXIT_BOUND_S


def test_sigterm_stops_the_child_and_the_local_service(gates: Gates) -> None:
    output, code, exit_s = _interrupt(gates, signal.SIGTERM, "--aks-local", startup_s=90.0)
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "received signal SIGTERM" in output
    _assert_reported_interrupted(output)
    assert exit_s < EXIT_BOUND_S
