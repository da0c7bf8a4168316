"""The MLflow contracts: `mlflow` (the MLflow scoring server) and `azureml-mlflow` (Azure ML's
no-code MLflow deployments).

- `mlflow`: `mlflow models serve` answers `POST /invocations` with body
  `{"dataframe_split": {"columns": [...], "data": [[...], ...]}}` and answers
  `{"predictions": [...]}`.
- `azureml-mlflow`: an Azure ML managed online endpoint with an MLflow model and no scoring
  script takes `{"input_data": {"columns": [...], "index": [...], "data": [[...], ...]}}` and
  answers a JSON list of predictions (newer images: `{"predictions": [...]}`).

A prediction is a number, or a one-element list or one-key object around one (a model whose
output is a one-column frame).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aksload.contracts.base import ContractError, as_number, column_order, dump_json, parse_json, reason
from pytest_aksload.contracts.status import check_status


def _split(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    columns = column_order(rows)
    return columns, [[row.get(column) for column in columns] for row in rows]


def _predictions(data: Any, accept_list: bool) -> list[float]:
    if isinstance(data, dict) and "predictions" in data:
        values = data["predictions"]
    elif accept_list and isinstance(data, list):
        values = data
    else:
        expected = 'a JSON list or "predictions"' if accept_list else '"predictions"'
        raise ContractError(reason(f"no predictions in response (expected {expected})", json.dumps(data)))
    if not isinstance(values, list):
        raise ContractError(reason("predictions is not a list", json.dumps(values)))
    return [as_number(value) for value in values]


class MlflowContract:
    """MLflow scoring server: `dataframe_split` in, `{"predictions": [...]}` out."""

    name = "mlflow"
    content_type = "application/json"

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        columns, data = _split(rows)
        return dump_json({"dataframe_split": {"columns": columns, "data": data}})

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> list[float]:
        check_status(status, headers, body)
        return _predictions(parse_json(body), accept_list=False)


class AzureMLMlflowContract:
    """Azure ML no-code MLflow deployment: `input_data` in, a JSON list (or `predictions`) out."""

    name = "azureml-mlflow"
    content_type = "application/json"

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        columns, data = _split(rows)
        return dump_json({"input_data": {"columns": columns, "index": list(range(len(rows))), "data": data}})

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> list[float]:
        check_status(status, headers, body)
        return _predictions(parse_json(body), accept_list=True)
