"""The response validator: what counts as a score, and how failures are named and grouped."""

from __future__ import annotations

import json

import pytest

from pytest_aksload.contracts.validation import (
    MAX_REASON_CHARS,
    check_score_response,
    describe_exception,
    failure_kind,
)

VALID = [
    ("plain probability", b'{"result": 0.42}'),
    ("zero and one are probabilities", b'{"result": [0, 1]}'),
    ("list of probabilities", b'{"result": [0.1, 0.2, 0.99]}'),
    ("double-encoded (JSON string of JSON)", json.dumps(json.dumps({"result": 0.3})).encode()),
    ("double-encoded list", json.dumps(json.dumps({"result": [0.3, 0.7]})).encode()),
    ("str body", '{"result": 0.5}'),
    ("null error next to a result", b'{"result": 0.5, "error": null}'),
]


@pytest.mark.parametrize("body", [b for _, b in VALID], ids=[name for name, _ in VALID])
def test_valid_scores_pass(body: bytes | str) -> None:
    assert check_score_response(200, body) is None


INVALID = [
    # (id, status, body, expected reason prefix, text that must be in the reason)
    ("server error", 500, b"Internal Server Error", "HTTP 500", "Internal Server Error"),
    ("server error without body", 503, b"", "HTTP 503", "HTTP 503"),
    ("created is not 200", 201, b'{"result": 0.5}', "HTTP 201", "HTTP 201"),
    ("empty body", 200, b"", "empty response body", "empty"),
    ("whitespace body", 200, b"  \n", "empty response body", "empty"),
    ("html", 200, b"<html>oops</html>", "response is not JSON", "<html>"),
    (
        "error string (notebook)",
        200,
        json.dumps("Error: could not convert string to float").encode(),
        "error in 200 response",
        "could not convert",
    ),
    ("error object", 200, b'{"error": "model not loaded"}', "error in 200 response", "model not loaded"),
    ("structured error", 200, b'{"error": {"code": 7}}', "error in 200 response", '"code": 7'),
    ("no result key", 200, b'{"score": 0.5}', 'no "result" in response', "score"),
    ("json list", 200, b"[0.5]", 'no "result" in response', "[0.5]"),
    ("json number", 200, b"0.5", 'no "result" in response', "0.5"),
    ("result above one", 200, b'{"result": 1.5}', "result is not a probability", "1.5"),
    ("negative result", 200, b'{"result": -0.1}', "result is not a probability", "-0.1"),
    ("string result", 200, b'{"result": "0.5"}', "result is not a probability", '"0.5"'),
    ("boolean result", 200, b'{"result": true}', "result is not a probability", "true"),
    ("null result", 200, b'{"result": null}', "result is not a probability", "null"),
    ("nan result", 200, b'{"result": NaN}', "result is not a probability", "NaN"),
    ("empty list", 200, b'{"result": []}', "result is not a probability", "[]"),
    ("one bad in list", 200, b'{"result": [0.2, 7]}', "result is not a probability", "7"),
    ("nested list", 200, b'{"result": [[0.2]]}', "result is not a probability", "[[0.2]]"),
    ("double-encoded bad", 200, json.dumps(json.dumps({"result": 2})).encode(), "result is not a probability", "2"),
    (
        "triple-encoded string",
        200,
        json.dumps(json.dumps(json.dumps({"result": 0.1}))).encode(),
        "error in 200 response",
        "result",
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "prefix", "mentions"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_responses_name_the_problem(status: int, body: bytes, prefix: str, mentions: str) -> None:
    reason = check_score_response(status, body)
    assert reason is not None
    assert reason.startswith(prefix)
    assert mentions in reason
    assert "\n" not in reason and len(reason) <= MAX_REASON_CHARS


def test_long_error_is_truncated_to_one_line() -> None:
    body = json.dumps("Error: " + "traceback line\n" * 10_000).encode()
    reason = check_score_response(200, body)
    assert reason is not None and reason.startswith("error in 200 response: Error: traceback line")
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("…") and "\n" not in reason


def test_undecodable_bytes_do_not_crash() -> None:
    assert check_score_response(200, b"\xff\xfe\x00").startswith("response is not JSON")


KINDS = [
    ("refused", 0, ConnectionRefusedError(111, "Connection refused"), "connection"),
    ("no status at all", None, OSError("Network unreachable"), "connection"),
    ("socket timeout", 0, TimeoutError("timed out"), "timeout"),
    ("timeout after headers", 200, TimeoutError(), "timeout"),
    ("named timeout class", 0, type("ReadTimeout", (Exception,), {})("x"), "timeout"),
    ("message says timed out", 0, OSError("connect timed out"), "timeout"),
    ("server error", 500, Exception("HTTP 500"), "http"),
    ("not found", 404, Exception("HTTP 404"), "http"),
    ("rate limited", 429, Exception("HTTP 429"), "throttling"),
    ("no free replica", 503, Exception("HTTP 503"), "throttling"),
    ("bad body", 200, Exception("result is not a probability: 2"), "validation"),
]


@pytest.mark.parametrize(("status", "exception", "kind"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_failure_kind(status: int | None, exception: BaseException, kind: str) -> None:
    assert failure_kind(status, exception) == kind


def test_describe_exception() -> None:
    catch_response_error = type("CatchResponseError", (Exception,), {})
    assert describe_exception(catch_response_error("HTTP 500: boom")) == "HTTP 500: boom"
    assert describe_exception(ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert describe_exception(TimeoutError()) == "TimeoutError"
    assert len(describe_exception(ValueError("x" * 1000))) == MAX_REASON_CHARS
