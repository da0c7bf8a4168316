"""What a custom locustfile uses to run under pytest-aksload (inside the Locust child process).

pytest-aksload starts Locust in a child process and hands it the endpoint, the credential and
the request bodies through environment variables (never argv or files: the key is a secret).
A custom locustfile (`@pytest.mark.load_test(locustfile="...")`) reads them through these
functions, so it needs no knowledge of that protocol, and validates responses with the same
rules as the default user, so an HTTP 200 carrying an error string still counts as a failure:
in a task, post `sample_rows()` to `scoring_path()` with `headers=auth_headers()` and
`catch_response=True`, and pass the response to `check_response`. A complete user is
examples/locustfiles/batch_user.py (TLS verified through `pytest_aksload._locust.tls`).

`auth_headers()` must be called per request: a long run gets refreshed tokens mid-way.
This module imports neither locust nor gevent; the pytest process imports it for the protocol
constants below (the full protocol is described in `pytest_aksload._locust`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_aksload.contracts.validation import check_score_response, describe_exception

# --- the child protocol: environment variables the runner sets ------------------------------
ENV_SCORING_URI = "AKSLOAD_SCORING_URI"
ENV_AUTH_HEADERS = "AKSLOAD_AUTH_HEADERS"  # secret: JSON object of headers
ENV_ROWS_FILE = "AKSLOAD_ROWS_FILE"
ENV_RESULT_FILE = "AKSLOAD_RESULT_FILE"
ENV_WARMUP_S = "AKSLOAD_WARMUP_S"
ENV_WINDOW_S = "AKSLOAD_WINDOW_S"
ENV_REQUEST_TIMEOUT_S = "AKSLOAD_REQUEST_TIMEOUT_S"
ENV_WAIT_MIN_S = "AKSLOAD_WAIT_MIN_S"
ENV_WAIT_MAX_S = "AKSLOAD_WAIT_MAX_S"
ENV_PROGRESS_S = "AKSLOAD_PROGRESS_S"
ENV_CA_BUNDLE = "AKSLOAD_CA_BUNDLE"
ENV_RATE = "AKSLOAD_RATE"  # open model: requests per second of THIS process (a local worker's share)
ENV_ARRIVALS = "AKSLOAD_ARRIVALS"  # open model: "constant" or "poisson"
ENV_RUN_TIME_S = "AKSLOAD_RUN_TIME_S"  # distributed master: it ends the run itself (no --run-time)
ENV_ABORT_ON = "AKSLOAD_ABORT_ON"  # JSON list of abort_on rules ("failure_rate > 50% over 10s windows")
ENV_STREAM_WINDOWS = "AKSLOAD_STREAM_WINDOWS"  # "1": print each closed window (WINDOW_PREFIX lines)
ENV_WINDOW_DETAIL = "AKSLOAD_WINDOW_DETAIL"  # "1": windows also split by endpoint, with failure groups
ENV_WORKER_HOME = "AKSLOAD_WORKER_HOME"  # aksload-worker's own temp directory: removed when it quits

PROGRESS_PREFIX = "AKSLOAD-PROGRESS "
"""Start of a progress line on the child's stdout; a JSON object follows."""

WINDOW_PREFIX = "AKSLOAD-WINDOW "
"""Start of a closed-window line on the child's stdout (with AKSLOAD_STREAM_WINDOWS); a window
object of the result file follows, so the parent can judge the run while it goes on."""

STOP_LINE = b'{"stop": true}\n'
"""What the parent writes on the child's stdin to end the run now, as if its run time were up."""

RESULT_FORMAT = "pytest-aksload-result/1"
"""Value of the `format` key of the result file the recorder writes."""

