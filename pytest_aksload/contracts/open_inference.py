"""`open-inference`: the Open Inference (V2) protocol of KServe, Triton and MLServer.

The request carries one input tensor per column in the shape MLServer's pandas codec writes
(so MLServer rebuilds the frame, request parameter `content_type: "pd"`): `name` = the column,
`shape` = `[rows, 1]`, `datatype` from the values (`BOOL`, `INT64`, `FP64`; integers with a
missing value are `FP64`; text is `BYTES` with `content_type: "str"`), `data` = the values,
missing ones as null. A column that is missing in every row of a request keeps the type it had
in an earlier request of the same contract instance (else `FP64`).

The answer is `{"outputs": [{"name", "shape", "datatype", "data"}, ...]}`; the prediction tensor
is the output named by `OpenInferenceContract(output=...)`, else the only output, else the one
named `predict` (MLServer's name). It must hold one value per row (shape `[rows]` or `[rows, 1]`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aksload.contracts.base import ContractError, as_number, column_order, dump_json, parse_json, reason
from pytest_aksload.contracts.status import check_status

MLSERVER_OUTPUT = "predict"


class OpenInferenceContract:
    """V2 inference protocol: one tensor per column in, the prediction tensor out."""

    name = "open-inference"
    content_type = "application/json"

    def __init__(self, output: str | None = None) -> None:
        self.output = output
        self._datatypes: dict[str, str] = {}

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> bytes:
        inputs = []
        for column in column_order(rows):
            values = [row.get(column) for row in rows]
            datatype = _datatype(values) or self._datatypes.get(column, "FP64")
            self._datatypes[column] = datatype
            tensor: dict[str, Any] = {"name": column, "shape": [len(rows), 1], "datatype": datatype}
            if datatype == "BYTES":
                tensor["parameters"] = {"content_type": "str"}
                values = [v if v is None or isinstance(v, str) else str(v) for v in values]
            tensor["data"] = values
            inputs.append(tensor)
        return dump_json({"parameters": {"content_type": "pd"}, "inputs": inputs})

    def decode(self, status: int, headers: Mapping[str, str], body: bytes) -> list[float]:
        check_status(status, headers, body)
        data = parse_json(body)
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ContractError(reason('no "outputs" in response', json.dumps(data)))
        tensor = self._prediction_tensor(outputs)
        values = _flat(tensor.get("data"))
        shape = tensor.get("shape")
        if isinstance(shape, list) and shape and all(isinstance(d, int) for d in shape):
            if math.prod(shape) != len(values):
                raise ContractError(f"output {tensor.get('name')!r} has shape {shape} but {len(values)} values")
            if len(shape) > 1 and math.prod(shape[1:]) != 1:
                raise ContractError(f"output {tensor.get('name')!r} has shape {shape}: not one value per row")
        return [as_number(value) for value in values]

    def _prediction_tensor(self, outputs: list[dict[str, Any]]) -> dict[str, Any]:
        names = [output.get("name") for output in outputs]
        if self.output is None and len(outputs) == 1:
            return outputs[0]
        wanted = self.output or MLSERVER_OUTPUT
        for output in outputs:
            if output.get("name") == wanted:
                return output
        raise ContractError(reason(f"no output {wanted!r} in response", f"outputs are {names}"))


def _datatype(values: list[Any]) -> str | None:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64" if len(present) == len(values) else "FP64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ContractError(reason("output data is not a list", json.dumps(data)))
    if any(isinstance(v, list) for v in data):
        return [item for v in data for item in (_flat(v) if isinstance(v, list) else [v])]
    return data
