"""The shipped Criteo LightGBM model (``model/``) and the one way rows are turned into its input.

The local service's entry script (``score.py``, in the server's workers) and ``expected.py``
(the expected predictions of ``--aks-local``, in the pytest process) both score through
`ShippedModel`, so what the gate expects is by construction what the service answers.

Imports numpy and LightGBM: load it only where the model scores (the server, or a session with
``--aks-local``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm.basic import LightGBMError

MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"
MAX_NAMED_COLUMNS = 5


class RowError(ValueError):
    """Rows the model cannot score; the message says why in one line."""


class ShippedModel:
    """The booster with its feature columns and categorical codes, loaded from `model_dir`.

    `model_file` replaces the booster with another LightGBM model of the same features (a local
    deployment's model, e.g. written by ``train.py``); the columns still come from `model_dir`.
    """

    def __init__(self, model_dir: Path, model_file: Path | None = None) -> None:
        spec = json.loads((model_dir / FEATURES_FILE).read_text(encoding="utf-8"))
        self.int_columns: list[str] = list(spec["int_columns"])
        self.cat_columns: list[str] = list(spec["cat_columns"])
        model_file = model_file or model_dir / MODEL_FILE
        try:
            self.booster = lgb.Booster(model_file=str(model_file))
        except LightGBMError as error:
            raise RuntimeError(f"{model_file} is not a LightGBM model file: {error}") from None
        if self.booster.feature_name() != self.int_columns + self.cat_columns:
            raise RuntimeError(
                f"{model_file} was not trained on the Criteo features of {model_dir / FEATURES_FILE} "
                "(names or order differ)"
            )
        vocabularies = self.booster.pandas_categorical or []
        if len(vocabularies) != len(self.cat_columns):
            raise RuntimeError(
                f"{model_file} has no vocabulary for every categorical column (train it on pandas categoricals)"
            )
        # Per categorical column, value -> the integer code LightGBM was trained with (its position
        # in the training vocabulary); anything else is missing, exactly as pandas `category` would do.
        self.cat_codes: list[dict[str, int]] = [
            {value: code for code, value in enumerate(vocab)} for vocab in vocabularies
        ]

    def predict(self, rows: Sequence[Any]) -> list[float]:
        """The click probability of each row (a mapping of feature name to value, None = missing)."""
        # One thread: concurrency comes from server workers, and OpenMP thread start-up would
        # dominate a one-row prediction.
        return [float(p) for p in self.booster.predict(self.matrix(rows), num_threads=1)]

    def matrix(self, rows: Sequence[Any]) -> np.ndarray:
        """Rows as the float matrix the booster takes: ints as numbers, categoricals as their codes.

        NaN marks a missing value, including a category outside the training vocabulary.
        """
        n_int = len(self.int_columns)
        matrix = np.full((len(rows), n_int + len(self.cat_columns)), np.nan)
        for i, row in enumerate(rows):
            where = f"row {i}: " if len(rows) > 1 else ""
            if not isinstance(row, Mapping):
                raise RowError(f"{where}expected an object mapping feature names to values, got {json_type(row)}")
            self._check_columns(row, where)
            for j, name in enumerate(self.int_columns):
                matrix[i, j] = _number(row[name], name, where)
            for j, name in enumerate(self.cat_columns):
                value = row[name]
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise RowError(f"{where}{name} must be a string or null, got {json_type(value)} {_preview(value)}")
                code = self.cat_codes[j].get(value)
                if code is not None:
                    matrix[i, n_int + j] = code
        return matrix

    def _check_columns(self, row: Mapping[str, Any], where: str) -> None:
        missing = [name for name in self.int_columns + self.cat_columns if name not in row]
        if missing:
            named = ", ".join(missing[:MAX_NAMED_COLUMNS])
            more = f" and {len(missing) - MAX_NAMED_COLUMNS} more" if len(missing) > MAX_NAMED_COLUMNS else ""
            raise RowError(f"{where}missing feature columns: {named}{more} (send null for a missing value)")


def _number(value: Any, name: str, where: str) -> float:
    if value is None:
        return math.nan
    # bool is an int subclass in Python, but true/false is not a count.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError(f"{where}{name} must be a number or null, got {json_type(value)} {_preview(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise RowError(f"{where}{name} is too large: {_preview(value)}") from None
    if math.isinf(number):
        raise RowError(f"{where}{name} must be finite, got {_preview(value)}")
    return number  # NaN (Python's json accepts it) simply means missing


def _preview(value: Any, limit: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: Any) -> str:
    """The JSON name of `value`'s type, for messages about a request body."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
