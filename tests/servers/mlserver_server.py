"""The real MLServer (Seldon's Open Inference / V2 server) on 127.0.0.1 with its LightGBM
runtime, serving the small LightGBM Criteo model of `criteo_model` as model `criteo`.

Needs mlserver and mlserver-lightgbm, whose pins (fastapi, protobuf) conflict with MLflow's:
`.ci/run` runs these tests in an environment of their own. Every port (HTTP, gRPC, metrics) is
bound to 127.0.0.1; no parallel workers, so stopping the one process stops the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from servers.criteo_model import ServedModel, train_booster
from servers.processes import free_port, server_process

MODEL_NAME = "criteo"


@contextlib.contextmanager
def mlserver_server(folder: Path) -> Iterator[ServedModel]:
    """Save a fresh model under `folder` and serve it with `mlserver start` until exit."""
    booster = train_booster()
    booster.save_model(str(folder / "model.txt"))
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": 0,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_lightgbm.LightGBMModel",
        "parameters": {"uri": "./model.txt"},
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    argv = [str(Path(sys.executable).parent / "mlserver"), "start", str(folder)]
    base = f"http://127.0.0.1:{http_port}/v2/models/{MODEL_NAME}"
    with server_process(argv, f"{base}/ready", folder / "mlserver.log", env=env, cwd=folder):
        yield ServedModel(f"{base}/infer", booster)
