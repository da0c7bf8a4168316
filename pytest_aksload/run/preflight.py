"""Pre-flight: one real scoring request before any load, so a broken target costs seconds, not minutes.

It sends the first `batch` sample rows encoded with the test's contract and decodes the answer the
way the load generator will (one prediction per row, statuses as failure kinds, the deployment
that answered); when row 0's expected prediction is known it must match, so a wrong model version
is an ERROR before any load.
"""

from __future__ import annotations

import re

import requests

from pytest_aksload.contracts import ContractError, check_routing, decode_predictions, load_contract
from pytest_aksload.defaults import DEFAULT_CONTRACT, DEFAULT_TOLERANCE
from pytest_aksload.protocol import REQUEST_ID_HEADER, SampleRows
from pytest_aksload.redact import redact
from pytest_aksload.targets.target import Target


class PreflightError(Exception):
    """The target failed its single pre-flight request; the message says what to check."""


def preflight(
    target: Target,
    sample: SampleRows,
    timeout_s: float,
    *,
    contract: str = DEFAULT_CONTRACT,
    batch: int = 1,
    tolerance: float = DEFAULT_TOLERANCE,
    deployment: str | None = None,
    key_hint: str = "the key",
    ca_bundle: str | None = None,
    request_id: str | None = None,
) -> list[float]:
    """POST the first `batch` rows once; raise PreflightError unless the answer decodes into their
    predictions (and row 0's is the expected one, when known). Returns the predictions.

    `ca_bundle`: PEM file of the CA(s) to trust instead of the system's (--aks-ca-bundle).
    `request_id`: its `x-ms-client-request-id` (the run's prefix, so Azure's logs list it with the load).
    """
    uri = target.scoring_uri
    codec = load_contract(contract)
    rows = [sample.rows[i % len(sample.rows)] for i in range(batch)]
    headers = {"Content-Type": codec.content_type, "Accept": "application/json", **target.headers()}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    response = _send(uri, codec.encode(rows), headers, timeout_s, ca_bundle)
    if response.status_code in (401, 403):
        raise PreflightError(
            f"pre-flight: {uri} answered HTTP {response.status_code} ({response.reason}); "
            f"check {key_hint} and the service's auth mode"
        )
    try:
        if deployment:
            check_routing(response.headers, deployment)
        predictions = decode_predictions(codec, response.status_code, response.headers, response.content, batch)
    except ContractError as error:
        raise PreflightError(
            f"pre-flight: {uri} gave an invalid score response ({redact(error.reason)}; "
            f"failure kind {error.kind}, contract {codec.name}); {_HINTS.get(error.kind, _HINTS['validation'])}"
        ) from None
    expected = None if sample.expected is None else sample.expected[0]
    if expected is not None and not abs(predictions[0] - expected) <= tolerance:
        raise PreflightError(
            f"pre-flight: {uri} predicted {predictions[0]!r} for sample row 0, expected {expected!r} "
            f"(tolerance {tolerance:g}): a different model version, or features encoded differently; "
            "check the deployment and the expected predictions"
        )
    return predictions


def _send(uri: str, body: bytes, headers: dict[str, str], timeout_s: float, ca_bundle: str | None) -> requests.Response:
    """POST once; a request that gets no answer is a PreflightError saying what to check."""
    try:
        return requests.post(uri, data=body, headers=headers, timeout=timeout_s, verify=ca_bundle or True)
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


_HINTS = {
    "validation": "check the payload matches the model's input and the contract (contract=, --aks-contract) "
    "matches the deployment",
    "routing": "check the endpoint's traffic rules or --aml-deployment",
    "model": "the model itself failed: read the deployment's logs",
    "throttling": "the service shed load before any load: check its instances",
    "timeout": "the service did not answer in time: raise timeout= or make scoring faster",
    "http": "check the payload matches the model's input and the contract matches the deployment",
}


def _first_line(error: BaseException) -> str:
    # requests nests urllib3 errors; the innermost reason ("[Errno 111] Connection refused",
    # "certificate verify failed: ...") is the useful part.
    text = str(error.args[0] if error.args else error)
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    reason = text.rsplit("Caused by ", 1)[-1].strip("()'\" ")
    return reason.splitlines()[0][:160] if reason else type(error).__name__
