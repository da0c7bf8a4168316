"""Criteo Display Advertising data: the shipped sample, the real ``dac_sample.txt``, request bodies.

Frames returned by `load_sample` have the columns `COLUMNS` (`LABEL`, then `FEATURE_COLUMNS`)
with these dtypes, the same whatever the pandas version:

- ``label``: ``int64`` (0 or 1, never missing);
- ``int00``..``int12``: pandas nullable ``Int64`` (missing = ``pd.NA``);
- ``cat00``..``cat25``: ``object`` holding ``str`` or ``None`` for missing (not NaN and not the
  pandas 3 ``str`` dtype, so a value is JSON-ready as it is and ``is None`` tests for missing).

This module must stay free of pytest and locust: the Locust child process imports it.
"""

from __future__ import annotations

import functools
import gzip
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from itertools import chain, islice
from pathlib import Path

import numpy as np
import pandas as pd

# The Criteo demo helpers a conftest may use (docs/reference.md); the rest is the plugin's own.
__all__ = ["FEATURE_COLUMNS", "LABEL", "CriteoDataError", "load_sample", "payload_from_row", "payloads"]

LABEL = "label"
"""The label column (0 or 1): never sent, it is what `auc` and `logloss` judge against."""
INT_COLUMNS = [f"int{i:02d}" for i in range(13)]
CAT_COLUMNS = [f"cat{i:02d}" for i in range(26)]
FEATURE_COLUMNS = INT_COLUMNS + CAT_COLUMNS
"""The 39 features a request body carries, in order: `int00`..`int12`, then `cat00`..`cat25`."""
COLUMNS = [LABEL] + FEATURE_COLUMNS
_INT_SET = frozenset(INT_COLUMNS)

# Next to this module, so it resolves the same in a checkout and in an installed wheel.
SAMPLE_PATH = Path(__file__).resolve().parent / "criteo_sample.csv.gz"

_EXPECTED = (
    "expected the Criteo dac_sample format (tab-separated, no header, 40 fields per line: label, "
    "13 integers, 26 categoricals; empty field = missing) or a CSV whose header is "
    "label,int00..int12,cat00..cat25"
)
_GZIP_MAGIC = b"\x1f\x8b"


class CriteoDataError(ValueError):
    """A Criteo file or row that cannot be used; the message is one line naming the problem."""


def load_sample(path: str | os.PathLike[str] | None = None, nrows: int | None = None) -> pd.DataFrame:
    """Load Criteo rows as a DataFrame with the dtypes in the module docstring.

    `path` None means the sample shipped with the package. Otherwise the file may be the real
    ``dac_sample.txt`` / ``train.txt`` (tab-separated, no header) or a CSV with our header, either
    optionally gzipped; the format is read from the content, not the extension. `nrows` limits
    the data rows read, so the first rows of the 11 GB ``train.txt`` load quickly.

    Parsed files are cached per (path, size, mtime, nrows); each call returns a fresh copy, so
    callers may mutate it.
    """
    if nrows is not None and (not isinstance(nrows, int) or isinstance(nrows, bool) or nrows < 0):
        raise ValueError(f"nrows must be a non-negative integer or None, got {nrows!r}")
    file = Path(SAMPLE_PATH if path is None else path).expanduser()
    try:
        stat = file.stat()
    except OSError as exc:
        hint = "; regenerate it with: python -m pytest_aksload.data.make_criteo_sample" if path is None else ""
        raise CriteoDataError(f"{file}: cannot read Criteo data ({exc.strerror or exc}){hint}") from None
    resolved = str(file.resolve())
    return _load_cached(resolved, stat.st_size, stat.st_mtime_ns, nrows).copy()


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int, nrows: int | None) -> pd.DataFrame:
    # size and mtime_ns are only cache keys: a rewritten file is parsed again.
    return _parse(Path(path), nrows)


