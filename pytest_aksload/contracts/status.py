"""HTTP statuses and Azure ML's own answers as failure kinds, and the deployment-routing check.

Failures are grouped by kind (`FAILURE_KINDS`) so a report says what to fix:

- `throttling`: 429 (Azure ML: more pending requests than the instances accept,
  `max_concurrent_requests_per_instance` x instances plus `max_queue_wait_ms`) or 503 (no free
  replica, AKS queue full): the service shed load; add instances or lower the load.
- `timeout`: no complete answer in time, by the client's timeout or Azure ML's 408 (the request
  outlived `request_settings.request_timeout_ms`): raise that setting or make scoring faster.
- `model`: 424, Azure ML's "the model container failed this request"; the model's own status
  and reason (headers `ms-azureml-model-error-statuscode`, `ms-azureml-model-error-reason`) are
  in the message: read the deployment's logs.
- `routing`: the answer came from another deployment than the one gated (header
  `azureml-model-deployment`), or the endpoint had no deployment to send it to (Azure ML's 404
  "No valid deployments to route to"): check the endpoint's traffic rules or the deployment name.
- `http`: any other status than 200; `validation`: a 200 that the contract cannot decode;
  `connection`: no HTTP response at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pytest_aksload.contracts.base import ContractError, body_text, reason

FAILURE_KINDS = ("http", "throttling", "timeout", "model", "routing", "validation", "connection")

# What Azure ML / AKS answer when they shed load (rate limit, no free replica, queue full).
THROTTLING_STATUSES = frozenset({429, 503})
AZUREML_TIMEOUT_STATUS = 408
AZUREML_MODEL_ERROR_STATUS = 424

MODEL_ERROR_STATUS_HEADER = "ms-azureml-model-error-statuscode"
MODEL_ERROR_REASON_HEADER = "ms-azureml-model-error-reason"
DEPLOYMENT_HEADER = "azureml-model-deployment"
# Azure ML's 404 when the header names no deployment, or none takes traffic.
NO_DEPLOYMENT_ANSWER = "No valid deployments to route to"
# A 424's reason when Azure ML sent the model's own status and reason: "model answered <status>: <reason>".
MODEL_ANSWERED = "model answered"
_MODEL_ANSWER = re.compile(MODEL_ANSWERED + r" (\S+): (.*)")


def failure_kind_of_status(status: int | None) -> str | None:
    """The failure kind of an HTTP `status`, None for 200 (the body decides); 0/None (no
    response) is `connection`."""
    if status == 200:
        return None
    if not status:
        return "connection"
    if status in THROTTLING_STATUSES:
        return "throttling"
    if status == AZUREML_TIMEOUT_STATUS:
        return "timeout"
    if status == AZUREML_MODEL_ERROR_STATUS:
        return "model"
    return "http"


def check_status(status: int, headers: Mapping[str, str], body: bytes | str | None) -> None:
    """`ContractError` of the status's kind unless `status` is 200.

    The reason is `HTTP <status>: <body>`; for a 424 it is
    `HTTP 424: model answered <code>: <reason>` when Azure ML sent the model's status and reason.
    """
    kind = failure_kind_of_status(status)
    if kind is None:
        return
    detail = body_text(body)
    if status == 404 and NO_DEPLOYMENT_ANSWER in detail:
        kind = "routing"
    if status == AZUREML_MODEL_ERROR_STATUS:
        model_status = header(headers, MODEL_ERROR_STATUS_HEADER)
        model_reason = header(headers, MODEL_ERROR_REASON_HEADER)
        if model_status or model_reason:
            detail = f"{MODEL_ANSWERED} {model_status or '?'}: {model_reason or detail}"
    raise ContractError(reason(f"HTTP {status}", detail), kind=kind)


def model_answer(message: str) -> tuple[str, str] | None:
    """The model's own `(status, reason)` quoted in a 424 failure's message (`check_status`), or None."""
    found = _MODEL_ANSWER.search(message)
    return None if found is None else (found.group(1), found.group(2))


def check_routing(headers: Mapping[str, str], deployment: str) -> None:
    """`ContractError` of kind `routing` when the response names another deployment than
    `deployment` (no header: nothing to check, e.g. a plain scoring URI)."""
    served_by = header(headers, DEPLOYMENT_HEADER)
    if served_by and served_by != deployment:
        raise ContractError(f"answered by deployment {served_by!r}, not {deployment!r}", kind="routing")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Header `name` (lower case) from `headers`, whatever case the server or client used."""
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value
