"""The embedded local service as a managed online deployment, against the real azmlinfsrv on
127.0.0.1: 429 exactly above `2 × max_concurrent × instances` requests in flight (counted by the
server, with requests held by their own clients and released by sending their bodies), 408 at the
timeout for a model slower than it, one worker process per instance, and a gate run over the ceiling
whose failures are of the throttling kind.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_aksload.config.local_deployments import LocalDeployment
from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.data import criteo

psutil = pytest.importorskip("psutil")
pytest.importorskip("azureml_inference_server_http")
pytest.importorskip("lightgbm")

from pytest_aksload.local import LocalService, LocalServiceError  # noqa: E402

KEY = "endpoint-key-6b2e9d4f1a8c3e5b7d0f"
SCORING_S = 0.2  # each request keeps a worker busy this long, so both instances have to take some


@pytest.fixture(scope="module")
def body() -> bytes:
    return json.dumps(criteo.payloads(criteo.load_sample(nrows=1), 1)[0]).encode()


@pytest.fixture(scope="module")
def throttled() -> Iterator[LocalService]:
    """Two instances of one deployment, max_concurrent 1: the ceiling is 4; a timeout long enough
    for requests held by their clients."""
    settings = LocalServiceSettings(instances=2, max_concurrent=1, request_timeout_s=60)
    with LocalService(key=KEY, deployments=(LocalDeployment("blue", latency_s=SCORING_S),), settings=settings) as svc:
        yield svc


def front_state(service: LocalService) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        connection.request("GET", "/aksload/front")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def wait_in_flight(service: LocalService, count: int) -> None:
    deadline = time.monotonic() + 10
    while front_state(service)["in_flight"] != count:
        assert time.monotonic() < deadline, f"in flight {front_state(service)['in_flight']}, expected {count}"
        time.sleep(0.02)


def score(service: LocalService, body: bytes, timeout: float = 30) -> tuple[int, dict, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=timeout)
    try:
        connection.request("POST", "/score", body=body, headers={"Authorization": f"Bearer {KEY}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), time.monotonic() - started
    finally:
        connection.close()


class HeldRequest:
    """A scoring request whose client sent its head and holds its body until `release()`."""

    def __init__(self, service: LocalService, body: bytes) -> None:
        self._body = body
        self._sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
        head = (
            f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self._sock.sendall(head.encode())

    def release(self) -> None:
        self._sock.sendall(self._body)

    def status(self) -> int:
        answer = b""
        while chunk := self._sock.recv(65536):
            answer += chunk
        self._sock.close()
        return int(answer.split(b" ", 2)[1])


def worker_pids(service: LocalService) -> set[int]:
    return {
        child.pid
        for child in psutil.Process(service.pid).children()
        if "pytest_aksload.local.front" not in " ".join(child.cmdline())
    }


def test_429_exactly_above_the_ceiling_counted_at_the_server(throttled: LocalService, body: bytes) -> None:
    assert throttled.settings.ceiling == 4
    held = []
    for count in range(1, 5):
        held.append(HeldRequest(throttled, body))
        wait_in_flight(throttled, count)  # the server has it before the next one is sent
    status, answer, elapsed = score(throttled, body)
    assert status == 429 and elapsed < 2, (status, elapsed)  # at once: no worker was waited for
    assert "at most 4 in flight (2 × max_concurrent 1 × 2 instances)" in answer["message"]
    assert front_state(throttled)["in_flight_by_deployment"] == {"blue": 4}
    for request in held:
        request.release()
    assert [request.status() for request in held] == [200] * 4
    wait_in_flight(throttled, 0)
    assert score(throttled, body)[0] == 200  # room again
    assert front_state(throttled)["throttled"] == 1


def test_each_instance_is_a_worker_process_and_both_score(throttled: LocalService, body: bytes) -> None:
    workers = worker_pids(throttled)
    assert len(workers) == 2, workers
    before = throttled.log_path.read_text(encoding="utf-8", errors="replace")
    held = [HeldRequest(throttled, body) for _ in range(4)]
    wait_in_flight(throttled, 4)
    for request in held:
        request.release()  # four at once: a worker is busy SCORING_S with each, so both take some
    assert [request.status() for request in held] == [200] * 4
    log = throttled.log_path.read_text(encoding="utf-8", errors="replace")[len(before) :]
    scored_by = {int(pid) for pid in re.findall(r"\[(\d+)\] azmlinfsrv - POST /score 200", log)}
    assert scored_by == workers


def test_the_front_listens_on_loopback_only(throttled: LocalService) -> None:
    pids = [throttled.pid] + [child.pid for child in psutil.Process(throttled.pid).children(recursive=True)]
    listening = {
        (conn.laddr.ip, conn.laddr.port)
        for pid in pids
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert {ip for ip, _port in listening} == {"127.0.0.1"}, listening
    assert throttled.port in {port for _ip, port in listening} and len(listening) == 2  # the front, the workers


def test_408_at_the_timeout_for_a_slower_model(body: bytes) -> None:
    settings = LocalServiceSettings(max_concurrent=1, request_timeout_s=0.5)
    with LocalService(key=KEY, deployments=(LocalDeployment("slow", latency_s=3.0),), settings=settings) as service:
        answers: list[tuple[int, dict, float]] = []
        thread = threading.Thread(target=lambda: answers.append(score(service, body)))
        thread.start()
        wait_in_flight(service, 1)  # counted while it waits for its answer
        thread.join(10)
        status, answer, elapsed = answers[0]
        assert status == 408 and 0.5 <= elapsed < 2.5, (status, elapsed)  # at the timeout, not after scoring
        assert "request timeout of 0.5 s" in answer["message"]
        state = front_state(service)
        assert state["in_flight"] == 0 and state["timed_out"] == 1


def test_a_gate_over_the_ceiling_fails_requests_as_throttling(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        # 2 users never hold more than 2 requests in flight: the ceiling of 1 instance at max_concurrent 1.
        @pytest.mark.load_test(users=2, spawn_rate=100, duration="3s", wait=(0, 0))
        def test_at_the_ceiling(load_result):
            assert load_result.requests > 20 and load_result.failures == 0, load_result.errors

        @pytest.mark.load_test(users=8, spawn_rate=100, duration="3s", wait=(0, 0))
        def test_over_the_ceiling(load_result):
            kinds = load_result.failures_by_kind
            assert set(kinds) == {"throttling"} and kinds["throttling"] > 10, kinds
            assert all(group.message.startswith("HTTP 429") for group in load_result.errors), load_result.errors
            assert load_result.requests > load_result.failures  # what fits under the ceiling is served
        """
    )
    run = pytester.runpytest_subprocess(
        "--aks-local", "--aks-local-max-concurrent", "1", "--aks-local-instances", "1", "-p", "no:cacheprovider"
    )
    run.assert_outcomes(passed=2)


def test_the_front_never_holds_the_key(throttled: LocalService) -> None:
    fronts = [
        child
        for child in psutil.Process(throttled.pid).children()
        if "pytest_aksload.local.front" in " ".join(child.cmdline())
    ]
    assert len(fronts) == 1
    assert KEY not in " ".join(fronts[0].cmdline())
    assert KEY not in " ".join(fronts[0].environ().values())


def test_a_taken_port_is_named_with_a_front_too() -> None:
    # The master binds the scoring port for the front itself, and says so in gunicorn's words.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = LocalService(port=port, settings=LocalServiceSettings(max_concurrent=1))
        with pytest.raises(LocalServiceError, match=f"port {port} on 127.0.0.1 is already in use"):
            service.start(timeout=60)
    assert not service.running


def test_the_front_dies_with_a_sigkilled_master() -> None:
    """The OOM killer may pick the server's master itself: its front must not accept connections on."""
    service = LocalService(settings=LocalServiceSettings(max_concurrent=1))
    service.start()
    try:
        children = psutil.Process(service.pid).children()
        assert len(children) == 2  # the front and the worker
        os.kill(service.pid, signal.SIGKILL)
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", service.port), timeout=2).close()
    finally:
        service.stop()
