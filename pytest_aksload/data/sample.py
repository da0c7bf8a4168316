"""A user's own sample rows (`--aks-sample PATH`): CSV, Parquet or JSON Lines of any schema.

The format is read from the extension (`.csv`, `.parquet`/`.pq`, `.jsonl`/`.ndjson`, each
optionally `.gz` except Parquet). Two columns are split off and never sent: the label (ini
`aks_label_column`, default `label`; for auc/logloss) and the expected prediction (ini
`aks_expected_column`, default `expected`; for mismatch_rate). Both must be numbers or missing.

Rows are sent as their values: CSV and Parquet keep integers as integers even with missing
values (pandas' nullable dtypes), JSON Lines rows are sent as written. Missing values are None
(JSON null). Errors are one line naming the file (and the column and row when one value is wrong).
This module runs in the pytest process only; the child gets the rows as JSON.
"""

from __future__ import annotations

import gzip
import json
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_LABEL_COLUMN = "label"
DEFAULT_EXPECTED_COLUMN = "expected"
FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}
# Integers with a missing value stay integers (pandas >= 2); pandas 1.5 reads them as floats.
_NULLABLE = {"dtype_backend": "numpy_nullable"} if int(pd.__version__.split(".")[0]) >= 2 else {}


class SampleError(ValueError):
    """A sample file or expectation that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class Sample:
    """Sample rows: `rows` are sent (JSON-ready dicts), `labels`/`expected` align with them
    (None when the sample has no such column; an element is None where the value is missing)."""

    frame: pd.DataFrame
    rows: list[dict[str, Any]]
    labels: list[float | None] | None
    expected: list[float | None] | None
    label_column: str
    expected_column: str

    @property
    def binary_labels(self) -> bool:
        """Whether every present label is 0 or 1 (what auc and logloss need)."""
        return self.labels is not None and all(v in (0.0, 1.0) for v in self.labels if v is not None)


def load_rows(
    path: str | os.PathLike[str],
    label_column: str = DEFAULT_LABEL_COLUMN,
    expected_column: str = DEFAULT_EXPECTED_COLUMN,
) -> Sample:
    """Read the sample at `path` and split off its label and expected columns."""
    file = Path(path).expanduser()
    suffix = _suffix(file)
    if not file.exists():
        raise SampleError(f"--aks-sample {file}: no such file")
    if not file.is_file():
        raise SampleError(f"--aks-sample {file}: not a file")
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[FORMATS[suffix]]
    try:
        frame, records = reader(file)
    except SampleError:
        raise
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise SampleError(f"--aks-sample {file}: cannot read it ({_describe(exc)})") from None
    except Exception as exc:  # a parser's error: its message, without a traceback
        raise SampleError(f"--aks-sample {file}: not valid {FORMATS[suffix]} ({_describe(exc)})") from None
    return split_sample(frame, label_column, expected_column, source=f"--aks-sample {file}", records=records)


def split_sample(
    frame: pd.DataFrame,
    label_column: str = DEFAULT_LABEL_COLUMN,
    expected_column: str = DEFAULT_EXPECTED_COLUMN,
    source: str = "sample",
    records: list[dict[str, Any]] | None = None,
) -> Sample:
    """`frame` as a `Sample`; `records` (JSON Lines) are the rows as written, else rows come from
    the frame's columns."""
    if frame.empty or not len(frame.index):
        raise SampleError(f"{source}: has no rows")
    held_out = {label_column, expected_column}
    features = [column for column in frame.columns if column not in held_out]
    if not features:
        raise SampleError(f"{source}: has no columns to send besides {label_column!r} and {expected_column!r}")
    if records is not None:
        rows = [{key: _json_value(value) for key, value in record.items() if key not in held_out} for record in records]
    else:
        columns = [_column_values(frame[column]) for column in features]
        names = [str(column) for column in features]
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return Sample(
        frame=frame,
        rows=rows,
        labels=_numbers(frame, label_column, source),
        expected=_numbers(frame, expected_column, source),
        label_column=label_column,
        expected_column=expected_column,
    )


def expected_values(values: Any, n_rows: int, source: str = "aks_expected_predictions") -> list[float | None]:
    """`values` (e.g. the `aks_expected_predictions` fixture) checked to be one number or None per
    sample row; `SampleError` naming `source` otherwise."""
    problem = f"{source} must be a sequence of numbers, one per sample row, not {type(values).__name__}"
    if isinstance(values, (str, bytes, Mapping)):
        raise SampleError(problem)
    try:
        items = values.tolist() if hasattr(values, "tolist") else list(values)
    except TypeError:
        raise SampleError(problem) from None
    if len(items) != n_rows:
        raise SampleError(f"{source} has {len(items)} values for {n_rows} sample rows; give one per row")
    return [_number(value, source, i) for i, value in enumerate(items)]


def _column_values(column: pd.Series) -> list[Any]:
    values = column.to_numpy(dtype=object, na_value=None).tolist()
    # Numbers, booleans and strings come out JSON-ready (NaN as None); only other objects
    # (timestamps, numpy scalars in object columns) need converting, value by value.
    types = pd.api.types
    if types.is_float_dtype(column.dtype):  # JSON has no infinity either
        return [value if value is None or math.isfinite(value) else None for value in values]
    if types.is_numeric_dtype(column.dtype) or types.is_bool_dtype(column.dtype):
        return values
    if isinstance(column.dtype, pd.StringDtype):
        return values
    return [_json_value(value) for value in values]


def _numbers(frame: pd.DataFrame, column: str, source: str) -> list[float | None] | None:
    if column not in frame.columns:
        return None
    where = f"{source}: column {column!r}"
    return [_number(v, where, i) for i, v in enumerate(frame[column].to_numpy(dtype=object, na_value=None).tolist())]


def _number(value: Any, where: str, index: int) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise SampleError(f"{where}, row {index}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise SampleError(f"{where}, row {index}: {value!r} is not a finite number")
    return float(value)


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not isinstance(value, (list, dict)):  # numpy scalars
        return _json_value(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _suffix(file: Path) -> str:
    name = file.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise SampleError(f"--aks-sample {file}: unknown format; use {', '.join(FORMATS)}")


def _read_csv(file: Path) -> tuple[pd.DataFrame, None]:
    try:
        return pd.read_csv(file, **_NULLABLE), None
    except pd.errors.EmptyDataError:
        raise SampleError(f"--aks-sample {file}: is empty") from None


def _read_parquet(file: Path) -> tuple[pd.DataFrame, None]:
    try:
        import pyarrow  # noqa: F401  (pandas reads Parquet through it)
    except ImportError:
        raise SampleError(
            f"--aks-sample {file}: reading Parquet needs pyarrow; pip install 'pytest-aksload[parquet]'"
        ) from None
    if file.stat().st_size == 0:
        raise SampleError(f"--aks-sample {file}: is empty")
    return pd.read_parquet(file, **_NULLABLE), None


def _read_jsonl(file: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    records = []
    with opener(file, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise SampleError(f"--aks-sample {file}, line {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise SampleError(f"--aks-sample {file}, line {number}: not a JSON object")
            records.append(record)
    if not records:
        raise SampleError(f"--aks-sample {file}: is empty")
    return pd.DataFrame.from_records(records), records


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
