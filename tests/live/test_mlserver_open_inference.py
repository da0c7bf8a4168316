"""The `open-inference` contract against the real MLServer (V2 protocol) with its LightGBM
runtime: one tensor per column in MLServer's pandas-codec shape goes in, the `predict` tensor
comes out and decodes to the model's own predictions, one per row.

Skips where mlserver/mlserver-lightgbm are not installed (the main environment); `.ci/run`
runs it in the MLServer environment. The server is bound to 127.0.0.1 and stopped at the end.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("mlserver", reason="mlserver is not installed here: .ci/run runs this in its MLServer environment")
pytest.importorskip("mlserver_lightgbm", reason="mlserver-lightgbm is not installed here")

from servers.criteo_model import ServedModel, sample_rows  # noqa: E402
from servers.mlserver_server import mlserver_server  # noqa: E402

from pytest_aksload.contracts import ContractError, decode_predictions, load_contract  # noqa: E402

CONTRACT = load_contract("open-inference")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    with mlserver_server(tmp_path_factory.mktemp("mlserver")) as model:
        yield model


def _post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": CONTRACT.content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_one_row_and_a_batch_decode_to_the_models_predictions(served: ServedModel) -> None:
    rows = sample_rows(64)
    assert any(value is None for row in rows for value in row.values())  # missing values go as null
    for batch in (rows[:1], rows[1:2], rows):
        status, headers, body = _post(served.url, CONTRACT.encode(batch))
        predictions = decode_predictions(CONTRACT, status, headers, body, rows=len(batch))
        assert predictions == pytest.approx(served.predict(batch), abs=1e-12)


def test_a_request_the_server_rejects_is_an_http_failure(served: ServedModel) -> None:
    body = json.dumps({"inputs": [{"name": "int00", "shape": [1], "datatype": "FP64", "data": ["x"]}]}).encode()
    status, headers, answer = _post(served.url, body)
    with pytest.raises(ContractError) as error:
        decode_predictions(CONTRACT, status, headers, answer, rows=1)
    assert error.value.kind == "http" and error.value.reason.startswith(f"HTTP {status}: ")
