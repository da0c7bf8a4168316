"""Every built-in contract's request bodies and response decoding, the shared rules (status
kinds, one finite number per row, NaN as null) and Azure ML's own failure codes."""

from __future__ import annotations

import json
import math

import pytest

from pytest_aksload.contracts import (
    BUILTIN_CONTRACTS,
    ContractError,
    check_routing,
    decode_predictions,
    dump_json,
    encode_batches,
    failure_kind_of_status,
    load_contract,
)
from pytest_aksload.contracts.base import MAX_REASON_CHARS
from pytest_aksload.contracts.open_inference import OpenInferenceContract

ROWS = [
    {"int00": 1, "x": 0.5, "cat00": "68fd1e64", "flag": True},
    {"int00": None, "x": math.nan, "cat00": None, "flag": False},
]


def _error(call) -> ContractError:
    with pytest.raises(ContractError) as info:
        call()
    assert "\n" not in info.value.reason and len(info.value.reason) <= MAX_REASON_CHARS
    return info.value


# --- azureml (the default: today's behaviour) ---------------------------------------------------


def test_azureml_one_row_is_the_flat_object_and_several_a_list() -> None:
    contract = load_contract("azureml")
    assert json.loads(contract.encode(ROWS[:1])) == ROWS[0]
    assert json.loads(contract.encode(ROWS)) == [ROWS[0], {"int00": None, "x": None, "cat00": None, "flag": False}]
    assert contract.content_type == "application/json"


AZUREML_VALID = [
    (b'{"result": 0.42}', [0.42]),
    (b'{"result": [0, 1]}', [0.0, 1.0]),
    (json.dumps(json.dumps({"result": [0.3, 0.7]})).encode(), [0.3, 0.7]),
    (b'{"result": 0.5, "error": null}', [0.5]),
]


@pytest.mark.parametrize(("body", "predictions"), AZUREML_VALID)
def test_azureml_decodes_plain_and_double_encoded_results(body: bytes, predictions: list[float]) -> None:
    assert load_contract("azureml").decode(200, {}, body) == predictions


# The reason phrases of contracts/validation.py, kept so reports and groups read the same.
AZUREML_INVALID = [
    (500, b"Internal Server Error", "HTTP 500: Internal Server Error", "http"),
    (200, b"", "empty response body", "validation"),
    (200, b"<html>oops</html>", "response is not JSON: <html>oops</html>", "validation"),
    (
        200,
        json.dumps("Error: could not convert").encode(),
        "error in 200 response: Error: could not convert",
        "validation",
    ),
    (200, b'{"error": "model not loaded"}', "error in 200 response: model not loaded", "validation"),
    (200, b'{"score": 0.5}', 'no "result" in response: {"score": 0.5}', "validation"),
    (200, b"[0.5]", 'no "result" in response: [0.5]', "validation"),
    (200, b'{"result": 1.5}', "result is not a probability: 1.5", "validation"),
    (200, b'{"result": null}', "result is not a probability: null", "validation"),
    (200, b'{"result": NaN}', "result is not a probability: NaN", "validation"),
    (200, b'{"result": []}', "result is not a probability: []", "validation"),
    (200, json.dumps(json.dumps(json.dumps({"result": 0.1}))).encode(), "error in 200 response", "validation"),
]


@pytest.mark.parametrize(("status", "body", "reason", "kind"), AZUREML_INVALID)
def test_azureml_failures_keep_their_reasons(status: int, body: bytes, reason: str, kind: str) -> None:
    error = _error(lambda: load_contract("azureml").decode(status, {}, body))
    assert error.reason.startswith(reason) and error.kind == kind


# --- mlflow and azureml-mlflow -------------------------------------------------------------------


def test_mlflow_sends_dataframe_split_with_nulls() -> None:
    body = json.loads(load_contract("mlflow").encode(ROWS))
    assert body == {
        "dataframe_split": {
            "columns": ["int00", "x", "cat00", "flag"],
            "data": [[1, 0.5, "68fd1e64", True], [None, None, None, False]],
        }
    }


