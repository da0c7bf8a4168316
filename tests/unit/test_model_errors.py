"""A 424's model status and reason (Azure ML's `ms-azureml-model-error-*` headers): in the failure
group's message, redacted like every message, and quoted by the `model` kind's hint."""

from __future__ import annotations

from test_child_contract_checks import FakeResponse

from pytest_aksload.child import ChildContext
from pytest_aksload.protocol import RunSettings, SampleRows
from pytest_aksload.redact import Redactor
from pytest_aksload.stats.result import ErrorGroup
from pytest_aksload.verdicts.diagnosis import HINTS, hint

MODEL_HEADERS = {"ms-azureml-model-error-statuscode": "500", "ms-azureml-model-error-reason": "ValueError in run()"}


def _run(key: str = "k") -> ChildContext:
    return ChildContext(
        RunSettings(scoring_uri="http://127.0.0.1/score"), {"Authorization": f"Bearer {key}"},
        SampleRows([{"a": 1}]), redactor=Redactor(),
    )  # fmt: skip


def _message(headers: dict[str, str], body: bytes = b"upstream error", run: ChildContext | None = None) -> str:
    response = FakeResponse(424, body, headers)
    (run or _run()).check_response(response, (0,))
    return str(response.outcome)


def test_a_424_message_carries_the_models_own_status_and_reason() -> None:
    assert _message(MODEL_HEADERS) == "HTTP 424: model answered 500: ValueError in run()"
    # Header names in any case (servers and clients differ).
    upper = {name.upper(): value for name, value in MODEL_HEADERS.items()}
    assert _message(upper) == "HTTP 424: model answered 500: ValueError in run()"


def test_a_424_without_the_headers_keeps_the_body() -> None:
    assert _message({}) == "HTTP 424: upstream error"
    assert _message({"ms-azureml-model-error-statuscode": "503"}) == "HTTP 424: model answered 503: upstream error"


def test_the_models_reason_is_redacted() -> None:
    key = "s3cr3t-key-value-0123456789"
    run = _run(key)
    message = _message({**MODEL_HEADERS, "ms-azureml-model-error-reason": f"bad key {key}"}, run=run)
    assert key not in message and message == "HTTP 424: model answered 500: bad key ***"


def test_the_model_hint_quotes_the_models_status_and_reason() -> None:
    failed = ErrorGroup("model", 424, "HTTP 424: model answered 500: ValueError in run()", 3)
    expected = "the model itself failed (its own status 500: ValueError in run()): read the deployment's logs"
    assert hint(failed) == expected
    refused = ErrorGroup("model", 424, "HTTP 424: model answered 400: missing column int00", 1)
    assert hint(refused).startswith("the model refused the input (its own status 400: missing column int00)")
    assert hint(ErrorGroup("model", 424, "HTTP 424: upstream error", 1)) == HINTS["model"]
