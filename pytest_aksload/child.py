"""What a custom locustfile uses to run under pytest-aksload (inside the Locust child process).

pytest-aksload starts Locust in a child process and hands it the endpoint, the credential, the
sample rows and the test's contract through environment variables (never argv or files: the key
is a secret; the wire is defined in `pytest_aksload.protocol`). A custom locustfile
(`@pytest.mark.load_test(locustfile="...")`) reads them through this module, so it needs no
knowledge of that protocol, and checks responses with the test's contract like the default user,
so an HTTP 200 carrying an error string still counts as a failure and every prediction is
compared with its row's expected value: in a task, take `batch = next_batch()`, post
`batch.body` to `scoring_path()` with `headers=request_headers()` and `catch_response=True`, and
pass the response to `check_response(response, rows=batch.rows)`. (`check_response(response)`
without `rows` checks the answer's form only: it cannot know which rows were sent.) Locust's
FastHttpUser skips certificate checks by default; a gate
must not send its key to an endpoint pre-flight would have refused, so a user verifies TLS with
`insecure = False` and `ssl_context_factory = staticmethod(child.ssl_context_factory)`. A
complete user is examples/locustfiles/batch_user.py.

Every request carries a fresh `x-ms-client-request-id` (`request_id()`: the run id, this process's
worker index, a sequence number), so Azure's logs can list a run's requests: `request_headers()`,
`json_request_headers()` and a `RequestPlan`'s requests already hold one; a user that builds its
own headers from `auth_headers()` adds `{child.REQUEST_ID_HEADER: child.request_id()}` per request.

Everything hangs off one `ChildContext` (`context()`); the module functions below are shortcuts
to it. `auth_headers()` must be called per request: a long run gets refreshed tokens mid-way.
Only the child imports this module; it imports neither locust nor gevent.
"""

from __future__ import annotations

import itertools
import os
import random
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_aksload import protocol
from pytest_aksload.contracts import (
    BUILTIN_CONTRACTS,
    DEPLOYMENT_HEADER,
    Contract,
    ContractError,
    EncodedBatch,
    check_routing,
    decode_predictions,
    encode_batches,
    load_contract,
)
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.contracts.status import header
from pytest_aksload.protocol import REQUEST_ID_HEADER, SERVER_REQUEST_ID_HEADER, RunSettings, SampleRows
from pytest_aksload.redact import SECRETS, Redactor

# The locustfile API (docs/reference.md): the rest of this module is the plugin's own (the
# recorder's request context keys, a remote worker's `set_context`).
__all__ = [
    "AGAINST",
    "TARGET",
    "ChildContext",
    "EncodedBatch",
    "REQUEST_ID_HEADER",
    "PlannedRequest",
    "RequestPlan",
    "auth_headers",
    "ca_bundle",
    "check_response",
    "context",
    "json_request_headers",
    "next_batch",
    "redact",
    "request_headers",
    "request_id",
    "request_plan",
    "request_timeout_s",
    "sample_rows",
    "scoring_path",
    "scoring_uri",
    "ssl_context_factory",
    "wait_range",
]

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}

# A run cycles through a few hundred bodies, so a model answers with few distinct bodies; a
# built-in contract's decoding of a 200 is a pure function of the body, and remembering it saves
# the JSON parsing per request. Bounded.
_MEMO_MAX_ENTRIES = 4096
_MEMO_MAX_BODY = 4096

PREDICTIONS_KEY = "aksload_predictions"
"""Request context key: `(row indices, predictions)` of a checked answer, read by the recorder."""
FAILURE_KIND_KEY = "aksload_failure_kind"
"""Request context key: the failure kind the contract gave a refused answer (e.g. `routing`)."""
SIDE_KEY = "aksload_side"
"""Request context key, side by side: `AGAINST` when the request went to the other side."""
AGREEMENT_KEY = "aksload_agreement"
"""Request context key, side by side: `(rows compared, rows agreeing, largest difference)` of a pair
whose two answers both decoded (set on the pair's second answer)."""
TARGET = "target"
"""`PlannedRequest.side` of a request to the target."""
AGAINST = "against"
"""`PlannedRequest.side` of a request to the other side (side by side)."""


