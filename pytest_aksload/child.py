"""What a custom locustfile uses to run under pytest-aksload (inside the Locust child process).

pytest-aksload starts Locust in a child process and hands it the endpoint, the credential and
the request bodies through environment variables (never argv or files: the key is a secret;
the wire is defined in `pytest_aksload.protocol`). A custom locustfile
(`@pytest.mark.load_test(locustfile="...")`) reads them through this module, so it needs no
knowledge of that protocol, and validates responses with the same rules as the default user, so
an HTTP 200 carrying an error string still counts as a failure: in a task, post `sample_rows()`
to `scoring_path()` with `headers=auth_headers()` and `catch_response=True`, and pass the
response to `check_response`. Locust's FastHttpUser skips certificate checks by default; a gate
must not send its key to an endpoint pre-flight would have refused, so a user verifies TLS with
`insecure = False` and `ssl_context_factory = staticmethod(child.ssl_context_factory)`. A
complete user is examples/locustfiles/batch_user.py.

Everything hangs off one `ChildContext` (`context()`); the module functions below are shortcuts
to it. `auth_headers()` must be called per request: a long run gets refreshed tokens mid-way.
Only the child imports this module; it imports neither locust nor gevent (`ssl_context_factory`
imports gevent when a user calls it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_aksload import protocol
from pytest_aksload.contracts.validation import check_score_response, describe_exception
from pytest_aksload.protocol import RunSettings
from pytest_aksload.redact import SECRETS, Redactor

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

# A run cycles through a few hundred rows, so a model answers with few distinct bodies; the
# validator is a pure function of (status, body), and remembering its verdicts saves ~2 µs of
# JSON parsing per request (a few % of the load generator's throughput). Bounded: short bodies only.
_MEMO_MAX_ENTRIES = 4096
_MEMO_MAX_BODY = 512


class ChildContext:
    """The run as this child process sees it: settings, request bodies, current auth headers."""

    def __init__(
        self,
        settings: RunSettings,
        headers: Mapping[str, str],
        rows: list[dict[str, Any]] | None = None,
        redactor: Redactor = SECRETS,
    ) -> None:
        self.settings = settings
        self._redactor = redactor
        self._headers: dict[str, str] = {}
        self._json_request_headers: dict[str, str] = {}
        self.replace_auth_headers(headers)
        self._rows = rows
        self._verdicts: dict[tuple[int, bytes], str | None] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ChildContext:
        """The run the parent described in this process's environment (protocol.RunSettings plus
        the secret headers); ProtocolError (one line, never quoting the secret) if malformed."""
        headers = protocol.decode_auth_headers(environ.get(protocol.ENV_AUTH_HEADERS, ""))
        return cls(RunSettings.from_env(environ), headers)

    @property
    def configured(self) -> bool:
        """Whether this process knows its run (a remote worker learns it from its master)."""
        return self.settings.configured

    @property
    def scoring_uri(self) -> str:
        """The full scoring URI of the target."""
        if not self.settings.scoring_uri:
            raise RuntimeError(f"{protocol.ENV_SCORING_URI} is not set: this locustfile must run under pytest-aksload")
        return self.settings.scoring_uri

    @cached_property
    def scoring_path(self) -> str:
        """Path (and query) of the scoring URI, what to pass to `self.client.post` (host is `--host`)."""
        parts = urlsplit(self.scoring_uri)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def request_timeout_s(self) -> float:
        """Per-request timeout in seconds (connect and each network read)."""
        return self.settings.request_timeout_s

    @property
    def wait_range(self) -> tuple[float, float]:
        """`(min_s, max_s)` of the wait between a user's requests: `wait_time = between(*wait_range)`."""
        return self.settings.wait_s

    @property
    def ca_bundle(self) -> str | None:
        """The PEM file of CAs the run trusts for https (--aks-ca-bundle), or None for the system's."""
        return self.settings.ca_bundle

    def sample_rows(self) -> list[dict[str, Any]]:
        """The request bodies (one JSON object each) the test was given, loaded once."""
        if self._rows is None:
            path = self.settings.rows_file
            if not path:
                raise RuntimeError(
                    f"{protocol.ENV_ROWS_FILE} is not set: this locustfile must run under pytest-aksload"
                )
            try:
                rows = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise RuntimeError(f"cannot read request bodies from {path}: {exc}") from None
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
                raise RuntimeError(f"{path} must hold a non-empty JSON list of objects (request bodies)")
            self._rows = rows
        return self._rows

    def auth_headers(self) -> dict[str, str]:
        """The headers that authorise a request now (a copy; refreshed tokens included)."""
        return dict(self._headers)

    def json_request_headers(self) -> dict[str, str]:
        """JSON content headers plus the current auth headers, for posting a row.

        One shared dict, rebuilt only when a token refresh replaces the auth headers: building it
        per request was a measurable share of the packaged user's per-request cost. Locust copies
        the headers it is given; callers must not mutate the result.
        """
        return self._json_request_headers

    def replace_auth_headers(self, headers: Mapping[str, str]) -> None:
        """Use `headers` from now on (a token refresh); the replaced ones stay masked."""
        checked = protocol.checked_headers(headers, "auth headers are not an object of strings")
        self._redactor.remember_headers(checked)
        self._headers = checked
        self._json_request_headers = {**_JSON_HEADERS, **checked}

    def check_response(self, response: Any) -> None:
        """Mark a Locust `catch_response=True` response as success or failure.

        Transport errors are passed on as the exception itself (so they are grouped as
        `connection`/`timeout`); anything else goes through `validation.check_score_response`
        and fails with its reason. Credential values are masked in every reason.
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
        reason = self._verdict(status, body)
        if reason is None:
            response.success()
        else:
            response.failure(self.redact(reason))

    def _verdict(self, status: int, body: Any) -> str | None:
        key = (status, body)
        try:
            return self._verdicts[key]
        except (KeyError, TypeError):  # TypeError: an unhashable body, never remembered
            pass
        reason = check_score_response(status, body)
        if isinstance(body, bytes) and len(body) <= _MEMO_MAX_BODY and len(self._verdicts) < _MEMO_MAX_ENTRIES:
            self._verdicts[key] = reason
        return reason

    def redact(self, text: str) -> str:
        """`text` with every credential value this process held (and bare tokens) masked."""
        return self._redactor(text)

    def describe_failure(self, exception: BaseException) -> str:
        """One-line, bounded, redacted text of a failed request's exception."""
        return self.redact(describe_exception(exception))


