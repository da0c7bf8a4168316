"""Generate the synthetic Criteo Display Advertising sample shipped with pytest-aksload.

Why this exists: the public 100k-row ``dac_sample.txt`` cannot be downloaded where this
package is built and tested, yet the plugin needs realistic request bodies and the embedded
local service needs a model that learns something. So we generate ``criteo_sample.csv.gz``
(beside this file) with the statistics of the real dac_sample: the same 40 columns, similar
per-column missing rates (including the blocks of categoricals that go missing together),
heavy-tailed integer counts, 8-hex-digit hashed categoricals from 3 distinct values up to
near-unique, Zipf-like frequencies, and ~25 % positive labels that really depend on a few
features.

Run ``python -m pytest_aksload.data.make_criteo_sample`` to rewrite the file. The output is
deterministic: a fixed seed, only numpy primitives whose streams are stable (``random``,
``standard_normal``), hashes from hashlib, and a gzip header without a timestamp or name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np

SEED = 20190514
ROWS = 5000
POSITIVE_RATE = 0.25
OUTPUT_PATH = Path(__file__).with_name("criteo_sample.csv.gz")

INT_COLUMNS = [f"int{i:02d}" for i in range(13)]
CAT_COLUMNS = [f"cat{i:02d}" for i in range(26)]

# name: (missing rate, share of exact zeros, lognormal mu, lognormal sigma), after dac_sample.
INT_SPECS: dict[str, tuple[float, float, float, float]] = {
    "int00": (0.45, 0.35, 0.7, 1.0),
    "int01": (0.00, 0.15, 1.2, 1.6),  # shifted by -1 below: the real column starts at -1
    "int02": (0.20, 0.05, 2.0, 1.4),
    "int03": (0.20, 0.05, 1.5, 1.0),
    "int04": (0.03, 0.03, 7.8, 1.8),
    "int05": (0.23, 0.10, 3.5, 1.5),
    "int06": (0.04, 0.20, 1.3, 1.3),
    "int07": (0.005, 0.02, 2.2, 1.2),
    "int08": (0.04, 0.02, 3.6, 1.3),
    "int09": (0.45, 0.50, 0.1, 0.5),  # missing on the same rows as int00, as in the real data
    "int10": (0.04, 0.30, 0.6, 0.9),
    "int11": (0.77, 0.60, 0.5, 1.2),
    "int12": (0.03, 0.05, 1.6, 1.0),
}
INT_CAP = 2**31 - 1  # keep the lognormal tail inside a 32-bit count

# Categoricals that go missing together share one draw, as blocks do in the real data.
MISSING_BLOCKS: dict[str, tuple[float, tuple[str, ...]]] = {
    "ids": (0.034, ("cat02", "cat03", "cat11", "cat15", "cat20", "cat23")),
    "late": (0.44, ("cat18", "cat19", "cat24", "cat25")),
    "cat05": (0.12, ("cat05",)),
    "cat21": (0.76, ("cat21",)),
}
NEAR_UNIQUE = ("cat02", "cat03", "cat11", "cat15", "cat20")
# name: (vocabulary size, Zipf exponent); sizes are the real 100k cardinalities scaled to 5k rows.
CAT_SPECS: dict[str, tuple[int, float]] = {
    "cat00": (300, 1.2),
    "cat01": (300, 1.1),
    "cat04": (80, 1.3),
    "cat05": (10, 1.5),
    "cat06": (3000, 0.9),
    "cat07": (120, 1.4),
    "cat09": (4000, 0.9),
    "cat10": (1500, 1.0),
    "cat12": (1200, 1.0),
    "cat13": (26, 1.0),
    "cat14": (2000, 0.9),
    "cat16": (10, 1.0),
    "cat17": (1000, 1.0),
    "cat18": (600, 1.1),
    "cat19": (3, 0.5),
    "cat21": (10, 1.5),
    "cat22": (14, 1.0),
    "cat23": (4000, 0.8),
    "cat24": (40, 1.2),
    "cat25": (3000, 0.8),
}
CAT08_SHARES = (0.89, 0.10, 0.01)  # exactly 3 values, one dominant, like the real C9
POPULAR_SHARE = 0.06  # near-unique ids still repeat a few popular values


def _hex_vocabulary(column: str, size: int) -> list[str]:
    """`size` distinct 8-hex-digit strings, stable across numpy versions and platforms."""
    seen: dict[str, None] = {}
    k = 0
    while len(seen) < size:
        digest = hashlib.blake2b(f"criteo-sample/{column}/{k}".encode(), digest_size=4)
        seen.setdefault(digest.hexdigest(), None)
        k += 1
    return list(seen)


def _zipf_index(u: np.ndarray, size: int, exponent: float) -> np.ndarray:
    # Inverse CDF from uniforms instead of Generator.zipf: bounded and stream-stable.
    weights = 1.0 / np.arange(1, size + 1, dtype=float) ** exponent
    cdf = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cdf, u, side="right"), size - 1)


def _counts(rng: np.random.Generator, rows: int, spec: tuple[float, float, float, float]) -> np.ndarray:
    _, zero_share, mu, sigma = spec
    values = np.floor(np.exp(mu + sigma * rng.standard_normal(rows)))
    values[rng.random(rows) < zero_share] = 0
    return np.minimum(values, INT_CAP).astype(np.int64)


def generate(
    rows: int = ROWS, seed: int = SEED
) -> tuple[list[int], dict[str, list[int | None]], dict[str, list[str | None]]]:
    """Labels, integer columns and categorical columns (None = missing) of the sample."""
    rng = np.random.default_rng(seed)

    ints: dict[str, np.ndarray] = {name: _counts(rng, rows, spec) for name, spec in INT_SPECS.items()}
    ints["int01"] -= 1
    int_missing = {name: rng.random(rows) < spec[0] for name, spec in INT_SPECS.items()}
    int_missing["int09"] = int_missing["int00"]

    cat_index: dict[str, np.ndarray] = {}
    vocab: dict[str, list[str]] = {}
    for name, (size, exponent) in CAT_SPECS.items():
        cat_index[name] = _zipf_index(rng.random(rows), size, exponent)
        vocab[name] = _hex_vocabulary(name, size)
    cat_index["cat08"] = np.searchsorted(np.cumsum(CAT08_SHARES), rng.random(rows) * sum(CAT08_SHARES), side="right")
    vocab["cat08"] = _hex_vocabulary("cat08", len(CAT08_SHARES))
    popular = 20
    for name in NEAR_UNIQUE:
        # Row r gets its own fresh id (popular + r) unless it draws one of the popular ones.
        is_popular = rng.random(rows) < POPULAR_SHARE
        cat_index[name] = np.where(is_popular, _zipf_index(rng.random(rows), popular, 1.0), popular + np.arange(rows))
        vocab[name] = _hex_vocabulary(name, popular + rows)
    cat_missing = {name: np.zeros(rows, dtype=bool) for name in CAT_COLUMNS}
    for rate, members in MISSING_BLOCKS.values():
        block = rng.random(rows) < rate
        for name in members:
            cat_missing[name] = block

    # Click model: a few counts, two categoricals and a missing-value indicator carry signal,
    # so a model trained on the sample reaches a real (not perfect) AUC.
    def log_count(name: str) -> np.ndarray:
        return np.where(int_missing[name], 0.0, np.log1p(np.maximum(ints[name], 0)))

    cat05_effect = rng.standard_normal(CAT_SPECS["cat05"][0]) * 0.9
    cat13_effect = rng.standard_normal(CAT_SPECS["cat13"][0]) * 0.75
    logit = (
        0.8 * log_count("int00")
        - 0.7 * int_missing["int00"]
        + 0.5 * log_count("int06")
        + 0.6 * log_count("int10")
        - 0.3 * log_count("int12")
        + np.array([0.0, 1.0, -1.3])[cat_index["cat08"]]
        + np.where(cat_missing["cat05"], -0.45, cat05_effect[cat_index["cat05"]])
        + cat13_effect[cat_index["cat13"]]
        + 0.5 * rng.standard_normal(rows)  # what no feature explains
    )
    # Bisection on the intercept pins the positive rate without another random draw.
    low, high = -20.0, 20.0
    for _ in range(100):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < POSITIVE_RATE:
            low = mid
        else:
            high = mid
    probability = 1.0 / (1.0 + np.exp(-(logit + low)))
    labels = (rng.random(rows) < probability).astype(np.int64).tolist()

    int_columns = {
        name: [None if gone else int(v) for v, gone in zip(ints[name], int_missing[name], strict=True)]
        for name in INT_COLUMNS
    }
    cat_columns = {
        name: [None if gone else vocab[name][i] for i, gone in zip(cat_index[name], cat_missing[name], strict=True)]
        for name in CAT_COLUMNS
    }
    return labels, int_columns, cat_columns


def render_csv(rows: int = ROWS, seed: int = SEED) -> bytes:
    """The sample as CSV text with a header row; missing values are empty fields."""
    labels, ints, cats = generate(rows, seed)
    out = io.StringIO()
    out.write(",".join(["label", *INT_COLUMNS, *CAT_COLUMNS]) + "\n")
    for r in range(rows):
        fields = [str(labels[r])]
        fields += ["" if ints[name][r] is None else str(ints[name][r]) for name in INT_COLUMNS]
        fields += [cats[name][r] or "" for name in CAT_COLUMNS]
        out.write(",".join(fields) + "\n")
    return out.getvalue().encode("ascii")


def write_sample(path: str | os.PathLike[str] = OUTPUT_PATH, rows: int = ROWS, seed: int = SEED) -> Path:
    """Write the gzipped sample to `path`; same arguments give the same bytes."""
    buffer = io.BytesIO()
    # mtime=0 and an empty name keep the gzip header free of when and where it was written.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(render_csv(rows, seed))
    path = Path(path)
    path.write_bytes(buffer.getvalue())
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = write_sample(args[0] if args else OUTPUT_PATH)
    print(f"wrote {path} ({path.stat().st_size} bytes, {ROWS} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