class _Pair:
    """One batch sent to both sides: the first answer's predictions wait here for the second's."""

    __slots__ = ("predictions", "answered")

    def __init__(self) -> None:
        self.predictions: list[float] | None = None
        self.answered = 0


@dataclass
class PlannedRequest:
    """One request of a `RequestPlan`: post `batch.body` to `url` with `headers`, `name=name` and
    `context=context`, then pass the response to `check_response(response, request=this)`."""

    batch: EncodedBatch
    side: str  # TARGET or AGAINST
    url: str  # the target's path (Locust's --host is the target), or the other side's full URI
    name: str  # the target's path on both sides, so `result.endpoints` pair up
    headers: Mapping[str, str]
    deployment: str | None  # answers must come from this deployment (routing check)
    context: dict[str, Any] = field(default_factory=dict)
    pair: _Pair | None = None


def _single_process() -> int:
    return 0


_worker_index: Callable[[], int] = _single_process


def set_worker_index(source: Callable[[], int]) -> None:
    """Where this process's worker index comes from (Locust's, known once a worker joined its
    master); read at the first request id, so ids differ across a distributed run's processes."""
    global _worker_index
    _worker_index = source


class ChildContext:
    """The run as this child process sees it: settings, sample, contract, current auth headers."""

    def __init__(
        self,
        settings: RunSettings,
        headers: Mapping[str, str],
        sample: SampleRows | list[dict[str, Any]] | None = None,
        redactor: Redactor = SECRETS,
    ) -> None:
        self.settings = settings
        self._redactor = redactor
        self._headers: dict[str, str] = {}
        self._json_request_headers: dict[str, str] = {}
        self._request_headers: dict[str, str] = {}
        self._sample = SampleRows(sample) if isinstance(sample, list) else sample
        self._verdicts: dict[bytes, list[float] | tuple[str, str]] = {}  # predictions, or (reason, kind)
        self._next_batch = 0
        self._against_own_headers: dict[str, str] | None = None
        self._against_request_headers: dict[str, str] = {}
        # This process's request ids: `protocol.request_id_prefix(run id, "w<worker>")` and a counter,
        # made at the first id ("": the run has no id). Per request only an f-string of the two, inline
        # (a method call more per id doubled its cost: bench/request_ids.py).
        self._id_prefix: str | None = None
        self._id_count = itertools.count().__next__
        self.replace_auth_headers(headers)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ChildContext:
        """The run the parent described in this process's environment (protocol.RunSettings plus
        the secret headers); ProtocolError (one line, never quoting the secret) if malformed."""
        headers = protocol.decode_auth_headers(environ.get(protocol.ENV_AUTH_HEADERS, ""))
        run = cls(RunSettings.from_env(environ), headers)
        against = environ.get(protocol.ENV_AGAINST_AUTH_HEADERS)
        if against:
            run.replace_against_headers(protocol.decode_auth_headers(against, protocol.ENV_AGAINST_AUTH_HEADERS))
        return run

    @property
    def configured(self) -> bool:
        """Whether this process knows its run (a remote worker learns it from its master)."""
        return self.settings.configured

    @property
    def scoring_uri(self) -> str:
        """The full scoring URI of the target."""
        if not self.settings.scoring_uri:
            raise RuntimeError(
                f"{protocol.setting_env('scoring_uri')} is not set: this locustfile must run under pytest-aksload"
            )
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

    @property
    def sample(self) -> SampleRows:
        """The sample rows the test was given, with their expected predictions and labels (loaded once)."""
        if self._sample is None:
            path = self.settings.rows_file
            if not path:
                raise RuntimeError(
                    f"{protocol.setting_env('rows_file')} is not set: this locustfile must run under pytest-aksload"
                )
            try:
                self._sample = protocol.decode_rows_file(Path(path).read_text(encoding="utf-8"))
            except OSError as exc:
                raise RuntimeError(f"cannot read the sample rows from {path}: {exc}") from None
            except protocol.ProtocolError as exc:
                raise RuntimeError(f"{path}: {exc}") from None
        return self._sample

    def sample_rows(self) -> list[dict[str, Any]]:
        """The raw sample rows (one JSON object each) the test was given."""
        return self.sample.rows

    @cached_property
    def contract(self) -> Contract:
        """The test's contract (marker `contract=`, `--aks-contract`), loaded once."""
        try:
            return load_contract(self.settings.contract)
        except ContractError as exc:
            raise RuntimeError(str(exc)) from None

    @cached_property
    def batches(self) -> list[EncodedBatch]:
        """Every sample row in bodies of `batch` rows, encoded once with the contract."""
        return encode_batches(self.contract, self.sample.rows, self.settings.batch)

    def next_batch(self) -> EncodedBatch:
        """The next body to post (`.body`) and the sample rows it carries (`.rows`), in turn."""
        batches = self.batches
        batch = batches[self._next_batch % len(batches)]
        self._next_batch += 1
        return batch

    def request_id(self) -> str | None:
        """A fresh `x-ms-client-request-id` for one request (None when the run has no run id)."""
        prefix = self._id_prefix
        if prefix is None:
            prefix = self._start_request_ids()
        return f"{prefix}{self._id_count()}" if prefix else None

    def _start_request_ids(self) -> str:
        run_id = self.settings.run_id
        self._id_prefix = protocol.request_id_prefix(run_id, f"w{_worker_index()}") if run_id else ""
        return self._id_prefix

    def request_headers(self) -> dict[str, str]:
        """The contract's content type, the current auth headers and a fresh request id (a new
        dict per call: call it once per request)."""
        return self._with_request_id(self._request_headers)

    def auth_headers(self) -> dict[str, str]:
        """The headers that authorise a request now (a copy; refreshed tokens included)."""
        return dict(self._headers)

    def json_request_headers(self) -> dict[str, str]:
        """JSON content headers, the current auth headers and a fresh request id, for posting a row
        (a new dict per call: call it once per request)."""
        return self._with_request_id(self._json_request_headers)

    def stamped_request_headers(self) -> dict[str, str]:
        """`request_headers()` without a copy, for the packaged user: the shared dict (rebuilt only
        when a token refresh replaces the auth headers) with the next request id set in place.
        Only for a request sent at once: Locust copies the headers before its request can yield to
        another greenlet, which then sets its own id."""
        headers = self._request_headers
        prefix = self._id_prefix
        if prefix is None:
            prefix = self._start_request_ids()
        if prefix:
            headers[REQUEST_ID_HEADER] = f"{prefix}{self._id_count()}"
        return headers

    def _with_request_id(self, headers: dict[str, str]) -> dict[str, str]:
        request_id = self.request_id()
        return dict(headers) if request_id is None else {**headers, REQUEST_ID_HEADER: request_id}

    def replace_auth_headers(self, headers: Mapping[str, str]) -> None:
        """Use `headers` from now on (a token refresh); the replaced ones stay masked."""
        checked = protocol.checked_headers(headers, "auth headers are not an object of strings")
        self._redactor.remember_headers(checked)
        self._headers = checked
        self._json_request_headers = {**_JSON_HEADERS, **checked}
        content_type = self.contract.content_type if self.settings.configured else "application/json"
        self._request_headers = {"Content-Type": content_type, "Accept": "application/json", **checked}
        self._update_against_headers()

    def replace_against_headers(self, headers: Mapping[str, str]) -> None:
        """The other side's own headers (its own key); without them it uses the target's."""
        checked = protocol.checked_headers(headers, "auth headers are not an object of strings")
        self._redactor.remember_headers(checked)
        self._against_own_headers = checked
        self._update_against_headers()

    def _update_against_headers(self) -> None:
        if not self.settings.side_by_side:
            return
        if self._against_own_headers is not None:
            auth = self._against_own_headers
        else:  # the target's credential (refreshed tokens too), not its deployment
            auth = {name: value for name, value in self._headers.items() if name.lower() != DEPLOYMENT_HEADER}
        content = {name: value for name, value in self._request_headers.items() if name in ("Content-Type", "Accept")}
        deployment = self.settings.against_deployment
        self._against_request_headers = {
            **content, **auth, **({DEPLOYMENT_HEADER: deployment} if deployment else {})
        }  # fmt: skip

    def _request_to(self, side: str, batch: EncodedBatch, pair: _Pair | None = None) -> PlannedRequest:
        """`batch` for `side` (TARGET or AGAINST) with that side's URL, headers and deployment."""
        if side == TARGET:
            path = self.scoring_path
            headers = self._with_request_id(self._request_headers)
            return PlannedRequest(batch, TARGET, path, path, headers, self.settings.deployment, {}, pair)
        return PlannedRequest(batch, AGAINST, self.settings.against_uri or "", self.scoring_path,
                              self._with_request_id(self._against_request_headers), self.settings.against_deployment,
                              {SIDE_KEY: AGAINST}, pair)  # fmt: skip

    def request_plan(self, rng: random.Random | None = None) -> RequestPlan:
        """A plan for one user's requests (side by side: each batch to both sides); see `RequestPlan`."""
        return RequestPlan(self, rng or random.Random())

    def check_response(
        self, response: Any, rows: Sequence[int] | None = None, request: PlannedRequest | None = None
    ) -> list[float] | None:
        """Mark a Locust `catch_response=True` response as success or failure; return its predictions.

        Transport errors are passed on as the exception itself (so they are grouped as
        `connection`/`timeout`); an answer goes through the contract (`decode_predictions`: one
        finite prediction per row sent, statuses as their failure kinds) and, with
        `--aml-deployment`, the routing check. `rows`: the sample rows the request carried
        (`EncodedBatch.rows`); their predictions are then compared with the expected ones by the
        recorder. Credential values are masked in every reason. `request`: the `PlannedRequest`
        the response answers (its rows, its side's routing check, the pair's agreement).
        """
        if request is not None:
            rows = request.batch.rows
            predictions = self._check(response, rows, request.deployment)
            if request.pair is not None:
                self._pair_answered(response, request.pair, predictions)
            return predictions
        return self._check(response, rows, self.settings.deployment)

    def _check(self, response: Any, rows: Sequence[int] | None, deployment: str | None) -> list[float] | None:
        error = getattr(response, "error", None)
        status = getattr(response, "status_code", 0) or 0
        if not status and isinstance(error, BaseException):
            response.failure(error)
            return None
        try:
            body = response.content
        except Exception as exc:  # the body read itself failed (e.g. timed out after the headers)
            response.failure(exc)
            return None
        count = self.settings.batch if rows is None else len(rows)
        headers = getattr(response, "headers", None)
        if headers is None:  # not `or {}`: geventhttpclient's Headers count themselves in Python for bool()
            headers = {}
        try:
            if deployment:
                check_routing(headers, deployment)
            predictions = self._decode(status, headers, body, count)
        except ContractError as exc:
            _request_context(response)[FAILURE_KIND_KEY] = exc.kind
            response.failure(self.redact(exc.reason))
            return None
        response.success()
        if rows is not None:
            _request_context(response)[PREDICTIONS_KEY] = (rows, predictions)
        return predictions

    def _pair_answered(self, response: Any, pair: _Pair, predictions: list[float] | None) -> None:
        pair.answered += 1
        if pair.answered == 1:
            pair.predictions = predictions
        elif pair.predictions is not None and predictions is not None:
            tolerance = self.settings.tolerance
            differences = [abs(a - b) for a, b in zip(pair.predictions, predictions, strict=False)]
            agreeing = sum(difference <= tolerance for difference in differences)
            _request_context(response)[AGREEMENT_KEY] = (len(differences), agreeing, max(differences, default=0.0))

    def _decode(self, status: int, headers: Mapping[str, str], body: Any, count: int) -> list[float]:
        # Only a built-in contract's 200 is a pure function of the body (a user's may read headers).
        memo = status == 200 and type(body) is bytes and len(body) <= _MEMO_MAX_BODY and self._builtin
        if memo:
            known = self._verdicts.get(body)
            if known is not None:
                if isinstance(known, tuple):  # a fresh error each time: re-raising one would grow its traceback
                    raise ContractError(*known)
                if len(known) == count:
                    return known
        try:
            predictions = decode_predictions(self.contract, status, headers, body, count)
        except ContractError as exc:
            if memo and len(self._verdicts) < _MEMO_MAX_ENTRIES and "predictions for" not in exc.reason:
                self._verdicts[body] = (exc.reason, exc.kind)
            raise
        if memo and len(self._verdicts) < _MEMO_MAX_ENTRIES:
            self._verdicts[body] = predictions
        return predictions

    @cached_property
    def _builtin(self) -> bool:
        return self.settings.contract in BUILTIN_CONTRACTS

    def redact(self, text: str) -> str:
        """`text` with every credential value this process held (and bare tokens) masked."""
        return self._redactor(text)

    def describe_failure(self, exception: BaseException) -> str:
        """One-line, bounded, redacted text of a failed request's exception."""
        return self.redact(describe_exception(exception))


