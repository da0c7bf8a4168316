"""A failed request's kind and its one-line description, for grouping failures in the result.

A response the contract refused carries its kind (`ContractError.kind`: an HTTP status's kind, or
`validation`, `routing`); a request that got no usable response is a `timeout` or `connection`
failure, recognised from the client's exception without importing the client library.
"""

from __future__ import annotations

from pytest_aksload.contracts.base import bounded
from pytest_aksload.contracts.status import failure_kind_of_status


def failure_kind(status: int | None, exception: BaseException | None = None, kind: str | None = None) -> str:
    """Which of `contracts.status.FAILURE_KINDS` a failed request belongs to.

    `kind` is what the contract said (it wins); `status` the HTTP status (0 or None when no
    response arrived, as Locust reports transport errors). A timeout exception wins over a status:
    the headers may have arrived before the body timed out.
    """
    if kind:
        return kind
    if exception is not None and is_timeout(exception):
        return "timeout"
    return failure_kind_of_status(status) or "validation"


def is_timeout(exception: BaseException) -> bool:
    """Whether `exception` is a timeout: `socket.timeout` is `TimeoutError`; gevent's `Timeout` and
    geventhttpclient's or requests' errors only say so by name or message."""
    if isinstance(exception, TimeoutError):
        return True
    if "timeout" in type(exception).__name__.lower():
        return True
    return "timed out" in str(exception).lower()


def describe_exception(exception: BaseException) -> str:
    """One-line, bounded text of a failure: the reason itself for a refused response (Locust wraps
    the reason string in `CatchResponseError`), `Type: message` otherwise."""
    message = bounded(str(exception))
    if type(exception).__name__ == "CatchResponseError" and message:
        return message
    return bounded(f"{type(exception).__name__}: {message}" if message else type(exception).__name__)