_context: ChildContext | None = None


def context() -> ChildContext:
    """This process's run, read from the environment on first use."""
    global _context
    if _context is None:
        _context = ChildContext.from_env(os.environ)
    return _context


def set_context(run: ChildContext) -> None:
    """Use `run` from now on: a remote worker's run, as its master sent it (never in the environment)."""
    global _context
    _context = run


# --- shortcuts for locustfiles (documented in the README) -----------------------------------------------
def scoring_uri() -> str:
    """The full scoring URI of the target."""
    return context().scoring_uri


def scoring_path() -> str:
    """Path (and query) of the scoring URI, what to pass to `self.client.post` (host is `--host`)."""
    return context().scoring_path


def auth_headers() -> dict[str, str]:
    """The headers that authorise a request now (a copy; refreshed tokens included)."""
    return context().auth_headers()


def json_request_headers() -> dict[str, str]:
    """JSON content headers plus the current auth headers (shared: do not mutate)."""
    return context().json_request_headers()


def sample_rows() -> list[dict[str, Any]]:
    """The request bodies (one JSON object each) the test was given."""
    return context().sample_rows()


def request_timeout_s() -> float:
    """Per-request timeout in seconds (connect and each network read)."""
    return context().request_timeout_s


def wait_range() -> tuple[float, float]:
    """`(min_s, max_s)` of the wait between a user's requests: `wait_time = between(*wait_range())`."""
    return context().wait_range


def ca_bundle() -> str | None:
    """The PEM file of CAs the run trusts for https (--aks-ca-bundle), or None for the system's."""
    return context().ca_bundle


def ssl_context_factory(cafile: str | None = None) -> Any:
    """A verifying TLS context for FastHttpUser: trusts the run's CA bundle (--aks-ca-bundle)
    when one was given, else `cafile` (geventhttpclient passes its default CA file)."""
    import gevent.ssl  # child only: the user's TLS runs on gevent's ssl

    return gevent.ssl.create_default_context(cafile=context().ca_bundle or cafile)


def check_response(response: Any) -> None:
    """Mark a Locust `catch_response=True` response as success or failure (see `ChildContext`)."""
    context().check_response(response)


def redact(text: str) -> str:
    """`text` with every credential value (and bare token) replaced by `***`."""
    return context().redact(text)