class RequestPlan:
    """One user's requests, in turn. Alone, each is the next batch to the target. Side by side, each
    batch goes to both sides, one after the other in a random order per batch: both see the same
    payloads at nearly the same moments (shared noise cancels out), each gets half the requests,
    and the two answers of a batch are compared row by row (`agreement`)."""

    def __init__(self, run: ChildContext, rng: random.Random) -> None:
        self._run = run
        self._rng = rng
        self._second: tuple[EncodedBatch, str, _Pair] | None = None

    def next(self) -> PlannedRequest:
        run = self._run
        if not run.settings.side_by_side:
            return run._request_to(TARGET, run.next_batch())
        if self._second is not None:
            (batch, side, pair), self._second = self._second, None
        else:
            batch, pair = run.next_batch(), _Pair()
            side = TARGET if self._rng.random() < 0.5 else AGAINST
            self._second = (batch, AGAINST if side == TARGET else TARGET, pair)
        return run._request_to(side, batch, pair)


def request_ids_of(response: Any) -> tuple[str | None, str | None]:
    """A finished request's `(x-ms-client-request-id it carried, the server's x-request-id)`, read
    from the Locust response (FastHttpUser's or HttpUser's); None for what is not there."""
    sent = getattr(getattr(response, "request", None), "headers", None)
    answer = getattr(response, "headers", None)
    try:
        ours = None if sent is None else header(sent, REQUEST_ID_HEADER)
        theirs = None if answer is None else header(answer, SERVER_REQUEST_ID_HEADER)
    except Exception:  # a custom client's odd headers object must not break the recording
        return None, None
    return ours, theirs


