"""The embedded local service without starting it: its shipped model and its argument checks."""

from __future__ import annotations

import json

import pytest

from pytest_aksload.local import LocalService
from pytest_aksload.local.service import MODEL_DIR


def test_model_is_small_and_trained_on_the_shipped_sample() -> None:
    size = sum(path.stat().st_size for path in MODEL_DIR.iterdir())
    assert size < 1_000_000
    from pytest_aksload.local import train

    spec = json.loads((MODEL_DIR / "features.json").read_text(encoding="utf-8"))
    assert spec["sample_sha256"] == train.sample_digest(), (
        "the Criteo sample changed since the model was trained: run python -m pytest_aksload.local.train"
    )


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="port"):
        LocalService(port=70000)
    with pytest.raises(ValueError, match="workers"):
        LocalService(workers=0)
    for bad_key in ("has space", "", "tab\tkey", "café"):
        with pytest.raises(ValueError, match="key") as excinfo:
            LocalService(key=bad_key)
        assert bad_key not in str(excinfo.value) or not bad_key


def test_invalid_deployments_are_refused_before_anything_starts(tmp_path) -> None:
    from pytest_aksload.config.local_deployments import LocalDeployment

    with pytest.raises(ValueError, match="'x' is not a deployment name"):
        LocalService(deployments=(LocalDeployment("x"),))
    with pytest.raises(ValueError, match="deployment 'blue' is given twice"):
        LocalService(deployments=(LocalDeployment("blue"), LocalDeployment("blue", latency_s=0.1)))
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match=f"model of deployment 'green': no file '{missing}'"):
        LocalService(deployments=(LocalDeployment("blue"), LocalDeployment("green", missing)))
    service = LocalService(deployments=(LocalDeployment("blue"), LocalDeployment("green", latency_s=0.04)))
    assert [d.name for d in service.deployments] == ["blue", "green"]
    assert "deployments=['blue', 'green']" in repr(service)
