"""Is a scoring response a score? The one response validator both processes use.

The pytest process runs it on the pre-flight request; the Locust child runs it on every
response. A scoring endpoint can answer HTTP 200 and still have failed (the notebook's scoring
script returned `"Error: ..."` strings with status 200), so "200" is not "success": the body
must be `{"result": p}` or `{"result": [p, ...]}` with every `p` a probability in [0, 1], or
that same JSON double-encoded as a JSON string (some Azure ML scoring scripts `json.dumps`
their return value and the server encodes it again).

Failures are grouped by kind (`FAILURE_KINDS`): `throttling` (429 Too Many Requests or 503
Service Unavailable: the service shed load, a capacity problem rather than a broken model),
`http` (any other status than 200), `validation` (200 but not a score), `connection` (no HTTP
response at all) and `timeout`.
"""

from __future__ import annotations

import json
import math
from typing import Any

FAILURE_KINDS = ("http", "throttling", "validation", "connection", "timeout")

# What AKS/Azure ML answer when they shed load (rate limit, no free replica, queue full).
THROTTLING_STATUSES = frozenset({429, 503})

MAX_REASON_CHARS = 120


def check_score_response(status: int, body: bytes | str | None) -> str | None:
    """None when `body` (with HTTP `status`) is a valid score, else a one-line reason.

    Reasons are short (<= 120 characters), on one line and start with a stable phrase so they
    group well: `HTTP 500: <body>`, `empty response body`, `response is not JSON: <body>`,
    `error in 200 response: <message>`, `no "result" in response: <body>`,
    `result is not a probability: <value>`.
    """
    text = _text(body)
    if status != 200:
        return _reason(f"HTTP {status}", text)
    if not text.strip():
        return "empty response body"
    try:
        data = json.loads(text)
    except ValueError:
        return _reason("response is not JSON", text)
    if isinstance(data, str):
        # Double-encoded JSON is a valid form; any other string is a scoring script's error
        # message sent with status 200.
        try:
            data = json.loads(data)
        except ValueError:
            return _reason("error in 200 response", data)
        if isinstance(data, str):
            return _reason("error in 200 response", data)
    if not isinstance(data, dict):
        return _reason('no "result" in response', text)
    error = data.get("error")
    if error:
        return _reason("error in 200 response", error if isinstance(error, str) else json.dumps(error))
    if "result" not in data:
        return _reason('no "result" in response', text)
    result = data["result"]
    values = result if isinstance(result, list) else [result]
    if not values or not all(_is_probability(v) for v in values):
        return _reason("result is not a probability", json.dumps(result)[: MAX_REASON_CHARS * 2])
    return None


def failure_kind(status: int | None, exception: BaseException | None = None) -> str:
    """Which of `FAILURE_KINDS` a failed request belongs to.

    `status` is the HTTP status (0 or None when no response arrived, as Locust reports
    transport errors), `exception` what the client raised or the validator reported. A timeout
    wins even with a status: the headers may have arrived before the body timed out.
    """
    if exception is not None and is_timeout(exception):
        return "timeout"
    if not status:
        return "connection"
    if status in THROTTLING_STATUSES:
        return "throttling"
    if status != 200:
        return "http"
    return "validation"


def is_timeout(exception: BaseException) -> bool:
    """Whether `exception` is a timeout, recognised without importing the client library.

    `socket.timeout` is `TimeoutError` since Python 3.10; gevent's `Timeout`, requests'
    `ConnectTimeout`/`ReadTimeout` and geventhttpclient's errors only say so by name/message.
    """
    if isinstance(exception, TimeoutError):
        return True
    if "timeout" in type(exception).__name__.lower():
        return True
    return "timed out" in str(exception).lower()


def describe_exception(exception: BaseException) -> str:
    """One-line, bounded text for a failure: the reason itself for validator failures
    (Locust wraps those strings in `CatchResponseError`), `Type: message` otherwise."""
    message = " ".join(str(exception)[: MAX_REASON_CHARS * 2].split())
    if type(exception).__name__ == "CatchResponseError" and message:
        return _truncate(message)
    return _truncate(f"{type(exception).__name__}: {message}" if message else type(exception).__name__)


def _is_probability(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0.0 <= value <= 1.0
    )


def _text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body).decode("utf-8", errors="replace")
    return body


def _reason(prefix: str, detail: str) -> str:
    # One line, so reasons group and print cleanly; cut first so a megabyte body costs nothing.
    detail = " ".join(detail[: MAX_REASON_CHARS * 2].split())
    return _truncate(f"{prefix}: {detail}" if detail else prefix)


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
