"""The real MLflow scoring server (`mlflow models serve --env-manager local`) on 127.0.0.1,
serving a small LightGBM model trained on the shipped Criteo sample's integer columns.

Needs mlflow and lightgbm, which the main environment does not have (their pins do not
share it): `.ci/run` runs these tests in their own environment.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aksload.data.criteo import INT_COLUMNS, load_sample
from servers.processes import free_port, server_process


@dataclass(frozen=True)
class ServedModel:
    """A model being served: its scoring URL and the same model in this process, for offline predictions."""

    url: str
    booster: Any

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> list[float]:
        """What the served model should answer for `rows` (missing values as NaN, like MLflow)."""
        import pandas as pd

        return [float(p) for p in self.booster.predict(pd.DataFrame(list(rows), columns=INT_COLUMNS).astype("float64"))]


def train_booster(rounds: int, seed: int) -> Any:
    """A LightGBM binary classifier on the shipped sample's 13 integer columns (deterministic)."""
    import lightgbm as lgb

    frame = load_sample()
    params = {"objective": "binary", "num_leaves": 8, "seed": seed, "deterministic": True, "num_threads": 1}
    return lgb.train(
        {**params, "verbose": -1}, lgb.Dataset(frame[INT_COLUMNS].astype("float64"), frame["label"]), rounds
    )


@contextlib.contextmanager
def mlflow_server(folder: Path, rounds: int = 20, seed: int = 1) -> Iterator[ServedModel]:
    """Save a fresh model under `folder` and serve it with MLflow's scoring server until exit."""
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    booster = train_booster(rounds, seed)
    features = load_sample()[INT_COLUMNS].astype("float64")
    model = folder / "model"
    mlflow.lightgbm.save_model(booster, str(model), signature=infer_signature(features, booster.predict(features)))
    port = free_port()
    # `mlflow models serve` execs uvicorn from PATH: this environment's bin/ first.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with server_process(argv, f"http://127.0.0.1:{port}/ping", folder / "mlflow.log", env=env, cwd=folder):
        yield ServedModel(f"http://127.0.0.1:{port}/invocations", booster)
