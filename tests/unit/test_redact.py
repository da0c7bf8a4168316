"""One redactor (`pytest_aksload.redact`) for every output path, fed by every credential the session holds."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests

from pytest_aksload.protocol import SampleRows
from pytest_aksload.redact import MIN_SECRET_CHARS, REDACTED, SECRETS, Redactor, redact
from pytest_aksload.run.preflight import PreflightError, preflight
from pytest_aksload.run.runner import crash_tail
from pytest_aksload.targets.azure.common import one_line
from pytest_aksload.targets.target import Credential, Target


def token() -> str:
    return f"tok-{secrets.token_hex(12)}"


def test_exact_values_and_the_bare_token_of_a_bearer_header_are_masked() -> None:
    bare = token()
    redactor = Redactor([f"Bearer {bare}"])
    assert redactor(f"Authorization: Bearer {bare}") == "Authorization: ***"
    assert redactor(f"401: token {bare} expired") == "401: token *** expired"  # a server echoed the token only


def test_short_values_are_not_remembered() -> None:
    redactor = Redactor(["abc", "Bearer key1", "x" * (MIN_SECRET_CHARS - 1)])
    text = "the abc of key1 and xxxxx"
    assert redactor(text) == text
    redactor.remember("s" * MIN_SECRET_CHARS)
    assert redactor("a ssssss b") == f"a {REDACTED} b"


def test_longest_value_first_so_nothing_of_a_secret_is_left() -> None:
    bare = token()
    redactor = Redactor([bare, f"Bearer {bare}"])
    assert redactor(f"sent Bearer {bare}") == "sent ***"


def test_token_shaped_strings_are_masked_without_being_known() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    redactor = Redactor()
    assert jwt not in redactor(f"token was {jwt}")
    assert redactor('{"primaryKey": "k-123abc"}') == '{"primaryKey": "***"}'
    assert redactor("Bearer opaque-value") == "Bearer ***"
    assert redactor("design: a signature, HTTP 500: boom") == "design: a signature, HTTP 500: boom"


def test_a_credential_feeds_every_key_and_token_it_holds_into_the_session_redactor() -> None:
    key = token()
    Credential.key(key)
    assert redact(f"echoed {key}") == "echoed ***"
    first, second = token(), token()
    tokens = iter([(first, 0.0), (second, None)])
    credential = Credential.token(lambda: next(tokens))
    credential.refresh()
    assert credential.headers()["Authorization"] == f"Bearer {second}"
    assert redact(f"{first} then {second}") == "*** then ***"


def test_a_crash_tail_masks_a_token_replaced_before_the_crash(tmp_path: Path) -> None:
    """The runner masked only the current headers: a token from before a refresh leaked in the tail."""
    old, new = token(), token()
    tokens = iter([(old, 0.0), (new, None)])
    target = Target("http://127.0.0.1:1/score", "t", "uri", Credential.token(lambda: next(tokens)))
    target.credential.refresh()
    stderr = tmp_path / "locust-stderr.log"
    stderr.write_text(f"Traceback ...\nHTTPError: 401 for Bearer {old}\nretrying with {old}\n", encoding="utf-8")
    tail = crash_tail(stderr, [f"stdout line with {new}"])
    assert old not in tail and new not in tail
    assert "401 for ***" in tail and "retrying with ***" in tail and "stdout line with ***" in tail


def test_azure_errors_go_through_the_same_redactor() -> None:
    session_token = token()
    SECRETS.remember(session_token)
    passed_in = token()
    cleaned = one_line(f"denied: {session_token}\n and {passed_in}", passed_in)
    assert cleaned == "denied: *** and ***"
    assert redact(f"later {passed_in}") == "later ***"  # remembered for the rest of the session


def test_a_preflight_error_does_not_quote_a_key_the_server_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = token()
    target = Target("http://127.0.0.1:1/score", "t", "uri", Credential.key(key))

    class Echo:
        status_code, reason, headers = 500, "Internal Server Error", {}
        content = f"scoring failed for key {key}".encode()

    monkeypatch.setattr(requests, "post", lambda *args, **kwargs: Echo())
    with pytest.raises(PreflightError) as info:
        preflight(target, SampleRows([{"a": 1}]), timeout_s=1.0)
    assert key not in str(info.value) and "HTTP 500: scoring failed for key ***" in str(info.value)
