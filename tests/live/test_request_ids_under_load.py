"""Request ids end to end, against a loopback server on 127.0.0.1 that logs every request's
`x-ms-client-request-id`: every request of a gated run carries one (pre-flight's included), all
distinct and all starting with the run id that `summary.json`, the JUnit properties and the terminal
show; worker processes never share an id; a 424 with Azure ML's model-error headers shows the
model's reason, and the failed requests' ids (ours and the server's `x-request-id`), in its failure
group and in the test's failure message."""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import RUN_ID_CHARS, SampleRows
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.runner import run_load
from pytest_aksload.targets.target import Target
from pytest_aksload.verdicts.diagnosis import failure_lines

REASON = "ValueError: could not convert int00"
ID = re.compile(r"^[a-z0-9]+$")


class IdServer:
    """Answers `{"result": 0.25}`, or every `fail_every`-th request a 424 with the model's status and
    reason; every answer carries `x-request-id: srv<n>`. `received`: (n, x-ms-client-request-id, status)."""

    def __init__(self, fail_every: int = 0) -> None:
        self.fail_every = fail_every
        self.received: list[tuple[int, str | None, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/score"

    def __enter__(self) -> IdServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def ids(self) -> list[str | None]:
        with self._lock:
            return [request_id for _n, request_id, _status in self.received]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    n = len(server.received)
                    failed = bool(server.fail_every) and n % server.fail_every == server.fail_every - 1
                    status = 424 if failed else 200
                    server.received.append((n, self.headers.get("x-ms-client-request-id"), status))
                body = b"upstream request failed" if failed else b'{"result": 0.25}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-request-id", f"srv{n}")
                if failed:
                    self.send_header("ms-azureml-model-error-statuscode", "500")
                    self.send_header("ms-azureml-model-error-reason", REASON)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


GATE = """
import pytest

@pytest.mark.load_test(users=2, spawn_rate=50, duration="1s", wait=(0.01, 0.02), rows=4)
def test_gate(load_result):
    assert load_result.run_id
"""


def test_every_request_of_a_gated_run_carries_an_id_of_its_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates=GATE)
    with IdServer() as server:
        run = pytester.runpytest_subprocess(
            "--aks-scoring-uri", server.url, "-p", "no:cacheprovider", "--aks-report", "report",
            "--junitxml", "junit.xml",
        )  # fmt: skip
    run.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "report" / "summary.json").read_text())["tests"]
    run_id = test["run_id"]
    assert len(run_id) == RUN_ID_CHARS and ID.match(run_id)
    ids = server.ids()
    assert len(ids) > 10 and None not in ids
    # Every request the server counted had its own id, of this run; pre-flight's is the first.
    assert len(set(ids)) == len(ids)
    assert all(ID.match(i) and len(i) <= 40 and i.startswith(run_id) for i in ids)  # type: ignore[union-attr]
    assert ids[0] == f"{run_id}p0n0"
    assert {i[RUN_ID_CHARS:].split("n")[0] for i in ids[1:]} == {"w0"}  # type: ignore[index]
    properties = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    assert properties["aksload.run_id"] == run_id
    assert run_id in run.stdout.str()  # the terminal summary's run ids
    assert f"run id {run_id}" in (pytester.path / "report" / "report.html").read_text()


SAMPLE = SampleRows([{"int00": i} for i in range(6)])
MARKER = {"users": 4, "spawn_rate": 50, "duration": "2s", "wait": (0.005, 0.01), "timeout": "5s"}


def test_worker_processes_never_share_an_id(tmp_path: Path) -> None:
    profile = profile_from_marker((), {**MARKER, "workers": 2}, Settings(), tmp_path)
    with IdServer() as server:
        plan = RunPlan(Target(scoring_uri=server.url, name="t", kind="scoring-uri"), profile, SAMPLE)
        result = run_load(plan)
    ids = server.ids()
    assert result.run_id == plan.run_id and len(ids) > 10
    assert len(set(ids)) == len(ids) and all(i.startswith(plan.run_id) for i in ids)  # type: ignore[union-attr]
    assert {i[RUN_ID_CHARS:].split("n")[0] for i in ids} == {"w0", "w1"}  # type: ignore[index]


def test_a_424_shows_the_models_reason_and_its_first_request_ids(tmp_path: Path) -> None:
    profile = profile_from_marker((), MARKER, Settings(), tmp_path)
    with IdServer(fail_every=2) as server:
        plan = RunPlan(Target(scoring_uri=server.url, name="t", kind="scoring-uri"), profile, SAMPLE)
        result = run_load(plan)
    (group,) = result.errors
    assert (group.kind, group.status, group.message) == ("model", 424, f"HTTP 424: model answered 500: {REASON}")
    failed = {request_id: f"srv{n}" for n, request_id, status in server.received if status == 424}
    assert len(group.examples) == 3
    for example in group.examples:  # ours and the server's id of the same failed request
        assert failed[example["request_id"]] == example["x_request_id"]
    assert [e["at"] for e in group.examples] == sorted(e["at"] for e in group.examples)
    line = failure_lines(result)[0]
    assert f"model answered 500: {REASON}" in line and f"its own status 500: {REASON}" in line
    assert all(request_id in line for request_id in group.request_ids)


GATE_424 = """
import pytest

@pytest.mark.load_test(users=2, spawn_rate=50, duration="1s", wait=(0.01, 0.02), rows=4, slo="failure_rate < 1%")
def test_gate(load_result):
    pass
"""


def test_the_failure_message_quotes_the_models_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gates=GATE_424)
    # Pre-flight (the first request) is answered; then every second request is a 424.
    with IdServer(fail_every=2) as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    run.assert_outcomes(failed=1)
    output = run.stdout.str()
    assert f"model answered 500: {REASON}" in output and f"(its own status 500: {REASON})" in output
    assert re.search(r"\[requests [a-z0-9]+w0n\d+ \(x-request-id srv\d+\)", output), output
