"""The embedded local service without starting it: its shipped model and its argument checks."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_settings_hold_what_the_endpoint_enforces() -> None:
    from pytest_aksload.config.local_endpoint import LocalServiceSettings

    plain = LocalServiceSettings()
    assert (plain.instances, plain.ceiling, plain.request_timeout_s, plain.front) == (1, None, None, False)
    # A ceiling brings Azure's 5 s timeout along; its value is 2 × max_concurrent × instances.
    throttled = LocalServiceSettings(instances=3, max_concurrent=2)
    assert (throttled.ceiling, throttled.request_timeout_s, throttled.front) == (12, 5.0, True)
    assert throttled.ceiling_reason == "2 × max_concurrent 2 × 3 instances"
    assert LocalServiceSettings(max_concurrent=1).ceiling_reason == "2 × max_concurrent 1 × 1 instance"
    # A timeout alone: a front that times out but never throttles.
    timed = LocalServiceSettings(request_timeout_s=2)
    assert (timed.ceiling, timed.request_timeout_s, timed.front) == (None, 2.0, True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instances": 0}, "instances must be a whole number >= 1, got 0"),
        ({"instances": True}, "instances must be a whole number >= 1"),
        ({"max_concurrent": 0}, "max_concurrent must be a whole number >= 1 or None, got 0"),
        ({"max_concurrent": 1.5}, "max_concurrent must be a whole number >= 1 or None"),
        ({"request_timeout_s": 0}, r"request_timeout_s must be seconds > 0 and <= 180"),
        ({"request_timeout_s": 181}, r"request_timeout_s must be seconds > 0 and <= 180"),
        ({"request_timeout_s": "5s"}, r"request_timeout_s must be seconds"),
    ],
)
def test_bad_settings_name_the_accepted_form(kwargs: dict[str, object], message: str) -> None:
    from pytest_aksload.config.local_endpoint import LocalServiceSettings

    with pytest.raises(ValueError, match=message):
        LocalServiceSettings(**kwargs)  # type: ignore[arg-type]


def test_workers_follow_the_instances_of_every_deployment() -> None:
    from pytest_aksload.config.local_deployments import LocalDeployment
    from pytest_aksload.config.local_endpoint import LocalServiceSettings

    two = LocalServiceSettings(instances=2, max_concurrent=1)
    assert LocalService(settings=two).workers == 2
    assert LocalService(settings=two, deployments=(LocalDeployment("blue"), LocalDeployment("green"))).workers == 4
    assert LocalService().workers == 1
    assert "ceiling=4, request_timeout_s=5" in repr(LocalService(settings=two))


def test_the_options_become_the_local_service_settings() -> None:
    from pytest_aksload.config.settings import Settings
    from pytest_aksload.targets.resolve import local_service_settings

    settings = local_service_settings(
        Settings(aks_local=True, aks_local_instances=2, aks_local_max_concurrent=3, aks_local_request_timeout=0.5)
    )
    assert (settings.instances, settings.max_concurrent, settings.request_timeout_s, settings.ceiling) == (
        2,
        3,
        0.5,
        12,
    )
    assert local_service_settings(Settings(aks_local=True)).front is False


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5.0), ("500ms", 0.5), ("2", 2.0), ("3m", 180.0)])
def test_request_timeout_text(text: str, seconds: float) -> None:
    from pytest_aksload.config.local_endpoint import parse_request_timeout

    assert parse_request_timeout(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "181s", "-1s", "soon", ""])
def test_bad_request_timeout_text(text: str) -> None:
    from pytest_aksload.config.local_endpoint import parse_request_timeout

    with pytest.raises(ValueError):
        parse_request_timeout(text)


class _Options:
    """The two things `settings.resolve` asks a pytest config for: option values and ini values."""

    rootpath = Path.cwd()

    def __init__(self, **cli: str) -> None:
        self._cli = cli

    def getoption(self, name: str, default: object = None) -> object:
        return self._cli.get(name, default)

    def getini(self, name: str) -> str:
        return ""


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("aks_local_instances", "0", "--aks-local-instances: cannot use '0' (from --aks-local-instances); "
         "expected a whole number >= 1"),
        ("aks_local_max_concurrent", "many", "--aks-local-max-concurrent: cannot use 'many' "
         "(from --aks-local-max-concurrent); expected a whole number >= 1"),
        ("aks_local_request_timeout", "181s", "--aks-local-request-timeout: cannot use '181s' "
         "(from --aks-local-request-timeout); expected a duration > 0 and <= 180s (Azure ML's largest), "
         "e.g. 5s, 500ms"),
    ],
)  # fmt: skip
def test_bad_option_values_are_one_usage_line(name: str, raw: str, expected: str) -> None:
    from pytest_aksload.config.settings import resolve

    with pytest.raises(pytest.UsageError) as error:
        resolve(_Options(aks_local="true", **{name: raw}), environ={})  # type: ignore[arg-type]
    assert str(error.value) == expected


def test_the_options_and_their_defaults() -> None:
    from pytest_aksload.config.settings import resolve

    plain = resolve(_Options(aks_local="true"), environ={})  # type: ignore[arg-type]
    assert (plain.aks_local_instances, plain.aks_local_max_concurrent, plain.aks_local_request_timeout) == (
        1,
        None,
        None,
    )
    given = resolve(
        _Options(
            aks_local="true", aks_local_instances="2", aks_local_max_concurrent="1", aks_local_request_timeout="500ms"
        ),
        environ={},
    )  # type: ignore[arg-type]
    assert (given.aks_local_instances, given.aks_local_max_concurrent, given.aks_local_request_timeout) == (2, 1, 0.5)