_LOCUST_DIR = Path(__file__).resolve().parent / "_locust"
RECORDER_PATH = _LOCUST_DIR / "recorder.py"
"""Locustfile that attaches the recorder; goes first in `-f recorder.py,<locustfile>`."""
DEFAULT_LOCUSTFILE_PATH = _LOCUST_DIR / "locustfile.py"
"""The packaged user that posts the sample rows to the scoring endpoint."""
OPEN_MODEL_LOCUSTFILE_PATH = _LOCUST_DIR / "open_model.py"
"""The packaged user on an arrival-rate schedule (marker `rate=`)."""

REDACTED = "***"

_headers: dict[str, str] | None = None
# A remote worker (aksload-worker) has none of the variables above: the master sends the run's
# settings in a Locust message and `configure` puts them here, in memory only.
_settings: dict[str, str] = {}
_secrets: set[str] = set()  # every credential value seen, current or replaced
_rows: list[dict[str, Any]] | None = None


def scoring_uri() -> str:
    """The full scoring URI of the target."""
    uri = _setting(ENV_SCORING_URI)
    if not uri:
        raise RuntimeError(f"{ENV_SCORING_URI} is not set: this locustfile must run under pytest-aksload")
    return uri


def scoring_path() -> str:
    """Path (and query) of the scoring URI, what to pass to `self.client.post` (host is `--host`)."""
    parts = urlsplit(scoring_uri())
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def auth_headers() -> dict[str, str]:
    """The headers that authorise a request now (a copy; refreshed tokens included)."""
    global _headers
    if _headers is None:
        raw = os.environ.get(ENV_AUTH_HEADERS, "") or "{}"
        try:
            headers = json.loads(raw)
        except ValueError:
            headers = None
        # The value is a secret: the message must not quote it.
        _headers = _checked_headers(headers, f"{ENV_AUTH_HEADERS} is not a JSON object of strings")
    return dict(_headers)


def sample_rows() -> list[dict[str, Any]]:
    """The request bodies (one JSON object each) the test was given, loaded once per process."""
    global _rows
    if _rows is None:
        path = os.environ.get(ENV_ROWS_FILE)
        if not path:
            raise RuntimeError(f"{ENV_ROWS_FILE} is not set: this locustfile must run under pytest-aksload")
        try:
            rows = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read request bodies from {path}: {exc}") from None
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise RuntimeError(f"{path} must hold a non-empty JSON list of objects (request bodies)")
        _rows = rows
    return _rows


def request_timeout_s() -> float:
    """Per-request timeout in seconds (connect and each network read)."""
    return _env_float(ENV_REQUEST_TIMEOUT_S, 30.0)


def wait_range() -> tuple[float, float]:
    """`(min_s, max_s)` of the wait between a user's requests: `wait_time = between(*wait_range())`."""
    return _env_float(ENV_WAIT_MIN_S, 1.0), _env_float(ENV_WAIT_MAX_S, 2.0)


def ca_bundle() -> str | None:
    """The PEM file of CAs the run trusts for https (--aks-ca-bundle), or None for the system's
    (`pytest_aksload._locust.tls.ssl_context_factory` builds the users' TLS context from it)."""
    return _setting(ENV_CA_BUNDLE) or None


def check_response(response: Any) -> None:
    """Mark a Locust `catch_response=True` response as success or failure.

    Transport errors are passed on as the exception itself (so they are grouped as
    `connection`/`timeout`); anything else goes through `validation.check_score_response` and
    fails with its reason. Credential values are masked in every reason.
    """
    error = getattr(response, "error", None)
    status = getattr(response, "status_code", 0) or 0
    if not status and isinstance(error, BaseException):
        response.failure(error)
        return
    try:
        body = response.content
    except Exception as exc:  # the body read itself failed (e.g. timed out after the headers)
        response.failure(exc)
        return
    reason = _verdict(status, body)
    if reason is None:
        response.success()
    else:
        response.failure(redact(reason))


# A run cycles through a few hundred rows, so a model answers with few distinct bodies; the
# validator is a pure function of (status, body), and remembering its verdicts saves ~2 µs of
# JSON parsing per request (a few % of the load generator's throughput). Bounded: short bodies only.
_MEMO_MAX_ENTRIES = 4096
_MEMO_MAX_BODY = 512
_verdicts: dict[tuple[int, bytes], str | None] = {}


