"""The expected predictions of `--aks-local` are what the running local service answers: the same
rows through the real azmlinfsrv (one row per request, and batches in the `azureml` contract)
and through `shipped_model_predictions` in this process agree within 1e-9."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from pytest_aksload.contracts import decode_predictions, encode_batches, load_contract
from pytest_aksload.data import criteo

pytest.importorskip("azureml_inference_server_http")
pytest.importorskip("lightgbm")

from pytest_aksload.local import LocalService  # noqa: E402
from pytest_aksload.local.expected import shipped_model_predictions  # noqa: E402

ROWS = 60
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    with LocalService() as svc:
        yield svc


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    sample = criteo.payloads(criteo.load_sample(nrows=ROWS))
    # Beyond the sample: a category the model never saw, and a row with every feature missing.
    return [*sample, {**sample[0], "cat00": "never-seen"}, dict.fromkeys(criteo.FEATURE_COLUMNS)]


def served(service: LocalService, rows: list[dict[str, object]], batch: int) -> list[float]:
    """The service's predictions for `rows`, sent `batch` rows per request as the Locust child does."""
    contract = load_contract("azureml")
    predictions = [0.0] * len(rows)
    headers = {"Authorization": f"Bearer {service.key}", "Content-Type": contract.content_type}
    for encoded in encode_batches(contract, rows, batch):
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
        try:
            connection.request("POST", "/score", body=encoded.body, headers=headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        decoded = decode_predictions(contract, response.status, dict(response.getheaders()), body, len(encoded.rows))
        for row, prediction in zip(encoded.rows, decoded, strict=True):
            predictions[row] = prediction
    return predictions


@pytest.mark.parametrize("batch", [1, 7, ROWS + 2], ids=["single-rows", "batches-of-7", "one-batch"])
def test_expected_predictions_equal_the_service(
    service: LocalService, rows: list[dict[str, object]], batch: int
) -> None:
    expected = shipped_model_predictions(rows)
    answered = served(service, rows, batch)
    assert answered == pytest.approx(expected, abs=TOLERANCE, rel=0)
    assert len(set(expected)) > 10  # a model that answers a constant would agree trivially
