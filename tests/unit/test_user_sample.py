"""`data.sample`: a user's CSV, Parquet or JSON Lines rows of any schema, the label and
expected columns split off, and every bad input a one-line error naming the file or column."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from pytest_aksload.contracts import load_contract
from pytest_aksload.data.sample import SampleError, expected_values, load_rows, split_sample

CSV = "age,income,city,label,expected\n31,52000.5,Lyon,1,0.81\n,48000.0,,0,0.12\n45,,Paris,,\n"


def _one_line(error: pytest.ExceptionInfo[SampleError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_csv_rows_keep_their_types_and_missing_values_are_null(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text(CSV)
    sample = load_rows(tmp_path / "rows.csv")
    assert sample.rows == [
        {"age": 31, "income": 52000.5, "city": "Lyon"},
        {"age": None, "income": 48000.0, "city": None},
        {"age": 45, "income": None, "city": "Paris"},
    ]
    assert type(sample.rows[0]["age"]) is int
    assert sample.labels == [1.0, 0.0, None] and sample.binary_labels
    assert sample.expected == [0.81, 0.12, None]
    assert list(sample.frame.columns) == ["age", "income", "city", "label", "expected"]
    # what is sent encodes as valid JSON with nulls, whatever the contract
    assert json.loads(load_contract("mlflow").encode(sample.rows))["dataframe_split"]["data"][2] == [45, None, "Paris"]


def test_gzipped_csv_and_other_column_names(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "rows.csv.gz", "wt") as f:
        f.write("f1,y,want\n1.5,3.2,0.5\n")
    sample = load_rows(tmp_path / "rows.csv.gz", label_column="y", expected_column="want")
    assert sample.rows == [{"f1": 1.5}] and sample.labels == [3.2] and not sample.binary_labels
    assert sample.expected == [0.5]


def test_a_sample_without_label_or_expected(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("a\n1\n")
    sample = load_rows(tmp_path / "rows.csv")
    assert (sample.labels, sample.expected, sample.binary_labels) == (None, None, False)


def test_values_json_cannot_carry_are_null_and_timestamps_iso(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [math.inf, 1.0, math.nan], "t": pd.to_datetime(["2024-01-01", None, "2024-01-02"])})
    rows = split_sample(frame).rows
    assert rows[0] == {"x": None, "t": "2024-01-01T00:00:00"} and rows[1] == {"x": 1.0, "t": None}
    json.dumps(rows, allow_nan=False)


def test_json_lines_rows_are_sent_as_written(tmp_path: Path) -> None:
    lines = [{"text": "hello", "tags": ["a", "b"], "label": 1}, {"text": "bye", "n": 2, "expected": 0.25}]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n\n")
    sample = load_rows(tmp_path / "rows.jsonl")
    assert sample.rows == [{"text": "hello", "tags": ["a", "b"]}, {"text": "bye", "n": 2}]
    assert sample.labels == [1.0, None] and sample.expected == [None, 0.25]


def test_parquet_when_pyarrow_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (the [parquet] extra)")
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": ["x", None], "expected": [0.5, 0.25]})
    frame.to_parquet(tmp_path / "rows.parquet")
    sample = load_rows(tmp_path / "rows.parquet")
    assert sample.rows == [{"a": 1, "b": "x"}, {"a": None, "b": None}] and sample.expected == [0.5, 0.25]


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # import pyarrow -> ImportError
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    with pytest.raises(SampleError) as error:
        load_rows(tmp_path / "rows.parquet")
    hint = "reading Parquet needs pyarrow; pip install 'pytest-aksload[parquet]'"
    assert _one_line(error) == f"--aks-sample {tmp_path / 'rows.parquet'}: {hint}"


BAD_FILES = [
    ("missing", None, "rows.csv", "no such file"),
    ("directory", "dir", "rows.csv", "not a file"),
    ("empty csv", "", "rows.csv", "is empty"),
    ("header only", "a,b\n", "rows.csv", "has no rows"),
    ("only held-out columns", "label,expected\n1,0.5\n", "rows.csv", "has no columns to send besides 'label'"),
    ("unknown extension", "a\n1\n", "rows.xlsx", "unknown format; use .csv, .csv.gz, .parquet"),
    ("not gzip", "a\n1\n", "rows.csv.gz", "cannot read it (BadGzipFile: "),
    ("binary csv", b"\xff\xfe\x00\x01", "rows.csv", "rows.csv: "),
    ("empty jsonl", "\n\n", "rows.jsonl", "is empty"),
    ("bad jsonl", '{"a": 1}\n{"a": \n', "rows.jsonl", "rows.jsonl, line 2: not JSON (Expecting value)"),
    ("jsonl list", "[1, 2]\n", "rows.jsonl", "rows.jsonl, line 1: not a JSON object"),
    ("unreadable parquet", b"not parquet", "rows.parquet", "rows.parquet: "),
]


@pytest.mark.parametrize(("content", "name", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str | bytes | None, name: str, message: str) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SampleError) as error:
        load_rows(path)
    text = _one_line(error)
    assert text.startswith("--aks-sample ") and message in text, text


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("a,expected\n1,0.5\n2,high\n", "column 'expected', row 1: 'high' is not a number"),
        ("a,label\n1,yes\n", "column 'label', row 0: 'yes' is not a number"),
        ("a,expected\n1,inf\n", "column 'expected', row 0: inf is not a finite number"),
    ],
)
def test_non_numeric_expectations_name_the_column_and_row(tmp_path: Path, csv: str, message: str) -> None:
    (tmp_path / "rows.csv").write_text(csv)
    with pytest.raises(SampleError) as error:
        load_rows(tmp_path / "rows.csv")
    assert _one_line(error).endswith(message)


def test_expected_values_from_a_fixture() -> None:
    assert expected_values([0.1, None, 1], 3) == [0.1, None, 1.0]
    assert expected_values(pd.Series([0.5, math.nan]), 2) == [0.5, None]
    with pytest.raises(
        SampleError, match=r"^aks_expected_predictions has 2 values for 3 sample rows; give one per row$"
    ):
        expected_values([0.1, 0.2], 3)
    with pytest.raises(SampleError, match=r"^aks_expected_predictions, row 1: 'x' is not a number$"):
        expected_values([0.1, "x"], 2)
    with pytest.raises(SampleError, match=r"^aks_expected_predictions must be a sequence of numbers"):
        expected_values(0.5, 1)
    with pytest.raises(SampleError, match=r"must be a sequence of numbers, one per sample row, not dict$"):
        expected_values({"a": 1}, 1)


def test_split_sample_of_the_criteo_frame_uses_its_label() -> None:
    from pytest_aksload.data.criteo import FEATURE_COLUMNS, load_sample

    sample = split_sample(load_sample(nrows=20), source="criteo sample")
    assert list(sample.rows[0]) == FEATURE_COLUMNS and sample.binary_labels and sample.expected is None
    json.dumps(sample.rows, allow_nan=False)
