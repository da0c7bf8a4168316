"""Faults of the endpoint: each against a loopback server that misbehaves on purpose.

For each fault: the run ends within a stated bound, the result counts what happened, the
message says what to do, and no process outlives the run (the `gates` fixture checks that).
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from conftest import KEY, SHORT, Gates, wait_until_gone
from loopback_servers import ScoringServer, closed_port, self_signed_certificate

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import SampleRows
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.runner import run_load
from pytest_aksload.targets.target import Credential, Target

# Every fault run below must end within this, whatever the endpoint does: pre-flight is bounded by
# one request timeout, a load by run time + request timeout + stop grace (profile.deadline_s).
BOUND_S = 40.0
# SHORT's request timeout: pre-flight sends one request and waits at most this for it.
TIMEOUT_S = 2.0
# An inner conftest that writes when the gate's setup (pre-flight, then the load) ended, epoch seconds.
SETUP_ENDED = """
import time, pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    finally:
        with open("setup-ended", "w") as out:
            out.write(repr(time.time()))
"""
SLO_MARKER = SHORT + ', slo="failure_rate < 1%"'


def _after_preflight(fault: str, every: int = 1) -> object:
    """Request 0 is pre-flight and must succeed; then every `every`-th request gets `fault`."""
    return lambda n: "ok" if n == 0 or n % every else fault


def _server_outcomes(server: ScoringServer) -> Counter[str]:
    return Counter(r.outcome for r in server.scoring_requests()[1:])  # [0] is pre-flight


def test_refused_from_the_start(gates: Gates) -> None:
    run = gates.run(SHORT, "--aks-scoring-uri", f"http://127.0.0.1:{closed_port()}/score")
    run.assert_setup_error()
    assert "cannot connect to" in run.text and "check the service is running and the URL" in run.text
    assert run.elapsed_s < BOUND_S
    assert not run.dump.exists()  # no load ran


def test_dies_halfway(gates: Gates) -> None:
    def crash_at_60(n: int) -> str:
        if n == 60:  # about a second into the load
            threading.Thread(target=server.die).start()
            return "reset"
        return "ok"

    with ScoringServer(outcomes=crash_at_60) as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
        served = _server_outcomes(server)["ok"]
    run.outcome.assert_outcomes(failed=1)
    assert run.elapsed_s < BOUND_S
    result = run.result
    assert set(result.failures_by_kind) == {"connection"}, result.errors
    # Everything the server answered before it died is counted as a success (give or take the
    # requests in flight at the crash, at most one per user), the rest as connection failures.
    assert abs((result.requests - result.failures) - served) <= 4
    assert result.failures > 0
    assert "crashed, restarted or dropped connections" in run.text


def test_hangs_from_the_start(gates: Gates) -> None:
    gates.pytester.makeconftest(SETUP_ENDED)
    with ScoringServer(outcomes=lambda n: "hang") as server:
        run = gates.run(SHORT, "--aks-scoring-uri", server.url)
        received = server.scoring_requests()
    run.assert_setup_error()
    assert "did not answer within 2s" in run.text and "raise timeout=" in run.text
    # One request, one timeout: a retry would send a second request and wait a second timeout.
    # Timed from the request's arrival to the end of the gate's setup, so the inner session's
    # start-up and its lazy imports (seconds on a busy host) are not counted.
    assert len(received) == 1
    waited_s = float((gates.pytester.path / "setup-ended").read_text()) - received[0].arrived_at
    assert 0.9 * TIMEOUT_S <= waited_s < 2 * TIMEOUT_S


def test_hangs_halfway_counts_timeouts(gates: Gates) -> None:
    with ScoringServer(outcomes=lambda n: "ok" if n < 20 else "hang") as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
    run.outcome.assert_outcomes(failed=1)
    assert run.elapsed_s < BOUND_S
    result = run.result
    assert set(result.failures_by_kind) == {"timeout"}
    assert result.requests - result.failures == 19  # the answered ones after pre-flight
    assert "timeout" in run.text and "overloaded or hung" in run.text


def test_slower_than_the_request_timeout(gates: Gates) -> None:
    # Pre-flight is answered at once; every load request takes 3 s against a 1 s timeout.
    with ScoringServer(delays_s=(0.0,) + (3.0,) * 1000) as server:
        run = gates.run(SLO_MARKER.replace('timeout="2s"', 'timeout="1s"'), "--aks-scoring-uri", server.url)
    run.outcome.assert_outcomes(failed=1)
    assert run.elapsed_s < BOUND_S
    result = run.result
    assert result.failures == result.requests > 0
    assert set(result.failures_by_kind) == {"timeout"}
    # A timed-out request is latency a user saw: about the timeout, never the server's 3 s.
    assert 900 <= result.p50_ms <= 2500


def test_key_expires_halfway(gates: Gates) -> None:
    fault = {0: "unauthorized", 1: "forbidden"}
    with ScoringServer(outcomes=lambda n: "ok" if n < 15 else fault[n % 2]) as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
    run.outcome.assert_outcomes(failed=1)
    result = run.result
    assert result.requests - result.failures == 14
    statuses = Counter(group.status for group in result.errors for _ in range(group.count))
    assert set(statuses) == {401, 403}
    assert result.failures_by_kind == {"http": result.failures}
    assert "refused the key mid-run" in run.text


def test_throttling_storm_is_its_own_kind(gates: Gates) -> None:
    storm = {0: "throttle429", 2: "throttle503"}
    with ScoringServer(outcomes=lambda n: storm.get(n % 4, "ok") if n else "ok") as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
        throttled = _server_outcomes(server)
    run.outcome.assert_outcomes(failed=1)
    result = run.result
    assert result.failures_by_kind == {"throttling": throttled["throttle429"] + throttled["throttle503"]}
    assert {group.status for group in result.errors} == {429, 503}
    assert result.requests - result.failures == throttled["ok"]
    assert f"test_gate.py::test_gate: failures by kind: throttling {result.failures}" in run.text
    assert "shed load (429/503)" in run.text


def test_errors_and_malformed_bodies_in_200(gates: Gates) -> None:
    bad = {1: "error-string", 2: "malformed"}
    with ScoringServer(outcomes=lambda n: bad.get(n % 3, "ok") if n else "ok") as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
        served = _server_outcomes(server)
    run.outcome.assert_outcomes(failed=1)
    result = run.result
    assert result.failures_by_kind == {"validation": served["error-string"] + served["malformed"]}
    messages = {group.message.split(":")[0] for group in result.errors}
    assert messages == {"error in 200 response", "response is not JSON"}
    assert result.requests - result.failures == served["ok"]


def test_connection_resets(gates: Gates) -> None:
    with ScoringServer(outcomes=lambda n: "reset" if n and n % 3 == 0 else "ok") as server:
        run = gates.run(SLO_MARKER, "--aks-scoring-uri", server.url)
        served = _server_outcomes(server)
    run.outcome.assert_outcomes(failed=1)
    result = run.result
    assert result.failures_by_kind == {"connection": served["reset"]}
    assert result.requests - result.failures == served["ok"]
    assert "crashed, restarted or dropped connections" in run.text


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed_certificate(str(tmp_path_factory.mktemp("tls")))


def test_tls_self_signed_is_refused_with_advice(gates: Gates, certificate: tuple[str, str]) -> None:
    with ScoringServer(tls=certificate) as server:
        run = gates.run(SHORT, "--aks-scoring-uri", server.url)
        assert not server.scoring_requests()  # the key never went to the untrusted endpoint
    run.assert_setup_error()
    assert "TLS error talking to https://localhost:" in run.text
    assert "pass --aks-ca-bundle PATH with the CA that signed it" in run.text


def test_tls_with_ca_bundle_passes(gates: Gates, certificate: tuple[str, str]) -> None:
    with ScoringServer(tls=certificate) as server:
        # An objective a clean run passes even with the few requests of a short run.
        marker = SHORT + ', slo="failure_rate < 20%"'
        run = gates.run(marker, "--aks-scoring-uri", server.url, "--aks-ca-bundle", certificate[0])
        served = len(server.scoring_requests())
    run.outcome.assert_outcomes(passed=1)
    result = run.result
    assert result.failures == 0 and result.requests == served - 1 > 10


def test_tls_load_generator_verifies_certificates(gates: Gates, certificate: tuple[str, str], tmp_path: Path) -> None:
    """Locust's FastHttpUser skips certificate checks by default; the gate's child must not."""
    profile = profile_from_marker(
        (), {"users": 2, "duration": 2, "wait": (0.1, 0.1), "timeout": 2}, Settings(), tmp_path
    )
    with ScoringServer(tls=certificate) as server:
        target = Target(server.url, name="tls", kind="scoring-uri", credential=Credential.key(KEY))
        result = run_load(RunPlan(target, profile, SampleRows([{"x": 1}])))
        assert not server.scoring_requests()
    assert not wait_until_gone(gates.tag)
    assert result.requests == result.failures > 0
    assert set(result.failures_by_kind) == {"connection"}
    assert any("CERTIFICATE_VERIFY_FAILED" in group.message for group in result.errors), result.errors
