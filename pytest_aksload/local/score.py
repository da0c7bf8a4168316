"""Azure ML entry script of the embedded local service: a Criteo LightGBM model behind key auth.

It is written the way a user would deploy one (``init()`` / ``run()`` for azmlinfsrv; the model
and its feature preparation live in ``shipped_model.py``, which ``--aks-local``'s expected
predictions share), and it does two things many real scripts get wrong:

- it uses ``@rawhttp`` so that it can answer with real HTTP statuses: 401 without the key, 405
  for anything but POST, 400 naming the problem for a bad body, never a 200 carrying an error
  string (a load test cannot see that failure);
- it checks ``Authorization: Bearer <key>`` itself, as AKS key auth does in front of a real
  deployment. The key comes from the server's environment (``AKSLOAD_SERVER_KEY``), never from
  argv or disk, and is never logged or echoed.

With ``AKSLOAD_SERVER_DEPLOYMENTS`` (from ``--aks-local-deployments``) it hosts several deployments
behind one endpoint, as an Azure ML managed online endpoint does: each deployment's model is loaded
once (deployments of the same file share it), a request goes to the deployment its
``azureml-model-deployment`` header names, or to the first one listed without the header (Azure
splits such traffic by weight; here the first is the live deployment), and every answer of a
deployment carries ``azureml-model-deployment: <name>``. A name that is no deployment gets Azure's
answer: 404 "No valid deployments to route to...". A deployment's extra latency is a sleep after
scoring, in the worker, which is exactly what a slower model does to a server: the worker is busy
for that long and other requests wait for a free one.

Request body: one row as a flat JSON object of the feature columns (``null`` = missing), a list
of such rows, or ``{"data": [rows]}``. Response: ``{"result": p}`` for one row,
``{"result": [p, ...]}`` for a list, ``p`` the probability of a click.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse

from pytest_aksload.config.local_deployments import LocalDeployment
from pytest_aksload.contracts.status import DEPLOYMENT_HEADER
from pytest_aksload.local.service import DEPLOYMENTS_ENV, KEY_ENV
from pytest_aksload.local.shipped_model import RowError, ShippedModel, json_type

# What Azure ML answers (HTTP 404) when it finds no deployment to route a request to.
NO_ROUTE_MESSAGE = (
    "No valid deployments to route to. Please check that the endpoint has at least one deployment "
    "with positive weight values or use a deployment specific header to route."
)


# A NamedTuple, not a dataclass: azmlinfsrv loads this script outside sys.modules, where
# dataclasses cannot resolve the module's annotations.
class _Deployment(NamedTuple):
    name: str | None  # None: the one deployment of a service without deployments, named nowhere
    model: ShippedModel
    latency_s: float = 0.0


# Name -> deployment, the first one listed first (it takes requests without the header).
_deployments: dict[str | None, _Deployment] = {}
_key = b""


def init() -> None:
    global _deployments, _key
    # Popped so nothing else in this worker (user code, a debugger dump of os.environ) sees it.
    key = os.environ.pop(KEY_ENV, "")
    if not key:
        raise RuntimeError(f"environment variable {KEY_ENV} is not set; refusing to serve without key auth")
    _key = key.encode("utf-8")
    model_dir = Path(os.environ["AZUREML_MODEL_DIR"])
    spec = os.environ.get(DEPLOYMENTS_ENV)
    if not spec:
        _deployments = {None: _Deployment(None, ShippedModel(model_dir))}
        return
    models: dict[str | None, ShippedModel] = {}
    for fields in json.loads(spec):
        deployment = LocalDeployment(**fields)
        if deployment.model not in models:
            model_file = None if deployment.model is None else Path(deployment.model)
            models[deployment.model] = ShippedModel(model_dir, model_file)
        _deployments[deployment.name] = _Deployment(deployment.name, models[deployment.model], deployment.latency_s)


@rawhttp
def run(request: Any) -> AMLResponse:
    # Auth before anything else, so an unauthenticated caller learns nothing about the API; Azure
    # checks it at the endpoint, before routing too.
    if not _authorized(request.headers.get("Authorization", "")):
        return _error(
            401, "missing or wrong key: send the header 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"}
        )
    deployment = _route(request.headers.get(DEPLOYMENT_HEADER, "").strip())
    if deployment is None:
        names = ", ".join(str(name) for name in _deployments)
        return _error(404, f"{NO_ROUTE_MESSAGE} (deployments of this local endpoint: {names})")
    answer = _score(request, deployment)
    if deployment.name is not None:
        answer.headers[DEPLOYMENT_HEADER] = deployment.name
    return answer


def _route(header: str) -> _Deployment | None:
    """The deployment a request goes to: the one its header names (None if there is none of that
    name), the first without the header."""
    if not header or None in _deployments:  # one unnamed deployment (no deployments configured) ignores the header
        return next(iter(_deployments.values()))
    return _deployments.get(header)


def _score(request: Any, deployment: _Deployment) -> AMLResponse:
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
        probabilities = deployment.model.predict(rows)
    except RowError as exc:
        return _error(400, str(exc))
    if deployment.latency_s:
        time.sleep(deployment.latency_s)  # a slower model: this worker is busy for that long
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
