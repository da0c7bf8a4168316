"""`local.expected.shipped_model_predictions`: the shipped model's predictions computed in-process
(no server), for the rows as the service would receive them, and a one-line error for rows of
another schema. That they equal the running service's answers is tests/live/test_local_expected_vs_service.py."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from pytest_aksload.data import criteo

pytest.importorskip("lightgbm")

from pytest_aksload.local.expected import ShippedModelError, shipped_model_predictions  # noqa: E402


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return criteo.payloads(criteo.load_sample(nrows=40))


def test_one_probability_per_row_in_order(rows: list[dict[str, object]]) -> None:
    predictions = shipped_model_predictions(rows)
    assert len(predictions) == len(rows) and all(0.0 < p < 1.0 for p in predictions)
    assert len(set(predictions)) > 10  # the model discriminates, it does not return a constant
    assert shipped_model_predictions(rows[7:8]) == [predictions[7]]  # a row's prediction is its own
    assert shipped_model_predictions([]) == []


def test_values_json_cannot_carry_score_as_the_service_receives_them(rows: list[dict[str, object]]) -> None:
    # The contract sends NaN and infinity as null and numpy scalars as numbers; so must this.
    np = pytest.importorskip("numpy")
    nulls = {**rows[0], "int00": None, "int01": None, "int02": 3}
    odd = {**rows[0], "int00": math.nan, "int01": math.inf, "int02": np.int64(3)}
    assert shipped_model_predictions([odd]) == shipped_model_predictions([nulls])


def test_an_unseen_category_scores_as_missing(rows: list[dict[str, object]]) -> None:
    unseen = {**rows[0], "cat00": "never-seen"}
    assert shipped_model_predictions([unseen]) == shipped_model_predictions([{**rows[0], "cat00": None}])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"age": 31, "city": "Lyon"}, "missing feature columns: int00, int01, int02, int03, int04 and 34 more"),
        ({**dict.fromkeys(criteo.FEATURE_COLUMNS), "int03": "7"}, 'int03 must be a number or null, got string "7"'),
    ],
    ids=["other-schema", "string-count"],
)
def test_rows_the_model_cannot_score_are_a_one_line_error(
    rows: list[dict[str, object]], row: dict[str, object], message: str
) -> None:
    with pytest.raises(ShippedModelError) as info:
        shipped_model_predictions([rows[0], row])
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("--aks-local: the shipped Criteo model cannot score the sample: row 1: ")
    assert message in text


def test_importing_it_loads_no_lightgbm() -> None:
    code = "import sys, pytest_aksload.local.expected; print(sorted({'lightgbm', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