def _request_context(response: Any) -> dict[str, Any]:
    """The request's context dict, which Locust hands to the `request` event (the recorder reads it)."""
    meta = getattr(response, "request_meta", None)
    context = meta.get("context") if isinstance(meta, dict) else None
    if context is None:
        context = {}
        if isinstance(meta, dict):
            meta["context"] = context
    return context


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


# --- shortcuts for locustfiles (documented in docs/reference.md) -------------------------------------------
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
    """JSON content headers, the current auth headers and a fresh request id (call once per request)."""
    return context().json_request_headers()


def sample_rows() -> list[dict[str, Any]]:
    """The raw sample rows (one JSON object each) the test was given."""
    return context().sample_rows()


def next_batch() -> EncodedBatch:
    """The next body to post (`.body`, encoded with the test's contract) and its rows (`.rows`)."""
    return context().next_batch()


def request_headers() -> dict[str, str]:
    """The contract's content type, the current auth headers and a fresh request id (call once per request)."""
    return context().request_headers()


def request_id() -> str | None:
    """A fresh `x-ms-client-request-id` for one request (None when the run has no run id)."""
    return context().request_id()


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
    # The stdlib's `ssl`: in the Locust child (the only process that calls this) Locust has already
    # gevent-patched it, so this is gevent's SSLContext, as geventhttpclient's own default is.
    return ssl.create_default_context(cafile=context().ca_bundle or cafile)


def check_response(
    response: Any, rows: Sequence[int] | None = None, request: PlannedRequest | None = None
) -> list[float] | None:
    """Mark a Locust `catch_response=True` response as success or failure with the test's contract
    and return its predictions; pass `rows=batch.rows` (or `request=` a `PlannedRequest`) to have
    them checked (see `ChildContext`)."""
    return context().check_response(response, rows, request)


def request_plan() -> RequestPlan:
    """A plan for one user's requests: call it in `on_start`, then `plan.next()` per request (side by
    side, each batch goes to both sides; see `RequestPlan`)."""
    return context().request_plan()


def redact(text: str) -> str:
    """`text` with every credential value (and bare token) replaced by `***`."""
    return context().redact(text)
