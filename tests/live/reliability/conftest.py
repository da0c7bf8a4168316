"""Shared machinery of the reliability suite: inner gate runs whose every process is accounted for.

Each inner pytest run gets a unique tag in its environment; the Locust child and the local
service inherit it, so after the run any process still carrying the tag is one the plugin left
behind (psutil reads other processes' environments; the tag survives process-group changes).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from pytest_aksload.stats.result import LoadResult

TAG_ENV = "AKSLOAD_RELIABILITY_TAG"
# Distinctive, so a leak is found by a plain byte search of everything a run produced.
KEY = "rel1ab1l1ty-K3Y-7f3e9a2c5b8d1e4f"
# Processes get this long to disappear after pytest returned (the runner's own kill is bounded by ~6 s).
LEFTOVER_WAIT_S = 8.0

GATE = """
import os, pytest

@pytest.mark.load_test({marker})
def test_gate(load_result):
    with open(os.environ["RESULT_DUMP"], "w") as out:
        out.write(load_result.to_json())
"""

# A short profile: enough requests to count, quick enough for the time budget.
SHORT = 'users=4, spawn_rate=50, duration="3s", wait=(0.05, 0.1), timeout="2s", rows=5'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "heavy: a big load on the plugin itself (~35 s); runs in CI")


def tagged_processes(tag: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(TAG_ENV) == tag:
                found.append(process)
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or not ours to read
    return found


def wait_until_gone(tag: str, timeout_s: float = LEFTOVER_WAIT_S) -> list[str]:
    """Descriptions of tagged processes still alive after `timeout_s` (empty: none left)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in tagged_processes(tag) if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return [f"{p.pid}: {' '.join(_cmdline(p))[:200]}" for p in alive]
        time.sleep(0.2)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@dataclass
class GateRun:
    outcome: pytest.RunResult
    elapsed_s: float
    dump: Path

    @property
    def text(self) -> str:
        return "\n".join(self.outcome.outlines + self.outcome.errlines)

    def assert_setup_error(self) -> None:
        """The gate ERRORed (setup: pre-flight or the load run), as opposed to a FAIL, a PASS or a collection error."""
        self.outcome.assert_outcomes(errors=1)
        assert "ERROR test_gate.py::test_gate" in self.text, self.text

    @property
    def result(self) -> LoadResult:
        return LoadResult.from_dict(json.loads(self.dump.read_text()))


class Gates:
    """Runs gate files in a pytest subprocess, tagged, and checks nothing outlives the run."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.tag = uuid.uuid4().hex
        self.dump = pytester.path / "result-dump.json"
        monkeypatch.setenv(TAG_ENV, self.tag)
        monkeypatch.setenv("AKSLOAD_KEY", KEY)
        monkeypatch.setenv("RESULT_DUMP", str(self.dump))

    def run(self, marker: str, *args: str, source: str | None = None, timeout: float = 90) -> GateRun:
        self.pytester.makepyfile(test_gate=source if source is not None else GATE.format(marker=marker))
        started = time.monotonic()
        outcome = self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)
        elapsed = time.monotonic() - started
        leftovers = wait_until_gone(self.tag)
        assert not leftovers, f"processes left behind by the run: {leftovers}"
        return GateRun(outcome, elapsed, self.dump)


@pytest.fixture
def gates(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    yield Gates(pytester, monkeypatch)
