"""The real MLflow scoring server (`mlflow models serve --env-manager local`) on 127.0.0.1,
serving the small LightGBM Criteo model of `criteo_model`.

Needs mlflow and lightgbm, whose pins do not share the main environment: `.ci/run` runs these
tests in an environment of their own.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pytest_aksload.data.criteo import load_sample
from servers.criteo_model import ServedModel, features, train_booster
from servers.processes import free_port, server_process


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[ServedModel]:
    """Save a fresh model under `folder` and serve it with MLflow's scoring server until exit."""
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    booster = train_booster()
    frame = features(load_sample())
    model = folder / "model"
    mlflow.lightgbm.save_model(booster, str(model), signature=infer_signature(frame, booster.predict(frame)))
    port = free_port()
    # `mlflow models serve` execs uvicorn from PATH: this environment's bin/ first.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with server_process(argv, f"http://127.0.0.1:{port}/ping", folder / "mlflow.log", env=env, cwd=folder):
        yield ServedModel(f"http://127.0.0.1:{port}/invocations", booster)
