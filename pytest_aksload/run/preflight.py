"""Pre-flight: one real scoring request before any load, so a broken target costs seconds, not minutes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests

from pytest_aksload.contracts.validation import check_score_response
from pytest_aksload.redact import redact
from pytest_aksload.targets.target import Target


class PreflightError(Exception):
    """The target failed its single pre-flight request; the message says what to check."""


def preflight(
    target: Target,
    payload: Mapping[str, Any],
    timeout_s: float,
    *,
    key_hint: str = "the key",
    ca_bundle: str | None = None,
) -> None:
    """POST `payload` once; raise PreflightError unless the answer is a valid score.

    `ca_bundle`: PEM file of the CA(s) to trust instead of the system's (--aks-ca-bundle).
    """
    uri = target.scoring_uri
    try:
        response = requests.post(
            uri, json=payload, headers=dict(target.headers()), timeout=timeout_s, verify=ca_bundle or True
        )
    except requests.exceptions.SSLError as error:
        trusted = f"the CA bundle {ca_bundle}" if ca_bundle else "the system's trusted CAs"
        raise PreflightError(
            f"pre-flight: TLS error talking to {uri}: {_first_line(error)}; its certificate is not trusted by "
            f"{trusted}: fix the certificate, or pass --aks-ca-bundle PATH with the CA that signed it"
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
            f"pre-flight: {uri} gave an invalid score response ({redact(reason)}); "
            'check the payload matches the model\'s input and the scoring script returns {"result": probability}'
        )


def _first_line(error: BaseException) -> str:
    # requests nests urllib3 errors; the innermost reason ("[Errno 111] Connection refused",
    # "certificate verify failed: ...") is the useful part.
    text = str(error.args[0] if error.args else error)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    reason = text.rsplit("Caused by ", 1)[-1].strip("()'\" ")
    return reason.splitlines()[0][:160] if reason else type(error).__name__
