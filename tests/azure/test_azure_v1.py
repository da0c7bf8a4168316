"""`--aks-service`: the real azureml-core (SDK v1) against an in-process Azure (see azure_fakes)."""

from __future__ import annotations

import json
import sys
import time
import warnings

import pytest
from azure_fakes import requires_sdk

requires_sdk("azureml.core")

from pytest_aksload.config.extras import installed  # noqa: E402
from pytest_aksload.targets.azure import v1 as azure_v1  # noqa: E402
from pytest_aksload.targets.azure.v1 import SP_ENV_VARS, interactive_allowed, resolve_aks_service  # noqa: E402
from pytest_aksload.targets.target import TargetError  # noqa: E402

SERVICE = "lightgbm-criteo"
SERVICE_PATH = rf"/modelmanagement/v1\.0/subscriptions/.+/workspaces/ws-criteo/services/{SERVICE}"


pytestmark = pytest.mark.usefixtures("azureml_discovery_cache")


@pytest.fixture
def service_principal(fake_azure, azure_env):
    """The SDK's service-principal variables, as a CI job sets them."""
    values = (fake_azure.tenant_id, fake_azure.client_id, fake_azure.client_secret)
    for var, value in zip(SP_ENV_VARS, values, strict=True):
        azure_env.setenv(var, value)
    azure_env.setenv("CI", "true")
    return fake_azure


class _Stdin:
    """A stdin that is (or is not) a terminal, whatever pytest's capturing or `-s` makes the real one."""

    def __init__(self, tty: bool) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def resolve(workspace_config: str, name: str = SERVICE, **kwargs):
    return resolve_aks_service(name, workspace_config=workspace_config, **kwargs)


def test_key_auth_resolves_scoring_uri_swagger_and_primary_key(service_principal, workspace_config):
    fake = service_principal
    payload = fake.add_aks_service(SERVICE, auth="key")
    primary, secondary = fake.service_keys[SERVICE]

    target = resolve(workspace_config)

    assert target.kind == "aks-service"
    assert target.name == SERVICE
    assert target.scoring_uri == payload["scoringUri"]
    assert target.swagger_uri == payload["scoringUri"].removesuffix("/score") + "/swagger.json"
    assert target.auth_mode == "key"
    assert dict(target.headers()) == {"Authorization": f"Bearer {primary}"}
    for shown in (repr(target), str(target), repr(target.credential), repr(target.headers())):
        assert primary not in shown and secondary not in shown

    # What the SDK sent: a client-credentials grant for ARM with the SP's id and secret ...
    (token_call,) = fake.requests("POST", r"/oauth2/v2\.0/token$")
    assert token_call.form["grant_type"] == ["client_credentials"]
    assert token_call.form["client_id"] == [fake.client_id]
    assert token_call.form["scope"] == ["https://management.core.windows.net//.default"]
    # ... then the workspace from ARM, the service from MMS, and listKeys, all with that ARM token.
    assert fake.requests("GET", r"/workspaces/ws-criteo$")
    (get_call,) = fake.requests("GET", SERVICE_PATH + "$")
    assert get_call.query["expand"] == ["true"]
    (keys_call,) = fake.requests("POST", SERVICE_PATH + "/listkeys$")
    assert keys_call.headers["Authorization"].removeprefix("Bearer ") in fake.arm_tokens
    assert not fake.requests("POST", SERVICE_PATH + "/token$")


def test_token_auth_uses_get_access_token_and_refreshes_through_the_sdk(service_principal, workspace_config):
    fake = service_principal
    fake.add_aks_service(SERVICE, auth="token")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = resolve(workspace_config)
    # get_token() is deprecated and warns; get_access_token() does not.
    assert not [w for w in caught if "get_token" in str(w.message)]

    assert target.auth_mode == "token"
    first = fake.service_tokens[0]
    assert dict(target.headers(refresh=False)) == {"Authorization": f"Bearer {first}"}
    now = time.time()
    assert target.credential.refresh_after == pytest.approx(now + fake.token_refresh_after_s, abs=5)
    assert not target.credential.needs_refresh(now)
    assert target.credential.needs_refresh(target.credential.refresh_after + 1)
    assert not fake.requests("POST", SERVICE_PATH + "/listkeys$")

    target.credential.refresh()

    assert len(fake.requests("POST", SERVICE_PATH + "/token$")) == 2
    assert dict(target.headers(refresh=False)) == {"Authorization": f"Bearer {fake.service_tokens[1]}"}
    assert first not in repr(target) and fake.service_tokens[1] not in repr(target.credential)