def test_mlflow_decodes_predictions_and_one_column_frames() -> None:
    contract = load_contract("mlflow")
    assert contract.decode(200, {}, b'{"predictions": [0.25, 1]}') == [0.25, 1.0]
    assert contract.decode(200, {}, b'{"predictions": [{"score": 0.25}, [0.5]]}') == [0.25, 0.5]
    assert _error(lambda: contract.decode(200, {}, b"[0.25]")).reason.startswith("no predictions in response")
    assert _error(lambda: contract.decode(200, {}, b'{"predictions": 0.2}')).reason.startswith(
        "predictions is not a list"
    )
    assert _error(lambda: contract.decode(200, {}, b'{"predictions": ["yes"]}')).reason == (
        'prediction is not a number: "yes"'
    )
    assert _error(lambda: contract.decode(200, {}, b'{"predictions": [[0.1, 0.9]]}')).reason.startswith(
        "prediction is not a number: [0.1, 0.9]"
    )
    error = _error(lambda: contract.decode(400, {}, b'{"error_code": "BAD_REQUEST", "message": "bad"}'))
    assert error.reason.startswith("HTTP 400: ") and "BAD_REQUEST" in error.reason and error.kind == "http"


def test_azureml_mlflow_sends_input_data_with_an_index() -> None:
    body = json.loads(load_contract("azureml-mlflow").encode(ROWS))
    assert body["input_data"]["index"] == [0, 1]
    assert body["input_data"]["columns"] == ["int00", "x", "cat00", "flag"]
    assert body["input_data"]["data"][1] == [None, None, None, False]


def test_azureml_mlflow_accepts_a_list_or_predictions() -> None:
    contract = load_contract("azureml-mlflow")
    assert contract.decode(200, {}, b"[0.1, 0.2]") == [0.1, 0.2]
    assert contract.decode(200, {}, b'{"predictions": [0.3]}') == [0.3]
    assert _error(lambda: contract.decode(200, {}, b'{"result": 0.3}')).reason.startswith(
        'no predictions in response (expected a JSON list or "predictions")'
    )


def test_rows_with_different_keys_keep_columns_aligned() -> None:
    body = json.loads(load_contract("mlflow").encode([{"a": 1}, {"b": 2, "a": 3}]))
    assert body["dataframe_split"] == {"columns": ["a", "b"], "data": [[1, None], [3, 2]]}


# --- open-inference (V2) --------------------------------------------------------------------------


def test_open_inference_sends_one_tensor_per_column_as_mlservers_pandas_codec() -> None:
    body = json.loads(OpenInferenceContract().encode(ROWS))
    assert body["parameters"] == {"content_type": "pd"}
    tensors = {t["name"]: t for t in body["inputs"]}
    assert tensors["int00"] == {"name": "int00", "shape": [2, 1], "datatype": "FP64", "data": [1, None]}
    assert tensors["x"]["datatype"] == "FP64" and tensors["x"]["data"] == [0.5, None]
    assert tensors["cat00"] == {
        "name": "cat00",
        "shape": [2, 1],
        "datatype": "BYTES",
        "parameters": {"content_type": "str"},
        "data": ["68fd1e64", None],
    }
    assert tensors["flag"]["datatype"] == "BOOL"


def test_open_inference_integers_and_a_column_missing_in_one_request() -> None:
    contract = OpenInferenceContract()
    first = json.loads(contract.encode([{"n": 3, "c": "a"}]))
    assert [t["datatype"] for t in first["inputs"]] == ["INT64", "BYTES"]
    second = json.loads(contract.encode([{"n": None, "c": None}]))
    assert [t["datatype"] for t in second["inputs"]] == ["INT64", "BYTES"]  # the type seen before
    assert json.loads(OpenInferenceContract().encode([{"n": None}]))["inputs"][0]["datatype"] == "FP64"