def _verdict(status: int, body: Any) -> str | None:
    key = (status, body)
    try:
        return _verdicts[key]
    except (KeyError, TypeError):  # TypeError: an unhashable body, never remembered
        pass
    reason = check_score_response(status, body)
    if isinstance(body, bytes) and len(body) <= _MEMO_MAX_BODY and len(_verdicts) < _MEMO_MAX_ENTRIES:
        _verdicts[key] = reason
    return reason


def redact(text: str) -> str:
    """`text` with every credential value (and bare token) replaced by `***`."""
    if _headers is None:
        auth_headers()
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def describe_failure(exception: BaseException) -> str:
    """One-line, bounded, redacted text of a failed request's exception."""
    return redact(describe_exception(exception))


def replace_auth_headers(headers: Mapping[str, str]) -> None:
    """Use `headers` from now on (the recorder calls this when the parent refreshes a token)."""
    global _headers, _json_request_headers
    if _headers is None:
        auth_headers()
    _headers = _checked_headers(headers, "replacement headers are not an object of strings")
    _json_request_headers = None


_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_json_request_headers: dict[str, str] | None = None


def json_request_headers() -> dict[str, str]:
    """JSON content headers plus the current auth headers, for posting a row.

    One shared dict, rebuilt only when a token refresh replaces the auth headers: building it per
    request was a measurable share of the packaged user's per-request cost. Locust copies the
    headers it is given; callers must not mutate the result.
    """
    global _json_request_headers
    if _json_request_headers is None:
        _json_request_headers = {**_JSON_HEADERS, **auth_headers()}
    return _json_request_headers


def _checked_headers(headers: Any, problem: str) -> dict[str, str]:
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError(problem)
    for value in headers.values():
        _remember_secret(value)
    return dict(headers)


# What a remote worker needs besides the secret and the rows; none of it is secret.
SHARED_SETTINGS = (
    ENV_SCORING_URI,
    ENV_WARMUP_S,
    ENV_WINDOW_S,
    ENV_REQUEST_TIMEOUT_S,
    ENV_WAIT_MIN_S,
    ENV_WAIT_MAX_S,
    ENV_RATE,
    ENV_ARRIVALS,
    ENV_WINDOW_DETAIL,
)


def is_configured() -> bool:
    """Whether this process knows its run (from its environment, or from the master's message)."""
    return bool(_setting(ENV_SCORING_URI))


def run_config(workers: int) -> dict[str, Any]:
    """The message a master sends a remote worker: settings, rows and (secret) headers.

    It travels only over Locust's master-worker connection; the master's open-model rate is
    the whole run's, divided among the `workers` so together they offer the rate asked for."""
    settings = {name: value for name in SHARED_SETTINGS if (value := _setting(name)) is not None}
    if ENV_RATE in settings:
        settings[ENV_RATE] = repr(float(settings[ENV_RATE]) / max(1, workers))
    return {"settings": settings, "headers": auth_headers(), "rows": sample_rows()}


def configure(config: Mapping[str, Any]) -> None:
    """Apply a master's `run_config` message in a remote worker (memory only, never the environment)."""
    global _rows
    _settings.update({str(k): str(v) for k, v in config["settings"].items()})
    rows = config["rows"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError("the master sent no request bodies")
    _rows = rows
    replace_auth_headers(config["headers"])


def _setting(name: str) -> str | None:
    return _settings.get(name, os.environ.get(name))


def _remember_secret(value: str) -> None:
    # Also the bare token of "Bearer <token>": a server may echo just that.
    for candidate in (value, value.partition(" ")[2]):
        if len(candidate) >= 6:  # shorter values would mask ordinary words
            _secrets.add(candidate)


def _env_float(name: str, default: float) -> float:
    raw = _setting(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {raw!r}")
    return value