def _parse(file: Path, nrows: int | None) -> pd.DataFrame:
    try:
        with open(file, "rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(file, "rt", encoding="utf-8", newline="") as text:
            first = text.readline()
            sep = "\t" if "\t" in first else ","
            fields = [name.strip() for name in first.rstrip("\r\n").split(sep)]
            if fields[0].lower() == LABEL:
                if fields != COLUMNS:
                    raise CriteoDataError(f"{file}, line 1: unexpected header; {_EXPECTED}")
                lines, first_line_no = text, 2
            else:
                lines, first_line_no = chain([first], text), 1
            records, line_numbers = _split(file, islice(lines, nrows), sep, first_line_no)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CriteoDataError(f"{file}: cannot read Criteo data ({exc}); {_EXPECTED}") from None
    except UnicodeDecodeError:
        raise CriteoDataError(f"{file}: not UTF-8 text; {_EXPECTED}") from None
    if not records and nrows != 0:
        raise CriteoDataError(f"{file}: no data rows; {_EXPECTED}")
    return _to_frame(file, records, line_numbers)


def _split(file: Path, lines: Iterable[str], sep: str, first_line_no: int) -> tuple[list[list[str]], list[int]]:
    records: list[list[str]] = []
    line_numbers: list[int] = []
    for line_no, line in enumerate(lines, start=first_line_no):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue  # blank lines (a trailing one especially) carry no row
        fields = line.split(sep)
        if len(fields) != len(COLUMNS):
            raise CriteoDataError(f"{file}, line {line_no}: {len(fields)} fields, expected {len(COLUMNS)}; {_EXPECTED}")
        records.append(fields)
        line_numbers.append(line_no)
    return records, line_numbers


def _to_frame(file: Path, records: list[list[str]], line_numbers: list[int]) -> pd.DataFrame:
    # Object arrays throughout, so pandas 3 does not infer its own string dtype for the cats.
    table = np.array(records, dtype=object).reshape(len(records), len(COLUMNS))
    line_no = np.asarray(line_numbers, dtype=np.int64)
    data: dict[str, pd.Series] = {}

    values, missing = _integers(file, table[:, 0], line_no, LABEL)
    bad = missing | ~np.isin(values, [0, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise CriteoDataError(f"{file}, line {line_no[i]}: label {table[i, 0]!r} is not 0 or 1; {_EXPECTED}")
    data[LABEL] = pd.Series(values, dtype="int64")

    for j, name in enumerate(INT_COLUMNS, start=1):
        values, missing = _integers(file, table[:, j], line_no, name)
        data[name] = pd.Series(pd.arrays.IntegerArray(values, missing))
    for j, name in enumerate(CAT_COLUMNS, start=1 + len(INT_COLUMNS)):
        column = table[:, j].copy()
        column[column == ""] = None
        data[name] = pd.Series(column, dtype=object)
    return pd.DataFrame(data, columns=COLUMNS)


def _integers(file: Path, raw: np.ndarray, line_no: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One column of integer strings as (int64 values, missing mask); anything else is an error."""
    missing = raw == ""
    numeric = pd.to_numeric(pd.Series(np.where(missing, None, raw), dtype=object), errors="coerce")
    numeric = numeric.to_numpy(dtype=float, na_value=np.nan)
    # Above 2**53 a float no longer holds every integer; no Criteo count comes near it.
    integral = (np.abs(numeric) < 2.0**53) & (numeric == np.round(numeric))
    bad = ~missing & ~integral
    if bad.any():
        i = int(np.argmax(bad))
        raise CriteoDataError(f"{file}, line {line_no[i]}: {name} {raw[i]!r} is not an integer; {_EXPECTED}")
    return np.where(missing, 0, numeric).astype(np.int64), np.asarray(missing, dtype=bool)


def payload_from_row(row: pd.Series | Mapping[str, object]) -> dict[str, object]:
    """One row as the flat JSON object the deployed model scores.

    All `FEATURE_COLUMNS` in order (a scoring request carries no label): integers as
    Python ``int``, categoricals as ``str``, missing values (None, NaN, pd.NA) as ``None``.
    The result survives ``json.dumps(..., allow_nan=False)``.
    """
    payload: dict[str, object] = {}
    for name in FEATURE_COLUMNS:
        try:
            value = row[name]
        except (KeyError, IndexError):
            raise CriteoDataError(
                f"row has no column {name!r}; a Criteo row needs {', '.join(FEATURE_COLUMNS)}"
            ) from None
        payload[name] = _int_value(name, value) if name in _INT_SET else _cat_value(value)
    return payload


def payloads(df: pd.DataFrame, n: int | None = None) -> list[dict[str, object]]:
    """The first `n` rows of `df` (all if None) as request bodies, see `payload_from_row`."""
    absent = [name for name in FEATURE_COLUMNS if name not in df.columns]
    if absent:
        raise CriteoDataError(
            f"DataFrame lacks Criteo columns {', '.join(absent)}; expected {', '.join(FEATURE_COLUMNS)}"
        )
    head = df if n is None else df.head(n)
    # Column-wise conversion: one pass per column instead of a Series per row.
    columns = [
        _int_list(head[name]) if name in _INT_SET else [_cat_value(v) for v in head[name]] for name in FEATURE_COLUMNS
    ]
    return [dict(zip(FEATURE_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]


def _int_list(column: pd.Series) -> list[int | None]:
    if pd.api.types.is_integer_dtype(column.dtype):
        # Int64 and int64 already hold integers; to_numpy(object) makes them Python ints.
        return column.to_numpy(dtype=object, na_value=None).tolist()
    return [_int_value(str(column.name), v) for v in column.tolist()]


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _int_value(name: str, value: object) -> int | None:
    if _is_missing(value):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
    raise CriteoDataError(f"{name} must be an integer count or missing, got {value!r}")


def _cat_value(value: object) -> str | None:
    if _is_missing(value):
        return None
    text = str(value)
    return text or None
