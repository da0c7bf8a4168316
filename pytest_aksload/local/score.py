"""Azure ML entry script of the embedded local service: a Criteo LightGBM model behind key auth.

It is written the way a user would deploy one (``init()`` / ``run()`` for azmlinfsrv) and does
not import pytest_aksload, but it does two things many real scripts get wrong:

- it uses ``@rawhttp`` so that it can answer with real HTTP statuses: 401 without the key, 405
  for anything but POST, 400 naming the problem for a bad body, never a 200 carrying an error
  string (a load test cannot see that failure);
- it checks ``Authorization: Bearer <key>`` itself, as AKS key auth does in front of a real
  deployment. The key comes from the server's environment (``AKSLOAD_LOCAL_KEY``), never from
  argv or disk, and is never logged or echoed.

Request body: one row as a flat JSON object of the feature columns (``null`` = missing), a list
of such rows, or ``{"data": [rows]}``. Response: ``{"result": p}`` for one row,
``{"result": [p, ...]}`` for a list, ``p`` the probability of a click.
"""

from __future__ import annotations

import hmac
import json
import math
import os
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

KEY_ENV = "AKSLOAD_LOCAL_KEY"
MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"
MAX_NAMED_COLUMNS = 5

_booster: lgb.Booster | None = None
_key = b""
_int_columns: list[str] = []
_cat_columns: list[str] = []
# Per categorical column, value -> the integer code LightGBM was trained with (its position in
# the training vocabulary); anything else is missing, exactly as pandas `category` would do.
_cat_codes: list[dict[str, int]] = []


class BadRequest(ValueError):
    """The request body cannot be scored; the message says why in one line."""


def init() -> None:
    global _booster, _key, _int_columns, _cat_columns, _cat_codes
    # Popped so nothing else in this worker (user code, a debugger dump of os.environ) sees it.
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        raise RuntimeError(f"environment variable {KEY_ENV} is not set; refusing to serve without key auth")
    _key = key.encode("utf-8")

    model_dir = Path(os.environ["AZUREML_MODEL_DIR"])
    spec = json.loads((model_dir / FEATURES_FILE).read_text(encoding="utf-8"))
    _int_columns, _cat_columns = list(spec["int_columns"]), list(spec["cat_columns"])
    _booster = lgb.Booster(model_file=str(model_dir / MODEL_FILE))
    if _booster.feature_name() != _int_columns + _cat_columns:
        raise RuntimeError(f"{MODEL_FILE} and {FEATURES_FILE} in {model_dir} disagree on the feature columns")
    vocabularies = _booster.pandas_categorical or []
    if len(vocabularies) != len(_cat_columns):
        raise RuntimeError(f"{MODEL_FILE} in {model_dir} has no vocabulary for every categorical column")
    _cat_codes = [{value: code for code, value in enumerate(vocab)} for vocab in vocabularies]


@rawhttp
def run(request: Any) -> AMLResponse:
    # Auth before anything else, so an unauthenticated caller learns nothing about the API.
    if not _authorized(request.headers.get("Authorization", "")):
        return _error(
            401, "missing or wrong key: send the header 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"}
        )
    if request.method != "POST":
        return _error(405, 'POST a JSON row, a list of rows or {"data": [rows]} to score', {"Allow": "POST"})
    body = request.get_data()
    if not body.strip():
        return _error(400, 'request body is empty; expected a JSON row, a list of rows or {"data": [rows]}')
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return _error(400, f"request body is not valid JSON: {exc}")
    except RecursionError:
        return _error(400, "request body is nested too deeply")
    try:
        rows, single = _rows(document)
        matrix = _matrix(rows)
    except BadRequest as exc:
        return _error(400, str(exc))
    assert _booster is not None
    # One thread per request: concurrency comes from server workers, and OpenMP thread start-up
    # would dominate a one-row prediction.
    probabilities = _booster.predict(matrix, num_threads=1)
    result: float | list[float] = float(probabilities[0]) if single else [float(p) for p in probabilities]
    return AMLResponse({"result": result}, 200, json_str=True)


def _authorized(header: str) -> bool:
    scheme, _, token = header.strip().partition(" ")
    # Headers arrive decoded as latin-1, so this round-trips any byte a client sent.
    presented = token.strip().encode("latin-1", errors="replace")
    # compare_digest runs in time independent of where the strings differ.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented, _key)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> AMLResponse:
    return AMLResponse({"message": message}, status, headers or {}, json_str=True)


def _rows(document: Any) -> tuple[list[Any], bool]:
    """The rows to score and whether the body was a single row."""
    if isinstance(document, dict) and "data" in document:
        rows = document["data"]
        if not isinstance(rows, list):
            raise BadRequest(f"'data' must be a list of row objects, got {_json_type(rows)}")
        single = False
    elif isinstance(document, dict):
        rows, single = [document], True
    elif isinstance(document, list):
        rows, single = document, False
    else:
        raise BadRequest(
            f'expected a JSON object (one row), a list of rows or {{"data": [rows]}}, got {_json_type(document)}'
        )
    if not rows:
        raise BadRequest("no rows to score: the list is empty")
    return rows, single


def _matrix(rows: list[Any]) -> np.ndarray:
    """Rows as the float matrix the booster takes: ints as numbers, categoricals as their codes.

    NaN marks a missing value, including a category outside the training vocabulary.
    """
    n_int = len(_int_columns)
    matrix = np.full((len(rows), n_int + len(_cat_columns)), np.nan)
    for i, row in enumerate(rows):
        where = f"row {i}: " if len(rows) > 1 else ""
        if not isinstance(row, dict):
            raise BadRequest(f"{where}expected an object mapping feature names to values, got {_json_type(row)}")
        _check_columns(row, where)
        for j, name in enumerate(_int_columns):
            matrix[i, j] = _number(row[name], name, where)
        for j, name in enumerate(_cat_columns):
            value = row[name]
            if value is None:
                continue
            if not isinstance(value, str):
                raise BadRequest(f"{where}{name} must be a string or null, got {_json_type(value)} {_preview(value)}")
            code = _cat_codes[j].get(value)
            if code is not None:
                matrix[i, n_int + j] = code
    return matrix


def _check_columns(row: dict[str, Any], where: str) -> None:
    missing = [name for name in _int_columns + _cat_columns if name not in row]
    if missing:
        named = ", ".join(missing[:MAX_NAMED_COLUMNS])
        more = f" and {len(missing) - MAX_NAMED_COLUMNS} more" if len(missing) > MAX_NAMED_COLUMNS else ""
        raise BadRequest(f"{where}missing feature columns: {named}{more} (send null for a missing value)")


def _number(value: Any, name: str, where: str) -> float:
    if value is None:
        return math.nan
    # bool is an int subclass in Python, but true/false is not a count.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{where}{name} must be a number or null, got {_json_type(value)} {_preview(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise BadRequest(f"{where}{name} is too large: {_preview(value)}") from None
    if math.isinf(number):
        raise BadRequest(f"{where}{name} must be finite, got {_preview(value)}")
    return number  # NaN (Python's json accepts it) simply means missing


def _preview(value: Any, limit: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