def _outputs(*tensors: dict) -> bytes:
    return json.dumps({"model_name": "m", "outputs": list(tensors)}).encode()


def test_open_inference_picks_the_prediction_tensor() -> None:
    one = {"name": "out", "shape": [2, 1], "datatype": "FP64", "data": [0.1, 0.2]}
    predict = {"name": "predict", "shape": [2], "datatype": "FP32", "data": [0.3, 0.4]}
    proba = {"name": "proba", "shape": [2, 2], "datatype": "FP32", "data": [[0.7, 0.3], [0.6, 0.4]]}
    assert OpenInferenceContract().decode(200, {}, _outputs(one)) == [0.1, 0.2]
    assert OpenInferenceContract().decode(200, {}, _outputs(proba, predict)) == [0.3, 0.4]
    assert OpenInferenceContract(output="out").decode(200, {}, _outputs(predict, one)) == [0.1, 0.2]
    error = _error(lambda: OpenInferenceContract().decode(200, {}, _outputs(proba, one)))
    assert error.reason == "no output 'predict' in response: outputs are ['proba', 'out']"
    assert _error(lambda: OpenInferenceContract().decode(200, {}, _outputs(proba))).reason == (
        "output 'proba' has shape [2, 2]: not one value per row"
    )
    bad_shape = {"name": "predict", "shape": [3], "datatype": "FP32", "data": [0.3, 0.4]}
    assert _error(lambda: OpenInferenceContract().decode(200, {}, _outputs(bad_shape))).reason == (
        "output 'predict' has shape [3] but 2 values"
    )
    assert _error(lambda: OpenInferenceContract().decode(200, {}, b'{"result": 1}')).reason.startswith(
        'no "outputs" in response'
    )


# --- shared rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILTIN_CONTRACTS))
def test_every_contract_round_trips_through_decode_predictions(name: str) -> None:
    contract = load_contract(name)
    body = contract.encode(ROWS)
    json.loads(body)  # valid JSON: NaN became null
    assert b"NaN" not in body
    answers = {
        "azureml": b'{"result": [0.1, 0.9]}',
        "mlflow": b'{"predictions": [0.1, 0.9]}',
        "azureml-mlflow": b"[0.1, 0.9]",
        "open-inference": _outputs({"name": "predict", "shape": [2, 1], "datatype": "FP64", "data": [0.1, 0.9]}),
    }
    assert decode_predictions(contract, 200, {}, answers[name], rows=2) == [0.1, 0.9]
    error = _error(lambda: decode_predictions(contract, 200, {}, answers[name], rows=3))
    assert error.reason == "2 predictions for 3 rows sent" and error.kind == "validation"


def test_dump_json_writes_null_for_nan_and_infinity_and_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    assert dump_json({"a": math.inf, "b": [math.nan, 1.5], "c": np.int64(3), "d": np.float32(math.nan)}) == (
        b'{"a":null,"b":[null,1.5],"c":3,"d":null}'
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (0, "connection"),
        (None, "connection"),
        (408, "timeout"),
        (424, "model"),
        (429, "throttling"),
        (503, "throttling"),
        (500, "http"),
        (404, "http"),
        (201, "http"),
    ],
)
def test_failure_kind_of_status(status: int | None, kind: str | None) -> None:
    assert failure_kind_of_status(status) == kind


def test_azureml_status_codes_fail_with_their_own_kinds() -> None:
    contract = load_contract("mlflow")
    timeout = _error(lambda: decode_predictions(contract, 408, {}, b"request timed out", rows=1))
    assert (timeout.kind, timeout.reason) == ("timeout", "HTTP 408: request timed out")
    headers = {"MS-AzureML-Model-Error-StatusCode": "500", "ms-azureml-model-error-reason": "model_error"}
    model = _error(lambda: decode_predictions(contract, 424, headers, b"upstream failed", rows=1))
    assert (model.kind, model.reason) == ("model", "HTTP 424: model answered 500: model_error")
    bare = _error(lambda: decode_predictions(contract, 424, {}, b"upstream failed", rows=1))
    assert bare.reason == "HTTP 424: upstream failed"
    throttled = _error(lambda: decode_predictions(contract, 429, {}, b"", rows=1))
    assert (throttled.kind, throttled.reason) == ("throttling", "HTTP 429")


