"""Interrupts: Ctrl-C (SIGINT) or SIGTERM (a CI job cancelled) to pytest during a load test.

The Locust child group and the --aks-local server must be gone within a few seconds, and the
partial result is reported as interrupted, not as a verdict.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import IO

import pytest
from conftest import GATE, Gates, wait_until_gone
from loopback_servers import ScoringServer

# Long enough that the signal surely lands mid-load.
LONG = 'users=4, spawn_rate=50, duration="60s", wait=(0.05, 0.1), timeout="2s", rows=5'
# From the signal to a fully exited pytest: the runner's SIGTERM grace (3 s) plus teardown.
EXIT_BOUND_S = 15.0
# Python leaves SIGINT ignored if the launching shell ignored it (background jobs); a user's
# terminal delivers it, so restore the default before running pytest.
LAUNCH = "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); sys.exit(pytest.main())"


# The live progress line once the load has answered requests: a partial result to report exists.
ANSWERED = re.compile(rb"\[aksload\] test_gate: [^\n]*, [1-9][0-9]* requests, ")


class _Output:
    """Everything the run writes, read on a thread as it comes, so the test can wait for a line."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.data = b""
        self._grew = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            with self._grew:
                self.data += chunk
                self._grew.notify_all()

    def wait_for(self, pattern: re.Pattern[bytes], timeout_s: float) -> None:
        with self._grew:
            if not self._grew.wait_for(lambda: pattern.search(self.data), timeout_s):
                pytest.fail(f"no {pattern.pattern!r} within {timeout_s:g}s:\n{self.data.decode(errors='replace')}")

    def text(self) -> str:
        self._thread.join(timeout=5.0)  # the pipe closes when pytest has exited
        return self.data.decode("utf-8", "replace")


def _interrupt(gates: Gates, signum: int, *args: str, startup_s: float = 30.0) -> tuple[str, int, float]:
    gates.pytester.makepyfile(test_gate=GATE.format(marker=LONG))
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "-p", "no:cacheprovider", *args],
        cwd=gates.pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = _Output(process.stdout)
        # Progress lines come every 5 s (no TTY); the one showing answered requests is the event.
        output.wait_for(ANSWERED, startup_s + 10.0)
        process.send_signal(signum)
        signalled = time.monotonic()
        process.wait(timeout=EXIT_BOUND_S)
        exit_s = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    leftovers = wait_until_gone(gates.tag, timeout_s=5.0)
    assert not leftovers, f"processes left behind by the interrupted run: {leftovers}"
    return output.text(), process.returncode, exit_s


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
