"""Request bodies for a run, encoded once: the sample rows cut into batches of `batch` rows.

The Locust child posts these bodies in turn and, for each answer, needs the sample rows it
sent (to compare each prediction with its row's expected value). Encoding them all before the
load starts keeps JSON serialisation off the measured path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_aksload.contracts.base import Contract


@dataclass(frozen=True)
class EncodedBatch:
    """One request body and the indices of the sample rows it carries, in order."""

    body: bytes
    rows: tuple[int, ...]


def encode_batches(contract: Contract, rows: Sequence[Mapping[str, Any]], batch: int = 1) -> list[EncodedBatch]:
    """Every sample row in `ceil(len(rows) / batch)` bodies of exactly `batch` rows each; the last
    one wraps around to the first rows (so every request has the same size), and a batch larger
    than the sample repeats rows."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer (rows per request), not {batch!r}")
    if not rows:
        raise ValueError("no sample rows to encode")
    n = len(rows)
    batches = []
    for start in range(0, n, batch):
        indices = tuple((start + offset) % n for offset in range(batch))
        batches.append(EncodedBatch(contract.encode([rows[i] for i in indices]), indices))
    return batches
