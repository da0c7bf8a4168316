"""Azure ML entry script of the embedded local service: a Criteo LightGBM model behind key auth.

It is written the way a user would deploy one (``init()`` / ``run()`` for azmlinfsrv; the model
and its feature preparation live in ``shipped_model.py``, which ``--aks-local``'s expected
predictions share), and it does two things many real scripts get wrong:

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
import os
from pathlib import Path
from typing import Any

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

from pytest_aksload.local.shipped_model import RowError, ShippedModel, json_type

KEY_ENV = "AKSLOAD_LOCAL_KEY"

_model: ShippedModel | None = None
_key = b""


def init() -> None:
    global _model, _key
    # Popped so nothing else in this worker (user code, a debugger dump of os.environ) sees it.
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        raise RuntimeError(f"environment variable {KEY_ENV} is not set; refusing to serve without key auth")
    _key = key.encode("utf-8")
    _model = ShippedModel(Path(os.environ["AZUREML_MODEL_DIR"]))


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
    assert _model is not None
    try:
        rows, single = _rows(document)
        probabilities = _model.predict(rows)
    except RowError as exc:
        return _error(400, str(exc))
    result: float | list[float] = probabilities[0] if single else probabilities
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
            raise RowError(f"'data' must be a list of row objects, got {json_type(rows)}")
        single = False
    elif isinstance(document, dict):
        rows, single = [document], True
    elif isinstance(document, list):
        rows, single = document, False
    else:
        raise RowError(
            f'expected a JSON object (one row), a list of rows or {{"data": [rows]}}, got {json_type(document)}'
        )
    if not rows:
        raise RowError("no rows to score: the list is empty")
    return rows, single
