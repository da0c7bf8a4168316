"""The expected predictions of ``--aks-local``: what the embedded service's shipped model answers.

With ``--aks-local`` and neither an ``aks_expected_predictions`` fixture nor an expected column
in the sample, the gate checks the service's predictions against these, so the quick start
checks correctness out of the box. They are computed in this process by the same `ShippedModel`
code ``score.py`` serves with, from the rows exactly as the service receives them. With
``--aks-local-deployments`` they are the gated deployment's (``--aml-deployment``, else the first).

LightGBM loads on the first call only (a session without ``--aks-local`` never pays for it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aksload.contracts.base import dump_json
from pytest_aksload.local.service import MODEL_DIR

if TYPE_CHECKING:
    from pytest_aksload.local.shipped_model import ShippedModel


class ShippedModelError(ValueError):
    """Sample rows the shipped model cannot score; the message is one line saying why."""


def shipped_model_predictions(rows: Sequence[Mapping[str, Any]], model_file: str | None = None) -> list[float]:
    """The local service's prediction for each of `rows`, in order, by the shipped model or by the
    LightGBM model in `model_file` (a local deployment's).

    Raises `ShippedModelError` when the rows are not Criteo rows the model can score (e.g. an
    ``--aks-sample`` of another schema), naming the first problem.
    """
    if not rows:
        return []
    from pytest_aksload.local.shipped_model import RowError

    # The rows as the service receives them: the azureml contract's JSON (NaN and infinities as
    # null, numpy scalars as numbers), so both sides score identical values.
    received = json.loads(dump_json(list(rows)))
    model = "the shipped Criteo model" if model_file is None else f"the model {model_file}"
    try:
        return _model(model_file).predict(received)
    except RowError as exc:
        raise ShippedModelError(f"--aks-local: {model} cannot score the sample: {exc}") from None
    except RuntimeError as exc:  # a deployment's model file LightGBM cannot load, or of other features
        raise ShippedModelError(f"--aks-local: {exc}") from None


@functools.cache
def _model(model_file: str | None) -> ShippedModel:
    from pytest_aksload.local.shipped_model import ShippedModel

    return ShippedModel(MODEL_DIR, None if model_file is None else Path(model_file))
