"""`child.check_response` with the test's contract, on fake Locust responses: predictions handed to the
recorder through the request context, refused answers with their failure kind, batches encoded once
and handed out in turn, and the memo of decoded bodies."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_aksload import child
from pytest_aksload.child import FAILURE_KIND_KEY, PREDICTIONS_KEY, ChildContext
from pytest_aksload.protocol import RunSettings, SampleRows
from pytest_aksload.redact import Redactor

ROWS = [{"a": i} for i in range(5)]


class FakeResponse:
    """A Locust `catch_response=True` response: status, headers, body and the request's context."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status_code, self.content, self.headers = status, body, headers or {}
        self.request_meta: dict[str, Any] = {"context": {}}
        self.outcome: object = None

    def success(self) -> None:
        self.outcome = "success"

    def failure(self, reason: object) -> None:
        self.outcome = reason

    @property
    def context(self) -> dict[str, Any]:
        return self.request_meta["context"]


def _run(**settings: Any) -> ChildContext:
    return ChildContext(
        RunSettings(scoring_uri="http://127.0.0.1/score", **settings), {}, SampleRows(ROWS), redactor=Redactor()
    )


def test_predictions_of_the_rows_sent_reach_the_request_context() -> None:
    run = _run(contract="mlflow", batch=2)
    batch = run.next_batch()
    assert batch.rows == (0, 1) and b"dataframe_split" in batch.body
    response = FakeResponse(200, b'{"predictions": [0.25, 0.75]}')
    assert run.check_response(response, batch.rows) == [0.25, 0.75]
    assert response.outcome == "success" and response.context[PREDICTIONS_KEY] == ((0, 1), [0.25, 0.75])
    assert [run.next_batch().rows for _ in range(3)] == [(2, 3), (4, 0), (0, 1)]  # wraps, then cycles


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "reason"),
    [
        (200, b'{"predictions": [0.5]}', {}, "validation", "1 predictions for 2 rows sent"),
        (424, b"", {"ms-azureml-model-error-statuscode": "500"}, "model", "HTTP 424: model answered 500:"),
        (408, b"late", {}, "timeout", "HTTP 408: late"),
        (429, b"busy", {}, "throttling", "HTTP 429: busy"),
        (200, b'{"predictions": [1, 2]}', {"azureml-model-deployment": "green"}, "routing", "answered by"),
    ],
)
def test_refused_answers_carry_their_failure_kind(
    status: int, body: bytes, headers: dict[str, str], kind: str, reason: str
) -> None:
    run = _run(contract="mlflow", batch=2, deployment="blue")
    response = FakeResponse(status, body, headers)
    assert run.check_response(response, (0, 1)) is None
    assert response.context[FAILURE_KIND_KEY] == kind and str(response.outcome).startswith(reason)
    assert PREDICTIONS_KEY not in response.context


def test_a_remembered_refusal_is_a_fresh_error_each_time() -> None:
    run = _run()
    first, second = FakeResponse(200, b'"Error: boom"'), FakeResponse(200, b'"Error: boom"')
    run.check_response(first, (0,))
    run.check_response(second, (0,))
    assert first.outcome == second.outcome == "error in 200 response: Error: boom"


def test_the_module_shortcuts_use_the_process_context(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run(contract="azureml", batch=3)
    monkeypatch.setattr(child, "_context", run)
    batch = child.next_batch()
    assert batch.body == b'[{"a":0},{"a":1},{"a":2}]'
    assert child.request_headers()["Content-Type"] == "application/json"
    response = FakeResponse(200, b'{"result": [0.1, 0.2, 0.3]}')
    assert child.check_response(response, rows=batch.rows) == [0.1, 0.2, 0.3]
    assert child.check_response(FakeResponse(200, b'{"result": [0.1, 0.2, 0.3]}')) == [0.1, 0.2, 0.3]  # no rows
