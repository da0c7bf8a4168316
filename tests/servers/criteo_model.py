"""A small LightGBM model of the shipped Criteo sample's 13 integer columns, for the real
model servers to serve, and the same model in the test process for offline predictions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_aksload.data.criteo import INT_COLUMNS, load_sample


def train_booster(rounds: int = 20, seed: int = 1) -> Any:
    """A deterministic LightGBM binary classifier (a different `rounds`/`seed` is another model)."""
    import lightgbm as lgb

    frame = load_sample()
    params = {"objective": "binary", "num_leaves": 8, "seed": seed, "deterministic": True, "num_threads": 1}
    return lgb.train({**params, "verbose": -1}, lgb.Dataset(features(frame), frame["label"]), rounds)


def features(rows: Any) -> Any:
    """The model's input frame: the integer columns as float64, missing values as NaN."""
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=INT_COLUMNS)
    return frame[INT_COLUMNS].astype("float64")


def sample_rows(n: int) -> list[dict[str, Any]]:
    """The first `n` rows of the shipped sample as they are sent: the integer columns, None for missing."""
    from pytest_aksload.data.sample import split_sample

    return split_sample(load_sample(nrows=n)[INT_COLUMNS]).rows


@dataclass(frozen=True)
class ServedModel:
    """A model being served: its scoring URL and the same booster here, for offline predictions."""

    url: str
    booster: Any

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        return [float(p) for p in self.booster.predict(features(rows))]
