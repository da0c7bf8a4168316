"""What a load test sends and what it checks: the sample rows, their labels and expected predictions.

The rows are the user's `--aks-sample` (all of them) or the Criteo sample (`criteo_payload`, then
`rows - 1` more rows). Expected predictions, per row, come from the first of: the
`aks_expected_predictions` fixture (aligned with the whole sample), the sample's expected column,
and with `--aks-local` the model of the gated local deployment (the shipped one by default). The
result travels to the child as `protocol.SampleRows`; a problem is a `WorkloadError` whose message
is one line naming the input.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_aksload.contracts import encode_batches, load_contract
from pytest_aksload.protocol import ProtocolError, SampleRows

NOT_GIVEN: Any = object()
"""`expected_override` when no `aks_expected_predictions` fixture is defined."""


class WorkloadError(ValueError):
    """The sample or its expectations cannot be used; the message is one line naming which."""


def criteo_rows(criteo_sample: Any, first: dict[str, Any], rows: int) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """`first` (the `criteo_payload`) and the next `rows - 1` Criteo rows, with their labels."""
    from pytest_aksload.data import criteo
    from pytest_aksload.data.sample import SampleError, expected_values

    sent = [first, *criteo.payloads(criteo_sample.iloc[1:rows])]
    if "label" not in criteo_sample.columns:
        return sent, None
    try:
        labels = expected_values(criteo_sample["label"].iloc[: len(sent)], len(sent), "criteo_sample label")
    except SampleError:
        return sent, None  # a hand-made frame without usable labels: auc/logloss say so
    return sent, labels


def sample_rows(
    rows: list[dict[str, Any]],
    labels: list[float | None] | None,
    expected_column: list[float | None] | None,
    expected_override: Any,
    sample_size: int,
    *,
    aks_local: bool = False,
    local_model: str | None = None,
) -> SampleRows:
    """The rows sent with their labels and expected predictions (first source that has them).

    `local_model`: with `aks_local`, the model file of the gated local deployment (None: the shipped model).
    """
    from pytest_aksload.data.sample import SampleError, expected_values

    if expected_override is not NOT_GIVEN:
        try:
            expected = expected_values(expected_override, sample_size)[: len(rows)]
        except SampleError as error:
            raise WorkloadError(str(error)) from None
    elif expected_column is not None:
        expected = expected_column[: len(rows)]
    elif aks_local:
        from pytest_aksload.local.expected import ShippedModelError, shipped_model_predictions

        try:
            expected = list(shipped_model_predictions(rows, local_model))
        except ShippedModelError as error:
            raise WorkloadError(str(error)) from None
    else:
        expected = None
    try:
        return SampleRows(rows, expected, None if labels is None else labels[: len(rows)])
    except ProtocolError as error:
        raise WorkloadError(f"sample: {error}") from None


def bodies(sample: SampleRows, contract: str, batch: int) -> list[Any]:
    """The request bodies the load cycles through, encoded with the test's contract (as JSON values;
    bytes when a body is not JSON)."""
    return [_as_json(encoded.body) for encoded in encode_batches(load_contract(contract), sample.rows, batch)]


def _as_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
