"""The expected predictions of ``--aks-local``: what the embedded service's shipped model answers.

With ``--aks-local`` and neither an ``aks_expected_predictions`` fixture nor an expected column
in the sample, the gate checks the service's predictions against these, so the quick start
checks correctness out of the box. They are computed in this process by the same `ShippedModel`
code ``score.py`` serves with, from the rows exactly as the service receives them.

LightGBM loads on the first call only (a session without ``--aks-local`` never pays for it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_aksload.contracts.base import dump_json
from pytest_aksload.local.service import MODEL_DIR

if TYPE_CHECKING:
    from pytest_aksload.local.shipped_model import ShippedModel


class ShippedModelError(ValueError):
    """Sample rows the shipped model cannot score; the message is one line saying why."""


def shipped_model_predictions(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """The local service's prediction for each of `rows`, in order.

    Raises `ShippedModelError` when the rows are not Criteo rows the model can score (e.g. an
    ``--aks-sample`` of another schema), naming the first problem.
    """
    if not rows:
        return []
    from pytest_aksload.local.shipped_model import RowError

    # The rows as the service receives them: the azureml contract's JSON (NaN and infinities as
    # null, numpy scalars as numbers), so both sides score identical values.
    received = json.loads(dump_json(list(rows)))
    try:
        return _shipped_model().predict(received)
    except RowError as exc:
        raise ShippedModelError(f"--aks-local: the shipped Criteo model cannot score the sample: {exc}") from None


@functools.cache
def _shipped_model() -> ShippedModel:
    from pytest_aksload.local.shipped_model import ShippedModel

    return ShippedModel(MODEL_DIR)
