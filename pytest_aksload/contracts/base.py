"""What a contract is, the one error it raises, and the JSON and prediction rules every contract shares.

A contract turns sample rows into a request body and a response into predictions, one per row
sent. Both processes use contracts: the pytest process for pre-flight, the Locust child for every
response, so this module is stdlib only and cheap to import (no pandas, no numpy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

MAX_REASON_CHARS = 120


class ContractError(ValueError):
    """A response that is not what the contract expects, or a contract that cannot be used.

    `reason` is one line. For a response it starts with a stable phrase (e.g. `HTTP 500`,
    `response is not JSON`, `2 predictions for 3 rows sent`) and is at most `MAX_REASON_CHARS`
    characters, so failures group well, and `kind` is the failure kind it counts as (see
    `contracts.status.FAILURE_KINDS`); `kind` is `usage` when the contract itself cannot be loaded.
    """

    def __init__(self, reason: str, kind: str = "validation") -> None:
        self.reason = " ".join(reason.split()) if "\n" in reason or "\r" in reason else reason
        self.kind = kind
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


@runtime_checkable
class Contract(Protocol):
    """How rows become a request body and a response becomes predictions.

    `encode` gets the rows of one request (a batch of one or more; JSON-ready values, None for
    missing) and returns the body. `decode` gets the HTTP status, the response headers and the
    body and returns one finite number per row sent, or raises `ContractError`.
    """

    name: str
    content_type: str

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> bytes: ...

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> list[float]: ...


def dump_json(value: Any) -> bytes:
    """Compact JSON bytes of `value`; NaN and infinities become null (JSON has no NaN), numpy
    scalars become Python numbers. The fast path is one `json.dumps`; only a body that has a
    non-finite float pays for the rewrite."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_json_default).encode()
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    # numpy scalars (int64, float32, bool_) know their Python value; dates their ISO form.
    if hasattr(value, "item"):
        return _finite(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def column_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of `rows` in first-seen order (rows of one sample share their keys; the union
    keeps a row that lacks one as null rather than shifting the others)."""
    columns = list(rows[0]) if rows else []
    seen = set(columns)
    for row in rows[1:]:
        if len(row) != len(columns) or any(key not in seen for key in row):
            for key in row:
                if key not in seen:
                    seen.add(key)
                    columns.append(key)
    return columns


def parse_json(body: bytes | str | None) -> Any:
    """The JSON value of a 200 response body, or `ContractError` saying why there is none."""
    try:
        # bytes.decode is C; json.loads(bytes) would detect the encoding in Python first.
        return json.loads(body.decode() if type(body) is bytes else body)
    except (ValueError, TypeError):
        text = body_text(body)
        if not text.strip():
            raise ContractError("empty response body") from None
        raise ContractError(reason("response is not JSON", text)) from None


def as_number(value: Any) -> float:
    """`value` as a finite float, unwrapping a one-element list or one-key object (a model that
    answers `[p]` or `{"score": p}` per row); `ContractError` otherwise."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    elif isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if is_finite_number(value):
        return float(value)
    raise ContractError(reason("prediction is not a number", json.dumps(value)))


def is_finite_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    if type(value) is float:  # the common case first; `v - v` is NaN for NaN and infinities
        return value - value == 0.0
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_count(predictions: list[float], rows: int) -> list[float]:
    """`predictions` when there is one per row sent, else `ContractError`."""
    if len(predictions) != rows:
        raise ContractError(f"{len(predictions)} predictions for {rows} rows sent")
    return predictions


def body_text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body).decode("utf-8", errors="replace")
    return body


def reason(prefix: str, detail: str) -> str:
    """`prefix: detail` on one line, bounded; the detail is cut first so a megabyte body costs nothing."""
    detail = detail[: MAX_REASON_CHARS * 2]
    return bounded(f"{prefix}: {detail}" if detail.strip() else prefix)


def bounded(text: str) -> str:
    """`text` on one line, cut to `MAX_REASON_CHARS` characters."""
    text = " ".join(text[: MAX_REASON_CHARS * 2].split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