def test_token_due_for_refresh_is_fetched_again_before_use(service_principal, workspace_config):
    fake = service_principal
    fake.add_aks_service(SERVICE, auth="token")
    fake.token_refresh_after_s = -1  # the service says: refresh this one right away

    target = resolve(workspace_config)
    headers = target.headers()  # what the runner asks for during a long run

    assert len(fake.service_tokens) == 2
    assert dict(headers) == {"Authorization": f"Bearer {fake.service_tokens[1]}"}


def test_auth_disabled_means_no_header(service_principal, workspace_config):
    fake = service_principal
    fake.add_aks_service(SERVICE, auth="none")

    target = resolve(workspace_config)

    assert target.auth_mode == "none"
    assert dict(target.headers()) == {}
    assert not fake.requests("POST", SERVICE_PATH)


def test_service_not_found_lists_the_services_that_exist(service_principal, workspace_config):
    fake = service_principal
    fake.add_aks_service(SERVICE)
    fake.add_aks_service("lightgbm-criteo-canary")
    fake.add_aci_service("criteo-dev")

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config, name="lightgbm-critea")

    message = str(excinfo.value)
    assert "no web service named 'lightgbm-critea'" in message
    assert "criteo-dev (ACI), lightgbm-criteo (AKS), lightgbm-criteo-canary (AKS)" in message
    assert "\n" not in message
    (list_call,) = fake.requests("GET", r"/workspaces/ws-criteo/services$")
    assert list_call.headers["Authorization"].removeprefix("Bearer ") in fake.arm_tokens


def test_a_service_on_another_compute_type_is_refused(service_principal, workspace_config):
    fake = service_principal
    fake.add_aci_service("criteo-dev")

    with pytest.raises(TargetError, match=r"'criteo-dev' .* runs on ACI, not AKS.*--aks-scoring-uri"):
        resolve(workspace_config, name="criteo-dev")
    assert not fake.requests("POST", r"/listkeys$"), "keys of a service we refused must not be fetched"


@pytest.mark.parametrize("state", ["Failed", "Transitioning", "Unhealthy"])
def test_a_service_that_is_not_healthy_is_refused(service_principal, workspace_config, state):
    fake = service_principal
    fake.add_aks_service(
        SERVICE, state=state, error={"code": "CrashLoopBackOff", "message": "Container exited: init() failed"}
    )

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config)

    assert f"is '{state}', not 'Healthy'" in str(excinfo.value)
    assert "init() failed" in str(excinfo.value)


def test_missing_workspace_config_says_how_to_fix_it(service_principal, tmp_path, monkeypatch):
    empty = tmp_path / "project"
    empty.mkdir()
    monkeypatch.chdir(empty)

    with pytest.raises(TargetError) as excinfo:
        resolve_aks_service(SERVICE)

    message = str(excinfo.value)
    assert "no Azure ML workspace config found" in message
    assert "--aks-workspace-config" in message and "config.json" in message


@pytest.mark.skipif(installed("azure.cli.core"), reason="azure-cli installed here: the CLI login path applies")
def test_neither_config_nor_credentials_names_both_in_one_message(fake_azure, azure_env, tmp_path, monkeypatch):
    empty = tmp_path / "project"
    empty.mkdir()
    monkeypatch.chdir(empty)
    azure_env.setenv("CI", "true")

    with pytest.raises(TargetError) as excinfo:
        resolve_aks_service(SERVICE)

    message = str(excinfo.value)
    assert message.startswith("--aks-service: two things to fix: no Azure ML workspace config found")
    assert "--aks-workspace-config" in message
    assert all(var in message for var in SP_ENV_VARS)
    assert "\n" not in message and fake_azure.calls == []


