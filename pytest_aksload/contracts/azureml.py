"""`azureml`, the default contract: an Azure ML scoring script's `{"result": ...}`.

One row is sent as the flat JSON object (the notebook's `lightgbm-criteo` service), several as a
JSON list of such objects. The answer is `{"result": p}` or `{"result": [p, ...]}`, every `p` a
probability in [0, 1], plain or double-encoded as a JSON string (scoring scripts that
`json.dumps` their return value, which the server encodes again). A 200 whose body is an error
(`{"error": ...}` or a bare string, as the notebook's script sent) is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aksload.contracts.base import ContractError, dump_json, is_finite_number, parse_json, reason
from pytest_aksload.contracts.status import check_status


class AzureMLContract:
    """Rows as flat JSON objects, predictions from `{"result": ...}` (see the module docstring)."""

    name = "azureml"
    content_type = "application/json"

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        return dump_json(rows[0] if len(rows) == 1 else list(rows))

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> list[float]:
        check_status(status, headers, body)
        data = parse_json(body)
        if isinstance(data, str):
            # Double-encoded JSON is a valid form; any other string is an error message sent with 200.
            try:
                data = json.loads(data)
            except ValueError:
                raise ContractError(reason("error in 200 response", data)) from None
            if isinstance(data, str):
                raise ContractError(reason("error in 200 response", data))
        if not isinstance(data, dict):
            raise ContractError(reason('no "result" in response', json.dumps(data)))
        error = data.get("error")
        if error:
            raise ContractError(reason("error in 200 response", error if isinstance(error, str) else json.dumps(error)))
        if "result" not in data:
            raise ContractError(reason('no "result" in response', json.dumps(data)))
        result = data["result"]
        values = result if isinstance(result, list) else [result]
        if not values or not all(_is_probability(v) for v in values):
            raise ContractError(reason("result is not a probability", json.dumps(result)[:240]))
        return [float(v) for v in values]


def _is_probability(value: Any) -> bool:
    return is_finite_number(value) and 0.0 <= value <= 1.0
