"""The Criteo data module: shipped sample statistics, dac_sample parsing, request bodies."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aksload.data import make_criteo_sample
from pytest_aksload.data.criteo import (
    CAT_COLUMNS,
    COLUMNS,
    FEATURE_COLUMNS,
    INT_COLUMNS,
    LABEL,
    SAMPLE_PATH,
    CriteoDataError,
    load_sample,
    payload_from_row,
    payloads,
)

ROWS = make_criteo_sample.ROWS

# Missing-rate ranges around dac_sample's (DESIGN.md); wide enough for sampling noise at 5k rows.
MISSING_RANGES = {
    "int00": (0.38, 0.52),
    "int02": (0.16, 0.25),
    "int03": (0.16, 0.25),
    "int05": (0.18, 0.28),
    "int09": (0.38, 0.52),
    "int11": (0.72, 0.82),
    "cat05": (0.09, 0.15),
    "cat18": (0.38, 0.50),
    "cat19": (0.38, 0.50),
    "cat24": (0.38, 0.50),
    "cat25": (0.38, 0.50),
    "cat21": (0.71, 0.81),
}
LOW_MISSING = 0.06  # every other column: "a few %" at most
NEAR_UNIQUE = ["cat02", "cat03", "cat11", "cat15", "cat20"]
SMALL_VOCAB = {
    "cat05": 12,
    "cat08": 3,
    "cat13": 26,
    "cat16": 10,
    "cat19": 4,
    "cat21": 11,
    "cat22": 14,
}
DAC_ROWS = [
    # label, 13 ints, 26 cats; "" = missing, as in dac_sample.txt
    ["0", "1", "1", "5", "0", "1382", "4", "15", "2", "181", "1", "2", "", "2"]
    + ["68fd1e64", "80e26c9b", "fb936136", "7b4723c4", "25c83c98", "7e0ccccf", "de7995b8"]
    + ["1f89b562", "a73ee510", "a8cd5504", "b2cb9c98", "37c9c164", "2824a5f6", "1adce6ef"]
    + ["8ba8b39a", "891b62e7", "e5ba7672", "f54016b9", "21ddcdc9", "b1252a9d", "07b5194c"]
    + ["", "3a171ecb", "c5c50484", "e8b83407", "9727dd16"],
    ["1", "", "-1", "", "", "", "", "", "", "", "", "", "", ""] + [""] * 26,
]


def dac_text(rows: list[list[str]]) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


def rank_auc(score: pd.Series, label: pd.Series) -> float:
    """Mann-Whitney AUC, so the test needs no scikit-learn."""
    ranks = score.rank()
    positives = int(label.sum())
    negatives = len(label) - positives
    return float((ranks[label == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


def test_columns_are_the_criteo_schema() -> None:
    assert [f"int{i:02d}" for i in range(13)] == INT_COLUMNS
    assert [f"cat{i:02d}" for i in range(26)] == CAT_COLUMNS
    assert INT_COLUMNS + CAT_COLUMNS == FEATURE_COLUMNS
    assert [LABEL, *FEATURE_COLUMNS] == COLUMNS
    assert len(COLUMNS) == 40


def test_shipped_sample_schema_and_dtypes(sample: pd.DataFrame) -> None:
    assert SAMPLE_PATH.is_file()
    assert list(sample.columns) == COLUMNS
    assert len(sample) == ROWS
    assert sample[LABEL].dtype == np.dtype("int64")
    assert set(sample[LABEL].unique()) == {0, 1}
    for name in INT_COLUMNS:
        assert sample[name].dtype == pd.Int64Dtype(), name
    for name in CAT_COLUMNS:
        column = sample[name]
        assert column.dtype == object, name
        present = column[column.notna()]
        assert all(value is None for value in column[column.isna()]), name
        assert present.map(lambda v: isinstance(v, str) and len(v) == 8 and int(v, 16) >= 0).all(), name


def test_shipped_sample_missing_rates(sample: pd.DataFrame) -> None:
    rates = sample[FEATURE_COLUMNS].isna().mean()
    for name in FEATURE_COLUMNS:
        low, high = MISSING_RANGES.get(name, (0.0, LOW_MISSING))
        assert low <= rates[name] <= high, f"{name} missing rate {rates[name]:.3f} not in [{low}, {high}]"
    assert sample[LABEL].notna().all()


def test_shipped_sample_missing_blocks(sample: pd.DataFrame) -> None:
    late = sample[["cat18", "cat19", "cat24", "cat25"]].isna()
    assert late.all(axis=1).equals(late.any(axis=1)), "cat18/19/24/25 go missing on the same rows"
    assert (sample["int00"].isna() == sample["int09"].isna()).all()


def test_shipped_sample_cardinalities(sample: pd.DataFrame) -> None:
    distinct = sample[CAT_COLUMNS].nunique()
    present = sample[CAT_COLUMNS].notna().sum()
    assert distinct["cat08"] == 3
    for name in NEAR_UNIQUE:
        assert distinct[name] > 0.9 * present[name], f"{name}: {distinct[name]} of {present[name]}"
    for name, limit in SMALL_VOCAB.items():
        assert 2 <= distinct[name] <= limit, name
    mid = [name for name in CAT_COLUMNS if name not in NEAR_UNIQUE and name not in SMALL_VOCAB]
    for name in mid:
        assert 30 <= distinct[name] <= 0.5 * ROWS, f"{name}: {distinct[name]} distinct"
        # Zipf-like: a head value far above the typical one, and a long tail of rare values.
        counts = sample[name].value_counts()
        assert counts.iloc[0] >= 10 * counts.median(), name
        assert (counts <= 2).mean() >= 0.2 or distinct[name] < 200, name


def test_shipped_sample_integers_are_heavy_tailed_counts(sample: pd.DataFrame) -> None:
    for name in INT_COLUMNS:
        values = sample[name].dropna().astype("int64")
        assert values.min() >= (-1 if name == "int01" else 0), name
        # Heavy tail: the maximum is far beyond the median (int09 is a small 0..~10 count).
        if name != "int09":
            assert values.max() >= 8 * max(values.median(), 1), name
    assert (sample["int01"] == -1).any()
    assert sample["int04"].max() > 100_000


def test_shipped_sample_labels(sample: pd.DataFrame) -> None:
    assert 0.22 <= sample[LABEL].mean() <= 0.28


def test_labels_depend_on_features(sample: pd.DataFrame) -> None:
    # One count alone separates clicks a little; the generator's click model uses it.
    score = sample["int00"].astype("float64").fillna(-1.0)
    assert rank_auc(score, sample[LABEL]) > 0.6
    by_cat08 = sample.groupby("cat08")[LABEL].mean()
    assert by_cat08.max() - by_cat08.min() > 0.1


def test_a_trained_model_learns_the_sample(sample: pd.DataFrame) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    features = sample[FEATURE_COLUMNS].copy()
    for name in INT_COLUMNS:
        features[name] = features[name].astype("float64")
    for name in CAT_COLUMNS:
        features[name] = features[name].astype("category")
    train, test = slice(0, 4000), slice(4000, None)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "verbose": -1,
        "seed": 1,
    }
    data = lightgbm.Dataset(features.iloc[train], sample[LABEL].iloc[train])
    model = lightgbm.train(params, data, num_boost_round=100)
    predicted = pd.Series(model.predict(features.iloc[test]), index=features.index[test])
    assert rank_auc(predicted, sample[LABEL].iloc[test]) > 0.65


def test_generator_is_deterministic(tmp_path) -> None:
    first = make_criteo_sample.write_sample(tmp_path / "a.csv.gz")
    second = make_criteo_sample.write_sample(tmp_path / "b.csv.gz")
    assert first.read_bytes() == second.read_bytes()
    # The committed file's content is exactly what the generator writes. The gzip container is
    # compared by its header only: another zlib build may deflate the same text differently.
    assert gzip.decompress(first.read_bytes()) == gzip.decompress(SAMPLE_PATH.read_bytes())
    header = SAMPLE_PATH.read_bytes()[:10]
    assert header[3] & 0x08 == 0, "no file name stored in the gzip header"
    assert header[4:8] == b"\0\0\0\0", "gzip mtime is zero"


def test_shipped_sample_is_small() -> None:
    assert SAMPLE_PATH.stat().st_size < 1_000_000


def test_load_sample_returns_independent_copies() -> None:
    first = load_sample()
    first.loc[0, "cat00"] = "mutated!"
    assert load_sample().loc[0, "cat00"] != "mutated!"


def test_load_sample_nrows() -> None:
    head = load_sample(nrows=10)
    assert len(head) == 10
    pd.testing.assert_frame_equal(head, load_sample().head(10))
    assert len(load_sample(nrows=0)) == 0


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("filename", ["dac_sample.txt", "rows.csv"])
def test_load_dac_sample_format(tmp_path, compress: bool, filename: str) -> None:
    path = tmp_path / filename
    data = dac_text(DAC_ROWS).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    df = load_sample(path)
    assert list(df.columns) == COLUMNS
    assert df[LABEL].tolist() == [0, 1]
    assert df[LABEL].dtype == np.dtype("int64")
    assert df["int00"].dtype == pd.Int64Dtype()
    assert df["int04"].iloc[0] == 1382
    assert df["int01"].iloc[1] == -1
    assert df["int11"].isna().tolist() == [True, True]
    assert df.loc[1, INT_COLUMNS].isna().sum() == 12
    assert df.loc[0, "cat08"] == "a73ee510"
    assert df.loc[0, "cat21"] is None
    assert all(df.loc[1, name] is None for name in CAT_COLUMNS)
    assert load_sample(path, nrows=1)[LABEL].tolist() == [0]


def test_load_our_csv_from_a_plain_file(tmp_path, sample: pd.DataFrame) -> None:
    path = tmp_path / "sample.data"  # no telling extension: the content decides
    path.write_bytes(gzip.decompress(SAMPLE_PATH.read_bytes()))
    pd.testing.assert_frame_equal(load_sample(path), sample)


def test_load_tolerates_crlf_and_trailing_blank_line(tmp_path) -> None:
    path = tmp_path / "dac.txt"
    path.write_bytes(dac_text(DAC_ROWS).replace("\n", "\r\n").encode() + b"\r\n")
    df = load_sample(path)
    assert len(df) == 2
    assert df.loc[0, "cat25"] == "9727dd16"


def test_load_rereads_a_rewritten_file(tmp_path) -> None:
    path = tmp_path / "dac.txt"
    path.write_text(dac_text(DAC_ROWS[:1]))
    assert len(load_sample(path)) == 1
    path.write_text(dac_text(DAC_ROWS))
    assert len(load_sample(path)) == 2


def _assert_one_line_error(path, match: str, *, line: int | None) -> None:
    with pytest.raises(CriteoDataError) as info:
        load_sample(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "dac_sample format" in message
    if line is not None:
        assert f"line {line}:" in message
    assert match in message


def test_wrong_field_count_names_the_line(tmp_path) -> None:
    rows = [DAC_ROWS[0], DAC_ROWS[1], DAC_ROWS[0][:-1]]
    path = tmp_path / "dac.txt"
    path.write_text(dac_text(rows))
    _assert_one_line_error(path, "39 fields, expected 40", line=3)


def test_non_integer_in_int_column_names_the_line(tmp_path) -> None:
    bad = list(DAC_ROWS[0])
    bad[3] = "1.5"
    path = tmp_path / "dac.txt"
    path.write_text(dac_text([DAC_ROWS[0], bad]))
    _assert_one_line_error(path, "int02 '1.5' is not an integer", line=2)
    bad[3] = "abc"
    path.write_text(dac_text([bad, DAC_ROWS[0]]))
    _assert_one_line_error(path, "int02 'abc'", line=1)


def test_bad_label_names_the_line(tmp_path) -> None:
    path = tmp_path / "dac.txt"
    path.write_text(dac_text([DAC_ROWS[0], ["2", *DAC_ROWS[0][1:]]]))
    _assert_one_line_error(path, "label '2' is not 0 or 1", line=2)
    path.write_text(dac_text([DAC_ROWS[0], ["", *DAC_ROWS[0][1:]]]))
    _assert_one_line_error(path, "label '' is not 0 or 1", line=2)


def test_csv_line_numbers_count_the_header(tmp_path) -> None:
    bad = list(DAC_ROWS[0])
    bad[5] = "x"
    path = tmp_path / "rows.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ",".join(DAC_ROWS[0]) + "\n" + ",".join(bad) + "\n")
    _assert_one_line_error(path, "int04 'x'", line=3)


def test_wrong_header_is_rejected(tmp_path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("label,a,b\n0,1,2\n")
    _assert_one_line_error(path, "unexpected header", line=1)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x1f\x8bnot really gzip", b"\xff\xfe\x00binary"],
    ids=["empty", "broken-gzip", "binary"],
)
def test_unreadable_content(tmp_path, content: bytes) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(content)
    _assert_one_line_error(path, "", line=None)


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(CriteoDataError, match="nope.txt") as info:
        load_sample(path)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_payload_from_row_is_json_ready(sample: pd.DataFrame) -> None:
    row = sample.iloc[0]
    payload = payload_from_row(row)
    assert list(payload) == FEATURE_COLUMNS
    assert LABEL not in payload
    decoded = json.loads(json.dumps(payload, allow_nan=False))
    assert decoded == payload
    for name in INT_COLUMNS:
        expected = None if pd.isna(row[name]) else int(row[name])
        assert payload[name] == expected and type(payload[name]) is type(expected), name
    for name in CAT_COLUMNS:
        assert payload[name] is None or type(payload[name]) is str, name


def test_payloads_match_rows(sample: pd.DataFrame) -> None:
    first = payloads(sample, 20)
    assert len(first) == 20
    assert first == [payload_from_row(sample.iloc[i]) for i in range(20)]
    everything = payloads(sample)
    assert len(everything) == ROWS
    json.dumps(everything, allow_nan=False)
    assert any(value is None for value in everything[0].values())


def test_payload_from_a_plain_mapping_with_nan() -> None:
    row = {name: float("nan") for name in FEATURE_COLUMNS}
    row.update(int00=np.int64(3), int01=4.0, int02=pd.NA, cat00="68fd1e64", cat01=None, label=1)
    payload = payload_from_row(row)
    assert payload["int00"] == 3 and type(payload["int00"]) is int
    assert payload["int01"] == 4 and type(payload["int01"]) is int
    assert payload["int02"] is None and payload["int12"] is None
    assert payload["cat00"] == "68fd1e64" and payload["cat01"] is None and payload["cat25"] is None
    assert "label" not in payload


def test_payload_rejects_bad_rows() -> None:
    row = dict.fromkeys(FEATURE_COLUMNS)
    del row["int03"]
    with pytest.raises(CriteoDataError, match="int03"):
        payload_from_row(row)
    with pytest.raises(CriteoDataError, match="int00"):
        payload_from_row({**dict.fromkeys(FEATURE_COLUMNS), "int00": 1.5})
    with pytest.raises(CriteoDataError, match="cat07"):
        payloads(pd.DataFrame(columns=[c for c in FEATURE_COLUMNS if c != "cat07"]))


int_values = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(pd.NA),
    st.integers(-1, 2**40),
    st.integers(-1, 2**40).map(np.int64),
    st.integers(0, 2**40).map(float),
)
# Hashed categoricals are strings, but a frame built by hand may hold numbers: they become str.
cat_values = st.one_of(
    st.none(), st.just(float("nan")), st.text(min_size=1, max_size=12), st.integers(0, 2**32).map(np.int64)
)


@settings(max_examples=200, deadline=None)
@given(
    ints=st.lists(int_values, min_size=13, max_size=13),
    cats=st.lists(cat_values, min_size=26, max_size=26),
    as_series=st.booleans(),
)
def test_any_row_gives_a_json_safe_payload(ints: list, cats: list, as_series: bool) -> None:
    row: dict[str, object] = dict(zip(INT_COLUMNS, ints, strict=True)) | dict(zip(CAT_COLUMNS, cats, strict=True))
    payload = payload_from_row(pd.Series(row, dtype=object) if as_series else row)
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    for name, value in zip(INT_COLUMNS, ints, strict=True):
        missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
        assert payload[name] == (None if missing else int(value))
        assert payload[name] is None or type(payload[name]) is int
    for name, value in zip(CAT_COLUMNS, cats, strict=True):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        assert payload[name] == (None if missing else str(value))
        assert payload[name] is None or type(payload[name]) is str


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.integers(0, ROWS - 1), min_size=1, max_size=20))
def test_random_sample_rows_round_trip(rows: list[int]) -> None:
    df = load_sample().iloc[rows]
    for payload, (_, row) in zip(payloads(df), df.iterrows(), strict=True):
        decoded = json.loads(json.dumps(payload, allow_nan=False))
        for name in FEATURE_COLUMNS:
            assert decoded[name] == (None if pd.isna(row[name]) else row[name]), name
