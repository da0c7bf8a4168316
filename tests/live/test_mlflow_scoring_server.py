"""The `mlflow` contract against the real MLflow scoring server serving a LightGBM model: the
decoded predictions are the model's own, and expectations from another model are mismatches.

Skips where mlflow/lightgbm are not installed (the main environment); `.ci/run` runs it in the
MLflow environment. The server is bound to 127.0.0.1 and stopped at the end of the module.
"""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="mlflow is not installed here: .ci/run runs this in its MLflow environment")
pytest.importorskip("lightgbm", reason="lightgbm is not installed here")

from servers.mlflow_server import ServedModel, mlflow_server, train_booster  # noqa: E402

from pytest_aksload.contracts import ContractError, decode_predictions, load_contract  # noqa: E402
from pytest_aksload.data.criteo import INT_COLUMNS, load_sample  # noqa: E402
from pytest_aksload.data.sample import load_rows, split_sample  # noqa: E402
from pytest_aksload.stats.correctness import CorrectnessTally  # noqa: E402

CONTRACT = load_contract("mlflow")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedModel]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as model:
        yield model


def _score(url: str, rows: list[dict]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, data=CONTRACT.encode(rows), headers={"Content-Type": CONTRACT.content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _sample(rows: int = 64) -> list[dict]:
    return split_sample(load_sample(nrows=rows)[INT_COLUMNS + ["label"]]).rows


def test_one_row_and_a_batch_decode_to_the_models_predictions(served: ServedModel) -> None:
    rows = _sample()
    assert any(value is None for row in rows for value in row.values())  # missing values go as null
    for batch in (rows[:1], rows):
        status, headers, body = _score(served.url, batch)
        predictions = decode_predictions(CONTRACT, status, headers, body, rows=len(batch))
        assert predictions == pytest.approx(served.predict(batch), abs=1e-12)


def test_expected_predictions_from_another_model_are_mismatches(served: ServedModel) -> None:
    rows = _sample()
    status, headers, body = _score(served.url, rows)
    predictions = decode_predictions(CONTRACT, status, headers, body, rows=len(rows))
    right, wrong = CorrectnessTally(), CorrectnessTally()
    other_model = train_booster(rounds=5, seed=2)
    import pandas as pd

    other = other_model.predict(pd.DataFrame(rows, columns=INT_COLUMNS).astype("float64"))
    for row, prediction in enumerate(predictions):
        right.add(row, prediction, served.predict(rows)[row])
        wrong.add(row, prediction, float(other[row]))
    assert right.mismatches == 0 and right.checked == len(rows)
    assert wrong.mismatch_rate > 0.9 and wrong.examples[0].row == 0


def test_a_csv_sample_with_the_models_predictions_as_expected(served: ServedModel, tmp_path: Path) -> None:
    rows = _sample(32)
    frame = load_sample(nrows=32)[INT_COLUMNS + ["label"]].assign(expected=served.predict(rows))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    sample = load_rows(tmp_path / "rows.csv")
    status, headers, body = _score(served.url, sample.rows)
    predictions = decode_predictions(CONTRACT, status, headers, body, 32)
    tally = CorrectnessTally()
    tally.add_batch(range(len(sample.rows)), predictions, sample.expected, sample.labels)
    assert (tally.checked, tally.mismatches, tally.labelled) == (32, 0, 32)
    # Each row sent once: the exact Mann-Whitney AUC and the mean cross-entropy of these 32 rows.
    labelled = list(zip(predictions, sample.labels, strict=True))
    positives = [p for p, label in labelled if label >= 0.5]
    negatives = [p for p, label in labelled if label < 0.5]
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    assert abs(tally.auc - sum(pairs) / len(pairs)) <= tally.auc_error_bound
    losses = [-math.log(p if label >= 0.5 else 1 - p) for p, label in labelled]
    assert tally.logloss == pytest.approx(sum(losses) / len(losses), rel=1e-9)


def test_a_request_the_model_rejects_is_an_http_failure(served: ServedModel) -> None:
    status, headers, body = _score(served.url, [{"int00": "not a number"}])
    with pytest.raises(ContractError) as error:
        decode_predictions(CONTRACT, status, headers, body, rows=1)
    assert error.value.kind == "http" and error.value.reason.startswith(f"HTTP {status}: ")


GATE = """
import pytest

@pytest.mark.load_test(users=8, spawn_rate=50, duration="8s", wait=(0.002, 0.005), timeout="10s", batch=4,
                       contract="mlflow", slo=["mismatch_rate < 1%", "failure_rate < 1%"])
def test_gate(load_result):
    assert load_result.rows == 4 * (load_result.requests - load_result.failures)
"""


@pytest.mark.parametrize("right", [True, False], ids=["models-predictions", "another-models"])
def test_a_gate_with_the_mlflow_contract(served: ServedModel, pytester: pytest.Pytester, right: bool) -> None:
    """The issue's "done means": `--aks-scoring-uri .../invocations --aks-sample rows.csv` passes when
    the sample's `expected` column holds the model's predictions and fails naming mismatch_rate when
    they are another model's (row 0 kept right, so pre-flight lets the load find the rest)."""
    frame = load_sample(nrows=200)[INT_COLUMNS + ["label"]]
    rows = split_sample(frame).rows
    expected = served.predict(rows)
    if not right:
        import pandas as pd

        other = train_booster(rounds=5, seed=2).predict(pd.DataFrame(rows, columns=INT_COLUMNS).astype("float64"))
        expected = [expected[0], *(float(p) for p in other[1:])]
    frame.assign(expected=expected).to_csv(pytester.path / "rows.csv", index=False)
    pytester.makepyfile(test_gate=GATE)
    run = pytester.runpytest_subprocess(
        "--aks-scoring-uri", served.url, "--aks-sample", "rows.csv", "-p", "no:cacheprovider"
    )
    if right:
        run.assert_outcomes(passed=1)
    else:
        run.assert_outcomes(failed=1)
        run.stdout.fnmatch_lines(["*mismatch_rate < 1%*FAIL*", "*wrong predictions (*"])
