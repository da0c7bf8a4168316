"""Pre-flight: one real scoring request before any load, so a broken target costs seconds, not minutes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from .targets import Target
from .validation import check_score_response


class PreflightError(Exception):
    """The target failed its single pre-flight request; the message says what to check."""


def preflight(target: Target, payload: Mapping[str, Any], timeout_s: float, *, key_hint: str = "the key") -> None:
    """POST `payload` once; raise PreflightError unless the answer is a valid score."""
    uri = target.scoring_uri
    try:
        response = requests.post(uri, json=payload, headers=dict(target.headers()), timeout=timeout_s)
    except requests.exceptions.SSLError as error:
        raise PreflightError(
            f"pre-flight: TLS error talking to {uri}: {_first_line(error)}; check the certificate"
        ) from None
    except requests.exceptions.Timeout:
        raise PreflightError(
            f"pre-flight: {uri} did not answer within {timeout_s:g}s; check the service is up, or raise timeout="
        ) from None
    except requests.exceptions.ConnectionError as error:
        raise PreflightError(
            f"pre-flight: cannot connect to {uri} ({_first_line(error)}); check the service is running and the URL"
        ) from None
    if response.status_code in (401, 403):
        raise PreflightError(
            f"pre-flight: {uri} answered HTTP {response.status_code} ({response.reason}); "
            f"check {key_hint} and the service's auth mode"
        )
    reason = check_score_response(response.status_code, response.content)
    if reason is not None:
        raise PreflightError(
            f"pre-flight: {uri} gave an invalid score response ({reason}); "
            'check the payload matches the model\'s input and the scoring script returns {"result": probability}'
        )


def _first_line(error: BaseException) -> str:
    # requests nests urllib3 errors; the innermost reason is the useful part.
    text = str(error.args[0] if error.args else error)
    reason = text.rsplit("Caused by ", 1)[-1].strip("()'\" ")
    return reason.splitlines()[0][:160] if reason else type(error).__name__
