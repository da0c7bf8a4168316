"""The locustfile helpers of `pytest_aksload.child`, in this process (they import no locust)."""

from __future__ import annotations

import json

import pytest

from pytest_aksload import child


class FakeResponse:
    """What `child.check_response` sees of a Locust `catch_response=True` response."""

    def __init__(self, status_code: int, content: bytes = b"", error: BaseException | None = None) -> None:
        self.status_code, self.content, self.error = status_code, content, error
        self.outcome: object = None

    def success(self) -> None:
        self.outcome = "success"

    def failure(self, reason: object) -> None:
        self.outcome = reason


@pytest.fixture
def child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child, "_headers", None)
    monkeypatch.setattr(child, "_secrets", set())
    monkeypatch.setenv(child.ENV_AUTH_HEADERS, json.dumps({"Authorization": "Bearer tok-123456789"}))
    monkeypatch.setenv(child.ENV_SCORING_URI, "https://example.test:8443/api/v1/service/x/score?v=2")


def test_child_helpers_read_the_protocol(child_env: None) -> None:
    assert child.scoring_path() == "/api/v1/service/x/score?v=2"
    headers = child.auth_headers()
    headers["Authorization"] = "changed"  # a copy: callers cannot corrupt the shared value
    assert child.auth_headers() == {"Authorization": "Bearer tok-123456789"}
    child.replace_auth_headers({"Authorization": "Bearer refreshed-987654"})
    assert child.auth_headers() == {"Authorization": "Bearer refreshed-987654"}
    # Old and new credentials, whole or bare token, are masked in anything reported.
    text = "HTTP 401: token tok-123456789 / Bearer refreshed-987654 rejected"
    assert child.redact(text) == "HTTP 401: token *** / *** rejected"


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (FakeResponse(200, b'{"result": 0.2}'), "success"),
        (FakeResponse(200, b'"Error: boom"'), "error in 200 response: Error: boom"),
        (FakeResponse(401, b"bad key tok-123456789"), "HTTP 401: bad key ***"),
    ],
)
def test_check_response(child_env: None, response: FakeResponse, outcome: str) -> None:
    child.check_response(response)
    assert response.outcome == outcome


def test_check_response_passes_transport_errors_through(child_env: None) -> None:
    error = ConnectionRefusedError(111, "Connection refused")
    response = FakeResponse(0, error=error)
    child.check_response(response)
    assert response.outcome is error  # kept as an exception so it is grouped as "connection"


def test_malformed_auth_headers_are_not_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(child, "_headers", None)
    monkeypatch.setenv(child.ENV_AUTH_HEADERS, '{"Authorization": ["secret-value-1"]}')
    with pytest.raises(ValueError) as info:
        child.auth_headers()
    assert "secret-value-1" not in str(info.value)
