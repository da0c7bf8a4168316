"""`aks_target.deployment` without Azure: `--aks-deployment-settings` (parsing, one-line errors,
precedence), what it fills, the local service's settings, the header line and the report fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.deployment_settings import (
    KEYS,
    STATED_KINDS,
    DeploymentSettingsError,
    parse_deployment_settings,
)
from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.config.settings import Settings, resolve
from pytest_aksload.run.preload import throttling_ceiling
from pytest_aksload.targets.deployment import (
    FIELDS,
    KINDS,
    Deployment,
    deployment_fields,
    describe,
    local_deployment,
    stated_deployment,
    with_stated,
)
from pytest_aksload.targets.resolve import resolve_target

ACCEPTED_KEYS = (
    "name, model, instance_type, instances, min_instances, max_instances, max_concurrent, request_timeout, "
    "max_queue_wait, target_utilization, kind"
)


class _Config:
    """What `settings.resolve` reads of a pytest config: option values and ini values."""

    def __init__(self, cli: dict[str, str] | None = None, ini: dict[str, str] | None = None) -> None:
        self._cli, self._ini = cli or {}, ini or {}
        self.rootpath = Path.cwd()

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._cli.get(name, default)

    def getini(self, name: str) -> str:
        return self._ini.get(name, "")


def test_every_key_reads_into_its_field() -> None:
    spec = (
        "name=blue, model=lightgbm-criteo:3 instance_type=Standard_DS3_v2, instances=3, min_instances=1,"
        "max_instances=5, max_concurrent=2, request_timeout=5s, max_queue_wait=500ms, target_utilization=70%,"
        "kind=aks-v1"
    )
    assert dict(parse_deployment_settings(spec)) == {
        "name": "blue",
        "model": "lightgbm-criteo:3",
        "instance_type": "Standard_DS3_v2",
        "instances": 3,
        "min_instances": 1,
        "max_instances": 5,
        "max_concurrent_per_instance": 2,
        "request_timeout_s": 5.0,
        "max_queue_wait_s": 0.5,
        "target_utilization": 0.7,
        "kind": "aks-v1",
    }
    assert dict(parse_deployment_settings("target_utilization=0.25")) == {"target_utilization": 0.25}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (" , ", "no setting given"),
        ("instnces=3", "unknown key 'instnces'"),
        ("instances", "unknown key 'instances'"),
        ("instances=0", "instances='0': use a whole number >= 1"),
        ("instances=2.5", "instances='2.5': use a whole number >= 1"),
        ("max_concurrent=-1", "max_concurrent='-1': use a whole number >= 1"),
        ("request_timeout=soon", "request_timeout='soon': use a duration, e.g. 5s, 500ms"),
        ("target_utilization=170%", "target_utilization='170%': use a fraction in (0, 1] or a percentage"),
        ("target_utilization=0", "target_utilization='0': use a fraction in (0, 1]"),
        ("kind=serverless", "kind='serverless': use managed or kubernetes or aks-v1"),
        ("instances=2 instances=3", "instances is given twice"),
        ("min_instances=4, max_instances=2", "min_instances=4 is above max_instances=2"),
    ],
)
def test_a_bad_key_or_value_is_named(spec: str, message: str) -> None:
    with pytest.raises(DeploymentSettingsError) as error:
        parse_deployment_settings(spec)
    assert message in str(error.value)


@pytest.mark.parametrize(("source", "named"), [("cli", "--aks-deployment-settings"), ("ini", "ini key")])
def test_a_bad_setting_is_one_usage_line_listing_the_accepted_keys(source: str, named: str) -> None:
    given = {"aks_deployment_settings": "instances=3, max_concurent=2"}
    config = _Config(cli=given) if source == "cli" else _Config(ini=given)
    with pytest.raises(pytest.UsageError) as error:
        resolve(config, environ={})  # type: ignore[arg-type]
    message = str(error.value)
    assert "\n" not in message and named in message
    assert message.startswith("--aks-deployment-settings: cannot use 'instances=3, max_concurent=2' (from ")
    assert "unknown key 'max_concurent'" in message and f"KEY one of {ACCEPTED_KEYS}" in message


def test_the_environment_variable_follows_from_the_option_name() -> None:
    settings = resolve(_Config(), environ={"AKSLOAD_DEPLOYMENT_SETTINGS": "instances=2"})  # type: ignore[arg-type]
    assert settings.aks_deployment_settings == (("instances", 2),)
    cli = _Config(cli={"aks_deployment_settings": "instances=4"}, ini={"aks_deployment_settings": "instances=1"})
    assert resolve(cli, environ={"AKSLOAD_DEPLOYMENT_SETTINGS": "instances=2"}).aks_deployment_settings == (  # type: ignore[arg-type]
        ("instances", 4),
    )


def _stated(spec: str) -> Settings:
    return Settings(aks_scoring_uri="http://127.0.0.1:1/score", aks_deployment_settings=parse_deployment_settings(spec))


def test_a_scoring_uri_s_deployment_is_what_the_user_states_and_nothing_else() -> None:
    target = resolve_target(_stated("instances=1, max_concurrent=2"), lambda _finalizer: None, environ={})
    assert target is not None
    deployment = target.deployment
    assert deployment == Deployment(
        kind="stated",
        instances=1,
        max_concurrent_per_instance=2,
        sources={"instances": "--aks-deployment-settings", "max_concurrent_per_instance": "--aks-deployment-settings"},
    )
    assert deployment.request_timeout_s is None and deployment.source("request_timeout_s") is None
    bare = resolve_target(Settings(aks_scoring_uri="http://127.0.0.1:1/score"), lambda _f: None, environ={})
    assert bare is not None and bare.deployment == Deployment(kind="stated")
    assert describe(bare.deployment) == "stated: settings unknown"


def test_every_stated_key_is_a_deployment_field_and_every_stated_kind_a_kind() -> None:
    assert {field for field, _parse, _form in KEYS.values()} == {*FIELDS, "kind"}
    assert set(STATED_KINDS) < set(KINDS)


def test_kind_may_be_stated() -> None:
    deployment = stated_deployment(_stated("kind=aks-v1, instances=2"))
    assert deployment.kind == "aks-v1" and deployment.source("kind") == "--aks-deployment-settings"


def test_stated_settings_fill_what_a_target_could_not_read_never_what_it_did() -> None:
    read = Deployment.read("managed", {"instances": (3, "sdk"), "max_concurrent_per_instance": (None, "sdk")})
    filled = with_stated(read, _stated("instances=1, max_concurrent=4, kind=aks-v1"))
    assert (filled.kind, filled.instances, filled.max_concurrent_per_instance) == ("managed", 3, 4)
    assert filled.sources == {"instances": "sdk", "max_concurrent_per_instance": "--aks-deployment-settings"}
    assert with_stated(read, Settings()) is read


def test_the_local_service_without_a_ceiling_has_one_instance_and_no_concurrency_limit() -> None:
    deployment = local_deployment(Settings(aks_local=True), LocalServiceSettings())
    assert deployment.kind == "local" and deployment.instances == 1
    assert deployment.max_concurrent_per_instance is None  # no ceiling: nothing to check against
    assert deployment.request_timeout_s == 3600.0 and "SCORING_TIMEOUT_MS" in deployment.source("request_timeout_s")
    assert deployment.name is None


def test_the_local_service_with_a_ceiling_is_a_deployment_with_those_settings() -> None:
    settings = Settings(aks_local=True, aks_local_instances=2, aks_local_max_concurrent=3)
    local = LocalServiceSettings(instances=2, max_concurrent=3)
    deployment = local_deployment(settings, local)
    assert (deployment.instances, deployment.max_concurrent_per_instance) == (2, 3)
    assert deployment.request_timeout_s == 5.0  # Azure's default, which the local front enforces
    assert "--aks-local-max-concurrent" in deployment.source("max_concurrent_per_instance")
    ceiling = throttling_ceiling(deployment)
    assert ceiling is not None and ceiling.requests == 12  # 2 x 3 x 2 instances, as the local front answers 429


def test_the_header_line_names_what_is_known() -> None:
    deployment = Deployment.read(
        "managed",
        {
            "name": ("blue", "s"),
            "model": ("lightgbm-criteo:1", "s"),
            "instance_type": ("Standard_DS3_v2", "s"),
            "instances": (2, "s"),
            "max_concurrent_per_instance": (1, "s"),
            "request_timeout_s": (5.0, "s"),
        },
    )
    assert describe(deployment) == (
        "managed: deployment blue, model lightgbm-criteo:1, Standard_DS3_v2, 2 instances, "
        "max 1 concurrent per instance, request timeout 5s"
    )
    scaled = Deployment(kind="kubernetes", min_instances=2, max_instances=8, target_utilization=0.7, note="why")
    assert describe(scaled) == "kubernetes: autoscale 2-8 instances at 70% utilization (why)"


def test_report_fields_hold_every_field_its_source_and_the_note() -> None:
    deployment = Deployment.read("aks-v1", {"instances": (3, "AksWebservice.num_replicas")}, note=None)
    fields = deployment_fields(deployment)
    assert list(fields) == ["kind", *FIELDS, "sources", "note"]
    assert fields["kind"] == "aks-v1" and fields["instances"] == 3 and fields["max_instances"] is None
    assert fields["sources"] == {"instances": "AksWebservice.num_replicas"} and fields["note"] is None