def test_a_config_in_a_parent_azureml_folder_is_found(service_principal, tmp_path, monkeypatch):
    # The SDK's own search: config.json in a parent's .azureml/ folder counts, as Workspace.from_config finds it.
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(service_principal.workspace_config()))
    nested = tmp_path / "project" / "tests"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    service_principal.add_aks_service(SERVICE, auth="key")

    assert resolve_aks_service(SERVICE).name == SERVICE


def test_a_workspace_config_path_that_does_not_exist_is_named(service_principal, tmp_path):
    missing = tmp_path / "nowhere" / "config.json"

    with pytest.raises(TargetError, match=r"--aks-workspace-config .*nowhere.*: no such file"):
        resolve(str(missing))
    assert service_principal.calls == []


def test_a_workspace_that_does_not_exist_is_reported(service_principal, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(service_principal.workspace_config() | {"workspace_name": "ws-gone"}))

    with pytest.raises(TargetError, match=r"cannot open the Azure ML workspace .*Workspace not found"):
        resolve(str(config))


def test_access_denied_on_the_service_is_one_line_without_tokens(service_principal, workspace_config):
    fake = service_principal
    fake.add_aks_service(SERVICE)
    fake.forbidden.append(SERVICE_PATH + "$")

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config)

    message = str(excinfo.value)
    assert message.startswith(f"--aks-service: cannot read web service '{SERVICE}' in workspace 'ws-criteo': ")
    assert "403" in message and "AuthorizationFailed" in message
    assert "\n" not in message and "Headers:" not in message
    assert not any(token in message for token in fake.arm_tokens)
    assert not fake.requests("POST", r"/listkeys$")


@pytest.mark.parametrize(
    ("auth", "call", "expected"),
    [("key", "/listkeys", "cannot read the keys"), ("token", "/token", "cannot get an access token")],
)
def test_no_permission_for_the_service_credential_is_reported(
    service_principal, workspace_config, auth, call, expected
):
    fake = service_principal
    fake.add_aks_service(SERVICE, auth=auth)
    fake.forbidden.append(SERVICE_PATH + call + "$")

    with pytest.raises(TargetError, match=rf"{expected} of AKS service|{expected} for AKS service") as excinfo:
        resolve(workspace_config)

    assert "\n" not in str(excinfo.value)
    assert not any(token in str(excinfo.value) for token in fake.arm_tokens)


def test_rejected_service_principal_secret_is_reported_without_the_secret(
    service_principal, workspace_config, azure_env
):
    wrong = "not-the-secret-0123456789"
    service_principal.add_aks_service(SERVICE)
    azure_env.setenv("AZUREML_SERVICE_PRINCIPAL_PASSWORD", wrong)

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config)

    message = str(excinfo.value)
    assert "Azure AD did not accept the service principal in AZUREML_SERVICE_PRINCIPAL_*" in message
    assert "AADSTS7000215" in message
    assert wrong not in message
    assert not service_principal.requests("GET", r"/services/"), "nothing past authentication may run"


@pytest.mark.skipif(installed("azure.cli.core"), reason="azure-cli installed here: the CLI login path applies")
@pytest.mark.parametrize(
    ("ci_env", "terminal"),
    [({"CI": "true"}, True), ({"TF_BUILD": "True"}, True), ({}, False)],
    ids=["github-actions", "azure-pipelines", "no-terminal"],
)
def test_ci_without_service_principal_fails_fast_and_never_prompts(
    fake_azure, workspace_config, azure_env, capsys, ci_env, terminal
):
    for var, value in ci_env.items():
        azure_env.setenv(var, value)
    azure_env.setattr(azure_v1.sys, "stdin", _Stdin(terminal))
    fake_azure.add_aks_service(SERVICE)

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config)

    message = str(excinfo.value)
    for var in SP_ENV_VARS:
        assert var in message
    assert fake_azure.calls == [], "no sign-in, no device-code request, no Azure call"
    out, err = capsys.readouterr()
    assert "interactive authentication" not in out + err
    assert "devicelogin" not in out + err


