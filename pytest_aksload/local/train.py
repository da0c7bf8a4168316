"""Train the LightGBM model the embedded local service scores with; writes ``model/`` beside this file.

Run ``python -m pytest_aksload.local.train`` after the shipped Criteo sample changes. The model
is committed so the service starts in seconds and never trains at run time. Training is
deterministic (fixed seed, one thread, LightGBM's ``deterministic`` mode), so re-running on the
same sample and LightGBM version rewrites identical files.

Files written:

- ``model.txt``: the LightGBM booster. Categoricals are trained as pandas ``category``, so the
  booster also stores each column's training vocabulary (``pandas_categorical``); a value outside
  it scores as missing.
- ``features.json``: the feature columns in model order, split into integer and categorical, so
  the service (``shipped_model.py``) can validate requests without pandas, and the sample's digest.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from pytest_aksload.data import criteo

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"

# Categories seen fewer times than this become missing: near-unique ids (cat02, cat03, ...)
# would otherwise bloat the vocabulary and be memorised, not learned.
MIN_CATEGORY_COUNT = 10
# Small and regularised: 5,000 rows support shallow trees only (deeper ones fit the training rows
# better and the hold-out worse).
NUM_TREES = 100
PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 20.0,
    "min_data_per_group": 50,
    "seed": 20190514,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}


def vocabularies(df: pd.DataFrame) -> dict[str, list[str]]:
    """Per categorical column, the sorted values frequent enough to keep."""
    vocab = {}
    for name in criteo.CAT_COLUMNS:
        counts = df[name].value_counts()
        vocab[name] = sorted(counts[counts >= MIN_CATEGORY_COUNT].index)
    return vocab


def features(df: pd.DataFrame, vocab: dict[str, list[str]]) -> pd.DataFrame:
    """The model's input frame: ints as float (NaN = missing), cats as `category` over `vocab`."""
    columns: dict[str, pd.Series] = {
        name: df[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan) for name in criteo.INT_COLUMNS
    }
    for name in criteo.CAT_COLUMNS:
        kept = df[name].where(df[name].isin(vocab[name]))  # rare values become missing
        columns[name] = pd.Categorical(kept, categories=vocab[name])
    return pd.DataFrame(columns, index=df.index)


def sample_digest() -> str:
    return hashlib.sha256(criteo.SAMPLE_PATH.read_bytes()).hexdigest()


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic (ties get average ranks)."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def train(df: pd.DataFrame) -> lgb.Booster:
    vocab = vocabularies(df)
    dataset = lgb.Dataset(features(df, vocab), label=df[criteo.LABEL].to_numpy(), free_raw_data=False)
    return lgb.train(PARAMS, dataset, num_boost_round=NUM_TREES)


def main(out_dir: Path = MODEL_DIR) -> None:
    df = criteo.load_sample()
    # Report generalisation on a fixed 20 % hold-out, then ship a model fitted on every row.
    holdout = np.arange(len(df)) % 5 == 0
    fitted = train(df[~holdout])
    test = df[holdout]
    test_vocab = vocabularies(df[~holdout])
    holdout_auc = auc(test[criteo.LABEL].to_numpy(), fitted.predict(features(test, test_vocab)))

    booster = train(df)
    vocab = vocabularies(df)
    sample_auc = auc(df[criteo.LABEL].to_numpy(), booster.predict(features(df, vocab)))

    out_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out_dir / MODEL_FILE))
    spec = {
        "int_columns": criteo.INT_COLUMNS,
        "cat_columns": criteo.CAT_COLUMNS,
        # Lets a test notice a model left stale by a regenerated sample.
        "sample_sha256": sample_digest(),
    }
    (out_dir / FEATURES_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")

    size = sum(path.stat().st_size for path in out_dir.iterdir())
    print(
        f"wrote {out_dir}: {booster.num_trees()} trees, {size / 1024:.0f} KiB, "
        f"{sum(map(len, vocab.values()))} categories kept; "
        f"AUC hold-out {holdout_auc:.3f}, whole sample {sample_auc:.3f}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else MODEL_DIR)
