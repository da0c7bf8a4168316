"""Secrets: run passing and failing gates with a distinctive key and search every byte the run
produced for it: pytest's output at its most verbose, JUnit XML, the --aks-report directory
(Locust's HTML report included), every file left in the test's directories and the system temp
dir, and the command line of every process of the run, sampled from /proc while it ran.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import KEY, Gates, tagged_processes
from loopback_servers import ScoringServer

GATES = """
import pytest

PROFILE = dict(users=3, spawn_rate=50, duration="3s", wait=(0.05, 0.1), timeout="2s", rows=5)

@pytest.mark.load_test(**PROFILE, slo="failure_rate < 60%")
def test_passing_gate(load_result, aks_target, aks_auth_headers):
    pass

@pytest.mark.load_test(**PROFILE, slo=["failure_rate < 1%", "p95 < 0.001ms"])
def test_failing_gate(load_result):
    pass

@pytest.mark.load_test(**PROFILE)
def test_failing_body_shows_locals(load_result, aks_target, aks_auth_headers, aks_scoring_uri):
    target, headers = aks_target, aks_auth_headers
    assert load_result.failures == 0, (target, headers)
"""


class _ArgvSampler:
    """Collects the command lines of the run's processes while it runs (argv is world-readable)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.cmdlines: set[str] = set()
        self.environ_has_key = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _ArgvSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for process in tagged_processes(self.tag):
                try:
                    cmdline = " ".join(process.cmdline())
                    if "locust" in cmdline:
                        self.environ_has_key |= KEY in "".join(process.environ().values())
                except Exception:
                    continue
                self.cmdlines.add(cmdline)


def _files_containing(root: Path, secret: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and secret in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def test_key_appears_nowhere(gates: Gates, monkeypatch: pytest.MonkeyPatch) -> None:
    # The run's own temp dir, so what it leaves there is told apart from other processes' files.
    temp = gates.pytester.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(temp))
    report = gates.pytester.path / "report"
    junit = gates.pytester.path / "junit.xml"
    # Every 4th request is answered 401 quoting the Authorization header back, so the key also
    # travels through the error groups, the failure messages and Locust's own statistics.
    echo = ScoringServer(outcomes=lambda n: "echo-auth" if n % 4 == 0 else "ok", spare_preflight=True)
    with echo as server:
        with _ArgvSampler(gates.tag) as sampler:
            run = gates.run(
                "",
                "--aks-scoring-uri",
                server.url,
                "-vv",
                "--showlocals",
                "-rA",
                "--full-trace",
                f"--junitxml={junit}",
                f"--aks-report={report}",
                source=GATES,
            )
        authorizations = {r.authorization for r in server.scoring_requests()}
    run.outcome.assert_outcomes(passed=1, failed=2)
    # The key did reach the server and the child, the only places it belongs.
    assert authorizations == {f"Bearer {KEY}"}
    assert sampler.environ_has_key
    assert any("locust" in cmdline for cmdline in sampler.cmdlines)
    assert "HTTP 401: invalid credentials: ***" in run.text  # the echo was redacted, not dropped

    secret = KEY.encode()
    assert KEY not in run.text
    assert not [c for c in sampler.cmdlines if KEY in c]
    assert junit.is_file() and report.is_dir() and list(report.glob("*.html"))
    assert not _files_containing(gates.pytester.path, secret)  # temp included
    assert not list(temp.iterdir())  # the runner removes its work directories