def test_partial_service_principal_settings_name_what_is_missing(fake_azure, workspace_config, azure_env):
    azure_env.setenv("AZUREML_SERVICE_PRINCIPAL_TENANT_ID", fake_azure.tenant_id)
    azure_env.setenv("AZUREML_SERVICE_PRINCIPAL_ID", fake_azure.client_id)

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config)

    assert "AZUREML_SERVICE_PRINCIPAL_PASSWORD not" in str(excinfo.value)
    assert fake_azure.calls == []


def test_missing_sdk_names_the_extra(monkeypatch, fake_azure):
    # Make every azureml module unimportable, as if azureml-core had never been installed.
    for module in [m for m in sys.modules if m == "azureml" or m.startswith("azureml.")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "azureml", None)

    with pytest.raises(TargetError) as excinfo:
        resolve_aks_service(SERVICE)

    assert 'pip install "pytest-aksload[azureml]"' in str(excinfo.value)
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__
    assert fake_azure.calls == []


@pytest.mark.parametrize(
    ("env", "explicit", "stdin_tty", "expected"),
    [
        ({}, None, True, True),
        ({}, None, False, False),
        ({"CI": "true"}, None, True, False),
        ({"CI": "false"}, None, True, True),
        ({"TF_BUILD": "True"}, None, True, False),
        ({"CI": "true"}, True, False, True),
        ({}, False, True, False),
    ],
)
def test_interactive_allowed(azure_env, monkeypatch, env, explicit, stdin_tty, expected):
    for var, value in env.items():
        azure_env.setenv(var, value)
    monkeypatch.setattr(azure_v1.sys, "stdin", _Stdin(stdin_tty))
    assert interactive_allowed(explicit) is expected


# ---- the service's settings (aks_target.deployment) ---------------------------------------------


def test_an_autoscaled_service_s_settings_are_read_with_their_sources(service_principal, workspace_config):
    payload = service_principal.add_aks_service(SERVICE, auth="key")
    payload.update(maxConcurrentRequestsPerContainer=2, scoringTimeoutMs=8000, maxQueueWaitMs=750)
    payload["autoScaler"].update(minReplicas=2, maxReplicas=6, targetUtilization=60)

    deployment = resolve(workspace_config).deployment

    assert deployment.kind == "aks-v1"
    assert (deployment.name, deployment.model) == (SERVICE, "lightgbm-criteo:3")
    assert deployment.instance_type == "0.5 CPU cores, 1 GB memory"
    assert (deployment.instances, deployment.min_instances, deployment.max_instances) == (None, 2, 6)
    assert deployment.target_utilization == pytest.approx(0.60) and deployment.autoscaled
    assert deployment.max_concurrent_per_instance == 2
    assert (deployment.request_timeout_s, deployment.max_queue_wait_s) == (8.0, 0.75)
    assert deployment.source("max_instances") == "AksWebservice.autoscaler.max_replicas"
    assert deployment.source("max_concurrent_per_instance") == (
        "AksWebservice.max_concurrent_requests_per_container (replica_max_concurrent_requests)"
    )
    assert deployment.source("request_timeout_s") == "AksWebservice.scoring_timeout_ms"
    assert deployment.note is None


def test_a_service_with_fixed_replicas(service_principal, workspace_config):
    payload = service_principal.add_aks_service(SERVICE, auth="key")
    payload["autoScaler"]["autoscaleEnabled"] = False
    payload.update(numReplicas=3, maxConcurrentRequestsPerContainer=None, models=[])

    deployment = resolve(workspace_config).deployment

    assert (deployment.instances, deployment.min_instances, deployment.max_instances) == (3, None, None)
    assert deployment.source("instances") == "AksWebservice.num_replicas"
    assert deployment.max_concurrent_per_instance is None and deployment.model is None  # not carried: unknown
    assert deployment.target_utilization is None
