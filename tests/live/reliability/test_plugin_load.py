"""Load on the plugin itself: 2,000 concurrent users against a fast loopback server for 30 s
complete without file-descriptor exhaustion or lost results."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GATE, KEY, Gates
from loopback_servers import ScoringServer

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import SampleRows
from pytest_aksload.run.fdlimit import open_files_problem
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.runner import run_load
from pytest_aksload.targets.target import Credential, Target

USERS = 2000


@pytest.mark.heavy
def test_two_thousand_users_for_thirty_seconds(tmp_path: Path) -> None:
    # This process serves the other end of every connection: it needs the descriptors too.
    problem = open_files_problem(2 * USERS)
    if problem is not None:
        pytest.skip(problem)
    # Think time 2-4 s: ~670 requests/s, what one Locust process and a threaded server sustain on 2 cores.
    profile = profile_from_marker(
        (),
        {"users": USERS, "spawn_rate": 400, "duration": "30s", "wait": (2, 4), "timeout": "10s"},
        Settings(),
        tmp_path,
    )
    with ScoringServer() as server:
        target = Target(server.url, name="load", kind="scoring-uri", credential=Credential.key(KEY))
        started = time.monotonic()
        result = run_load(RunPlan(target, profile, SampleRows([{"x": 1}])))
        elapsed = time.monotonic() - started
        served = len(server.scoring_requests())
        connections = len({r.client_port for r in server.scoring_requests()})
    assert result.complete and result.users_peak == USERS
    assert connections >= USERS  # every user really held its own connection
    # No "Too many open files", no refused or reset connection, no bad answer. (A request left more
    # than the 10 s timeout by a starved host is a timeout, which says nothing about descriptors.)
    assert set(result.failures_by_kind) <= {"timeout"}, result.errors
    assert result.requests == served  # nothing lost between the server and the result
    assert not [w for w in result.generator["warnings"] if "open file" in w.lower()]
    assert elapsed < profile.deadline_s + 15  # the runner's own bound, plus starting the child


def test_too_few_open_files_is_refused_with_the_limit_to_raise(gates: Gates) -> None:
    """Where the OS will not allow enough descriptors, say which limit to raise, before any load."""
    gates.pytester.makepyfile(test_gate=GATE.format(marker='users=5000, duration="2s"'))

    def low_hard_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    with ScoringServer() as server:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--aks-scoring-uri", server.url],
            cwd=gates.pytester.path,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=low_hard_limit,
        )
        load_requests = len(server.scoring_requests()) - 1  # [0] is pre-flight
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "users=5000 need about 5128 open files" in run.stdout
    assert "raise the limit (ulimit -n 5128" in run.stdout
    assert load_requests == 0
