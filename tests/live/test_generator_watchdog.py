"""The watchdog and the loop-lag probe, on a real Locust child against a loopback server.

A load generator can hang outright: a user's client library that gevent cannot make cooperative
blocks the whole process (the event loop, Locust's own timers and its SIGTERM handling with it)
while it waits for a service that never answers. The runner must kill the child's whole process
group at run time + request timeout + grace and report it, so CI never hangs. And a loop that is
merely late must show in the recorder's `loop_lag_ms`, which generator health turns into a reason.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from loopback_servers import ScoringServer

from pytest_aksload.config import profile as profile_module
from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import SampleRows
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.runner import KILL_GRACE_S, LoadRunError, run_load
from pytest_aksload.targets.target import Target
from pytest_aksload.verdicts.health import LOOP_LAG_LIMIT_MS, generator_issues

BLOCKING_CLIENT_USER = """
from urllib.parse import urlsplit

from gevent import monkey
from locust import User, constant, task

BlockingSocket = monkey.get_original("socket", "socket")


class BlockingClientUser(User):
    wait_time = constant(0)

    @task
    def score(self):
        url = urlsplit(self.host)
        connection = BlockingSocket()
        connection.connect((url.hostname, url.port))
        connection.sendall(b"POST /score HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
        connection.recv(1)  # never answered: the whole process waits here, event loop included
"""

# The packaged user, plus user code that blocks the event loop for 0.3 s at a time.
LOOP_STALLING_USER = """
import gevent
from gevent import monkey
from locust import events

from pytest_aksload._locust.locustfile import ScoringUser  # noqa: F401

blocking_sleep = monkey.get_original("time", "sleep")


@events.test_start.add_listener
def stall_the_loop(**_kwargs):
    def stall():
        while True:
            blocking_sleep(0.3)
            gevent.sleep(0.05)

    gevent.spawn(stall)
"""


def loopback_target(server: ScoringServer) -> Target:
    return Target(scoring_uri=server.url, name="loopback", kind="scoring-uri")


def locustfile_profile(tmp_path: Path, source: str, **marker: object) -> LoadProfile:
    (tmp_path / "user_locustfile.py").write_text(source)
    arguments = {"users": 1, "spawn_rate": 10, "duration": "1s", "timeout": "1s", **marker}
    return profile_from_marker((), {**arguments, "locustfile": "user_locustfile.py"}, Settings(), tmp_path)


def test_a_hung_load_generator_is_killed_with_its_process_group_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_module, "STOP_GRACE_S", 5.0)  # keeps the test short; the rule is the same
    profile = locustfile_profile(tmp_path, BLOCKING_CLIENT_USER)
    assert profile.deadline_s == 7.0
    children: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        children.append(process)
        return process

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    with ScoringServer(outcomes=lambda n: "hang") as server:
        started = time.monotonic()
        with pytest.raises(LoadRunError) as raised:
            run_load(RunPlan(loopback_target(server), profile, SampleRows([{"int00": 1}])))
        elapsed = time.monotonic() - started

    assert str(raised.value) == (
        "load generator did not finish within 7s (run time + request timeout + grace); killed it"
    )
    # SIGTERM cannot reach a blocked event loop: SIGKILL after the grace ends it, group and all.
    assert profile.deadline_s <= elapsed < profile.deadline_s + 2 * KILL_GRACE_S + 10
    (child,) = children
    assert child.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)  # nobody is left in the child's process group


def test_a_late_event_loop_is_reported_by_the_recorder_and_judged_unhealthy(tmp_path: Path) -> None:
    profile = locustfile_profile(tmp_path, LOOP_STALLING_USER, duration="3s", wait=(0.01, 0.02), slo="p95 < 1s")
    with ScoringServer() as server:
        result = run_load(RunPlan(loopback_target(server), profile, SampleRows([{"int00": 1}])))

    # A 0.1 s probe cannot fit in the 0.05 s gaps between stalls, so it wakes ~0.25 s late; a busy host only adds.
    lag = result.generator["loop_lag_ms"]
    assert lag["p95"] >= LOOP_LAG_LIMIT_MS and lag["max"] >= lag["p95"] >= lag["p50"] >= 0
    issues = generator_issues(result, profile)
    assert any(f"event loop ran {lag['p95']:.0f} ms late (p95, limit 100 ms)" in issue for issue in issues)
