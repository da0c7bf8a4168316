"""The locustfile API of `pytest_aksload.child` (the `ChildContext`), in this process: it imports no locust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_aksload import child, protocol
from pytest_aksload.child import ChildContext
from pytest_aksload.protocol import RunSettings
from pytest_aksload.redact import Redactor

ROWS = [{"label": i % 4 == 0, "int00": i, "cat00": f"{i * 2654435761 % 2**32:08x}"} for i in range(40)]


class FakeResponse:
    """What `child.check_response` sees of a Locust `catch_response=True` response."""

    def __init__(self, status_code: int, content: bytes = b"", error: BaseException | None = None) -> None:
        self.status_code, self.content, self.error = status_code, content, error
        self.outcome: object = None

    def success(self) -> None:
        self.outcome = "success"

    def failure(self, reason: object) -> None:
        self.outcome = reason


TOKEN = "Bearer tok-123456789"


@pytest.fixture
def run() -> ChildContext:
    """A child's context as the runner's environment describes it, with a redactor of its own."""
    settings = RunSettings(scoring_uri="https://example.test:8443/api/v1/service/x/score?v=2")
    environ = {**settings.to_env(), protocol.ENV_AUTH_HEADERS: protocol.encode_auth_headers({"Authorization": TOKEN})}
    context = ChildContext.from_env(environ)
    return ChildContext(context.settings, context.auth_headers(), redactor=Redactor())


def test_child_context_reads_the_protocol(run: ChildContext) -> None:
    assert run.scoring_path == "/api/v1/service/x/score?v=2"
    headers = run.auth_headers()
    headers["Authorization"] = "changed"  # a copy: callers cannot corrupt the shared value
    assert run.auth_headers() == {"Authorization": TOKEN}
    assert run.json_request_headers() == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": TOKEN,
    }
    run.replace_auth_headers({"Authorization": "Bearer refreshed-987654"})
    assert run.auth_headers() == {"Authorization": "Bearer refreshed-987654"}
    assert run.json_request_headers()["Authorization"] == "Bearer refreshed-987654"
    # Old and new credentials, whole or bare token, are masked in anything reported.
    text = "HTTP 401: token tok-123456789 / Bearer refreshed-987654 rejected"
    assert run.redact(text) == "HTTP 401: token *** / *** rejected"


def test_module_functions_are_the_process_context(run: ChildContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """What user locustfiles call (docs/reference.md, examples/locustfiles) reads the process's one context."""
    monkeypatch.setattr(child, "_context", run)
    assert child.context() is run
    assert child.scoring_uri() == run.scoring_uri and child.scoring_path() == run.scoring_path
    assert child.auth_headers() == {"Authorization": TOKEN}
    assert child.request_timeout_s() == protocol.DEFAULT_REQUEST_TIMEOUT_S
    assert child.wait_range() == protocol.DEFAULT_WAIT_S
    assert child.ca_bundle() is None
    assert child.redact("echo tok-123456789") == "echo ***"


def test_sample_rows_are_read_from_the_rows_file(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(ROWS), encoding="utf-8")
    run = ChildContext(RunSettings(scoring_uri="http://127.0.0.1/score", rows_file=str(rows_file)), {})
    assert run.sample_rows() == ROWS
    rows_file.write_text("[]", encoding="utf-8")
    with pytest.raises(RuntimeError, match="non-empty list of JSON objects"):
        ChildContext(run.settings, {}).sample_rows()


def test_outside_a_run_the_context_says_what_is_missing() -> None:
    run = ChildContext.from_env({})
    assert not run.configured
    with pytest.raises(RuntimeError, match="AKSLOAD_CHILD_SCORING_URI is not set"):
        _ = run.scoring_path
    with pytest.raises(RuntimeError, match="AKSLOAD_CHILD_ROWS_FILE is not set"):
        run.sample_rows()


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (FakeResponse(200, b'{"result": 0.2}'), "success"),
        (FakeResponse(200, b'"Error: boom"'), "error in 200 response: Error: boom"),
        (FakeResponse(401, b"bad key tok-123456789"), "HTTP 401: bad key ***"),
    ],
)
def test_check_response(run: ChildContext, response: FakeResponse, outcome: str) -> None:
    run.check_response(response)
    assert response.outcome == outcome


def test_check_response_passes_transport_errors_through(run: ChildContext) -> None:
    error = ConnectionRefusedError(111, "Connection refused")
    response = FakeResponse(0, error=error)
    run.check_response(response)
    assert response.outcome is error  # kept as an exception so it is grouped as "connection"


def test_malformed_auth_headers_are_not_quoted() -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        ChildContext.from_env({protocol.ENV_AUTH_HEADERS: '{"Authorization": ["secret-value-1"]}'})
    assert "secret-value-1" not in str(info.value)