def test_routing_names_both_deployments() -> None:
    check_routing({"azureml-model-deployment": "blue"}, "blue")
    check_routing({}, "blue")  # a plain scoring URI sends no such header
    error = _error(lambda: check_routing({"Azureml-Model-Deployment": "green"}, "blue"))
    assert (error.kind, error.reason) == ("routing", "answered by deployment 'green', not 'blue'")


def test_azure_mls_404_for_a_deployment_it_cannot_route_to_is_a_routing_failure() -> None:
    body = b'{"message": "No valid deployments to route to. Please check that the endpoint has a deployment"}'
    missing = _error(lambda: decode_predictions(load_contract("azureml"), 404, {}, body, rows=1))
    assert missing.kind == "routing" and "No valid deployments to route to" in missing.reason
    other = _error(lambda: decode_predictions(load_contract("azureml"), 404, {}, b"not found", rows=1))
    assert other.kind == "http"


def test_decode_predictions_holds_user_contracts_to_the_rules() -> None:
    class Loose:
        name = "loose"
        content_type = "application/json"

        def __init__(self, answer):
            self.answer = answer

        def encode(self, rows):
            return b"{}"

        def decode(self, status, headers, body):
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    assert decode_predictions(Loose((1, 2)), 200, {}, b"", rows=2) == [1.0, 2.0]
    assert _error(lambda: decode_predictions(Loose([math.nan]), 200, {}, b"", rows=1)).reason == (
        "prediction is not a number: nan"
    )
    assert _error(lambda: decode_predictions(Loose([True]), 200, {}, b"", rows=1)).reason.startswith(
        "prediction is not a number"
    )
    assert _error(lambda: decode_predictions(Loose(0.5), 200, {}, b"", rows=1)).reason == (
        "contract loose returned no list: 0.5"
    )
    crash = _error(lambda: decode_predictions(Loose(KeyError("scores")), 200, {}, b"", rows=1))
    assert crash.reason == "contract loose failed: KeyError: 'scores'" and crash.kind == "validation"
    long = _error(lambda: decode_predictions(Loose(ContractError("bad\n" * 200)), 200, {}, b"", rows=1))
    assert long.reason.startswith("bad bad")
    # the status is checked before a user contract sees the body
    assert _error(lambda: decode_predictions(Loose([0.5]), 500, {}, b"boom", rows=1)).kind == "http"


# --- batches -----------------------------------------------------------------------------------


def test_encode_batches_cuts_the_sample_into_equal_requests() -> None:
    rows = [{"i": i} for i in range(5)]
    singles = encode_batches(load_contract("azureml"), rows)
    assert [b.rows for b in singles] == [(0,), (1,), (2,), (3,), (4,)]
    assert json.loads(singles[3].body) == {"i": 3}
    pairs = encode_batches(load_contract("mlflow"), rows, batch=2)
    assert [b.rows for b in pairs] == [(0, 1), (2, 3), (4, 0)]  # the last wraps: every request has 2 rows
    assert json.loads(pairs[2].body)["dataframe_split"]["data"] == [[4], [0]]
    assert [b.rows for b in encode_batches(load_contract("azureml"), rows[:2], batch=3)] == [(0, 1, 0)]


@pytest.mark.parametrize("batch", [0, -1, 1.5, True, "2"])
def test_encode_batches_rejects_a_batch_that_is_not_a_positive_integer(batch: object) -> None:
    with pytest.raises(ValueError, match=r"^batch must be a positive integer \(rows per request\), not "):
        encode_batches(load_contract("azureml"), [{"a": 1}], batch)  # type: ignore[arg-type]
