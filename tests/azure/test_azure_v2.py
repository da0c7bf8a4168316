"""`--aml-endpoint`: the real azure-ai-ml (SDK v2) against an in-process Azure (see azure_fakes)."""

from __future__ import annotations

import json
import sys
import time

import pytest
from azure_fakes import requires_sdk

requires_sdk("azure.ai.ml")

from azure.core.credentials import AccessToken  # noqa: E402

from pytest_aksload.targets.azure.v2 import resolve_aml_endpoint  # noqa: E402
from pytest_aksload.targets.target import TargetError  # noqa: E402

ENDPOINT = "lightgbm-criteo"
ENDPOINT_PATH = rf"/workspaces/ws-criteo/onlineEndpoints/{ENDPOINT}"
ML_SCOPE = "https://ml.azure.com/.default"


class FakeAzureCredential:
    """An azure-core `TokenCredential` whose tokens come from the fake Azure AD: the auth seam.

    Everything behind it (MLClient, its pipeline, the REST operations) is the real SDK.
    """

    def __init__(self, fake, lifetime_s: int = 3600) -> None:
        self.fake = fake
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        audience = scopes[0].removesuffix(".default")
        return AccessToken(self.fake.issue_arm_token(audience), int(time.time()) + self.lifetime_s)


@pytest.fixture
def credential(fake_azure) -> FakeAzureCredential:
    return FakeAzureCredential(fake_azure)


def resolve(workspace_config, credential, name=ENDPOINT, **kwargs):
    return resolve_aml_endpoint(name, workspace_config=workspace_config, credential=credential, **kwargs)


def test_key_auth(fake_azure, workspace_config, credential):
    endpoint = fake_azure.add_online_endpoint(ENDPOINT, auth_mode="key")
    primary, secondary = fake_azure.endpoint_keys[ENDPOINT]

    target = resolve(workspace_config, credential)

    assert target.kind == "aml-endpoint"
    assert target.name == ENDPOINT
    assert target.scoring_uri == endpoint["properties"]["scoringUri"]
    assert target.swagger_uri == endpoint["properties"]["swaggerUri"]
    assert target.auth_mode == "key"
    assert dict(target.headers()) == {"Authorization": f"Bearer {primary}"}
    assert dict(target.extra_headers) == {}
    for shown in (repr(target), str(target), repr(target.credential), repr(target.headers())):
        assert primary not in shown and secondary not in shown
    assert fake_azure.requests("GET", ENDPOINT_PATH + "$")
    (keys_call,) = fake_azure.requests("POST", ENDPOINT_PATH + "/listKeys$")
    assert keys_call.headers["Authorization"].removeprefix("Bearer ") in fake_azure.arm_tokens
    assert keys_call.query["api-version"]
    assert ("https://management.azure.com/.default",) in credential.scopes


def test_default_azure_credential_signs_in_with_service_principal_env_vars(fake_azure, workspace_config, azure_sp_env):
    fake_azure.add_online_endpoint(ENDPOINT, auth_mode="key")

    target = resolve_aml_endpoint(ENDPOINT, workspace_config=workspace_config)

    assert target.auth_mode == "key"
    token_calls = fake_azure.requests("POST", r"/oauth2/v2\.0/token$")
    assert token_calls and token_calls[0].form["client_id"] == [fake_azure.client_id]
    assert token_calls[0].form["scope"] == ["https://management.azure.com/.default"]


def test_rejected_client_secret_is_reported_with_the_fix(fake_azure, workspace_config, azure_env):
    wrong = "not-the-secret-0123456789"
    for var, value in {
        "AZURE_TENANT_ID": fake_azure.tenant_id,
        "AZURE_CLIENT_ID": fake_azure.client_id,
        "AZURE_CLIENT_SECRET": wrong,
    }.items():
        azure_env.setenv(var, value)
    fake_azure.add_online_endpoint(ENDPOINT)

    with pytest.raises(TargetError) as excinfo:
        resolve_aml_endpoint(ENDPOINT, workspace_config=workspace_config)

    message = str(excinfo.value)
    assert "no accepted Azure credential" in message and "AZURE_CLIENT_SECRET" in message
    assert wrong not in message and "\n" not in message
    assert not fake_azure.requests("GET", ENDPOINT_PATH)


def test_no_credential_at_all_fails_without_prompting(fake_azure, workspace_config, azure_env):
    # DefaultAzureCredential tries env vars, managed identity (its probe is refused: no network),
    # the az/azd/pwsh CLIs (not signed in here) and gives up; it never opens a browser.
    azure_env.setenv("PATH", "/nonexistent")
    fake_azure.add_online_endpoint(ENDPOINT)

    with pytest.raises(TargetError) as excinfo:
        resolve_aml_endpoint(ENDPOINT, workspace_config=workspace_config)

    message = str(excinfo.value)
    assert "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET" in message
    assert not fake_azure.requests("GET", ENDPOINT_PATH)


@pytest.mark.parametrize("auth_mode", ["aml_token", "aad_token"])
def test_token_auth_refreshes_through_the_sdk(fake_azure, workspace_config, credential, auth_mode):
    fake_azure.add_online_endpoint(ENDPOINT, auth_mode=auth_mode)

    target = resolve(workspace_config, credential)

    assert target.auth_mode == "token"
    now = time.time()
    if auth_mode == "aml_token":
        # The endpoint's own token (POST .../token) says when to refresh it.
        expected_refresh = now + fake_azure.token_refresh_after_s
    else:
        # An Azure AD token for Azure ML's audience carries only its expiry: refresh 5 min before.
        expected_refresh = now + credential.lifetime_s - 300
    assert target.credential.refresh_after == pytest.approx(expected_refresh, abs=5)
    first = dict(target.headers(refresh=False))["Authorization"].removeprefix("Bearer ")
    assert not fake_azure.requests("POST", ENDPOINT_PATH + "/listKeys$")
    assert not target.credential.needs_refresh(now)
    assert target.credential.needs_refresh(target.credential.refresh_after + 1)

    target.credential.refresh()

    second = dict(target.headers(refresh=False))["Authorization"].removeprefix("Bearer ")
    assert second != first
    assert first not in repr(target) and second not in repr(target.credential)
    token_calls = fake_azure.requests("POST", ENDPOINT_PATH + "/token$")
    if auth_mode == "aml_token":
        assert fake_azure.endpoint_tokens == [first, second]
        assert len(token_calls) == 2
        assert all(c.headers["Authorization"].removeprefix("Bearer ") in fake_azure.arm_tokens for c in token_calls)
    else:
        assert credential.scopes.count((ML_SCOPE,)) == 2
        assert not token_calls


def test_deployment_sets_the_routing_header(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100, "green": 0})

    target = resolve(workspace_config, credential, deployment="green")

    assert dict(target.extra_headers) == {"azureml-model-deployment": "green"}
    primary, _ = fake_azure.endpoint_keys[ENDPOINT]
    assert dict(target.headers()) == {"azureml-model-deployment": "green", "Authorization": f"Bearer {primary}"}
    assert "azureml-model-deployment" in repr(target.headers())
    assert fake_azure.requests("GET", ENDPOINT_PATH + "/deployments/green$")


def test_unknown_deployment_lists_the_existing_ones(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 90, "green": 10})

    with pytest.raises(TargetError, match=r"no deployment named 'red'; existing deployments: blue, green$"):
        resolve(workspace_config, credential, deployment="red")
    assert not fake_azure.requests("POST", ENDPOINT_PATH + "/listKeys$")


def test_a_deployment_that_did_not_succeed_is_refused(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100}, deployment_states={"green": "Failed"})

    with pytest.raises(TargetError, match=r"deployment 'green' .* is 'Failed', not 'Succeeded'"):
        resolve(workspace_config, credential, deployment="green")


def test_endpoint_without_traffic_needs_a_deployment(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 0})

    with pytest.raises(TargetError, match=r"routes no traffic .*deployments: blue.*--aml-deployment"):
        resolve(workspace_config, credential)


def test_endpoint_not_found_lists_the_existing_ones(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT)
    fake_azure.add_online_endpoint("criteo-canary")

    with pytest.raises(TargetError) as excinfo:
        resolve(workspace_config, credential, name="lightgbm-critea")

    message = str(excinfo.value)
    assert "no online endpoint named 'lightgbm-critea' in workspace 'ws-criteo'" in message
    assert message.endswith("existing endpoints: criteo-canary, lightgbm-criteo")
    assert fake_azure.requests("GET", r"/workspaces/ws-criteo/onlineEndpoints$")


def test_endpoint_still_provisioning_is_refused(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, state="Updating")

    with pytest.raises(TargetError, match=r"'lightgbm-criteo' is 'Updating', not 'Succeeded'"):
        resolve(workspace_config, credential)


def test_a_workspace_that_does_not_exist_is_reported(fake_azure, tmp_path, credential):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(fake_azure.workspace_config() | {"workspace_name": "ws-gone"}))

    with pytest.raises(TargetError, match=r"workspace 'ws-gone' .* not found; check .*config\.json"):
        resolve(str(config), credential)


def test_missing_workspace_config_says_how_to_fix_it(fake_azure, credential, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)

    with pytest.raises(TargetError) as excinfo:
        resolve_aml_endpoint(ENDPOINT, credential=credential)

    message = str(excinfo.value)
    assert "no Azure ML workspace config found" in message and "--aks-workspace-config" in message
    assert fake_azure.calls == []


def test_missing_sdk_names_the_extra(monkeypatch, fake_azure, credential):
    # As if azure-ai-ml had never been installed (azure-core, a dependency of much else, stays).
    for module in [m for m in sys.modules if m == "azure.ai.ml" or m.startswith("azure.ai.ml.")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "azure.ai.ml", None)

    with pytest.raises(TargetError) as excinfo:
        resolve_aml_endpoint(ENDPOINT, credential=credential)

    assert 'pip install "pytest-aksload[azureml-v2]"' in str(excinfo.value)
    assert fake_azure.calls == []


# ---- the deployment's settings (aks_target.deployment) ------------------------------------------

READ = "online_deployments.get: "


def test_a_managed_deployment_s_settings_are_read_with_their_sources(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100})
    fake_azure.configure_deployment(
        ENDPOINT, "blue", capacity=3, instanceType="Standard_F4s_v2",
        requestSettings={"maxConcurrentRequestsPerInstance": 4, "requestTimeout": "PT12.5S", "maxQueueWait": "PT2S"},
    )  # fmt: skip

    deployment = resolve(workspace_config, credential, deployment="blue").deployment

    assert deployment.kind == "managed"
    assert (deployment.name, deployment.model, deployment.instance_type) == (
        "blue",
        "lightgbm-criteo:1",
        "Standard_F4s_v2",
    )
    assert (deployment.instances, deployment.min_instances, deployment.max_instances) == (3, None, None)
    assert deployment.max_concurrent_per_instance == 4
    assert (deployment.request_timeout_s, deployment.max_queue_wait_s) == (12.5, 2.0)
    assert deployment.target_utilization is None and not deployment.autoscaled
    assert deployment.source("instances") == READ + "instance_count"
    assert deployment.source("max_concurrent_per_instance") == (
        READ + "request_settings.max_concurrent_requests_per_instance"
    )
    assert (
        deployment.source("request_timeout_s")
        == READ + "request_settings.request_timeout_ms (exact, from the response)"
    )
    assert deployment.source("target_utilization") is None and deployment.note is None


def test_without_aml_deployment_the_deployment_taking_all_traffic_is_read(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 0, "green": 100})
    fake_azure.configure_deployment(ENDPOINT, "green", capacity=2)

    deployment = resolve(workspace_config, credential).deployment

    assert (deployment.name, deployment.instances, deployment.max_concurrent_per_instance) == ("green", 2, 1)
    # Azure's defaults as the deployment carries them; PT0.5S stays 0.5 s (azure-ai-ml alone makes it 0 ms).
    assert (deployment.request_timeout_s, deployment.max_queue_wait_s) == (5.0, 0.5)
    assert fake_azure.requests("GET", ENDPOINT_PATH + "/deployments/green$")


def test_split_traffic_leaves_the_settings_unknown_with_a_note(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 90, "green": 10})

    deployment = resolve(workspace_config, credential).deployment

    assert deployment.instances is None and deployment.max_concurrent_per_instance is None
    assert deployment.note == "traffic split (blue 90%, green 10%): pass --aml-deployment NAME to read one"
    assert not fake_azure.requests("GET", ENDPOINT_PATH + "/deployments/")


def test_a_kubernetes_deployment_with_target_utilization_scaling(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100})
    fake_azure.configure_deployment(
        ENDPOINT, "blue", compute="Kubernetes", capacity=2, instanceType="defaultinstancetype",
        scaleSettings={"scaleType": "TargetUtilization", "minInstances": 2, "maxInstances": 8,
                       "targetUtilizationPercentage": 70, "pollingInterval": "PT1S"},
    )  # fmt: skip

    deployment = resolve(workspace_config, credential, deployment="blue").deployment

    assert deployment.kind == "kubernetes"
    # The instance count of an autoscaled deployment is a moment's, not a setting: unknown.
    assert (deployment.instances, deployment.min_instances, deployment.max_instances) == (None, 2, 8)
    assert deployment.target_utilization == pytest.approx(0.70) and deployment.autoscaled
    assert deployment.source("max_instances") == READ + "scale_settings.max_instances"
    assert deployment.instance_type == "defaultinstancetype"


def test_settings_the_deployment_does_not_carry_are_unknown_not_defaulted(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100})
    fake_azure.configure_deployment(ENDPOINT, "blue", requestSettings=None, model=None, instanceType=None)

    deployment = resolve(workspace_config, credential, deployment="blue").deployment

    assert deployment.max_concurrent_per_instance is None  # Azure's default is 1, but nobody said so
    assert deployment.request_timeout_s is None and deployment.max_queue_wait_s is None
    assert deployment.model is None and deployment.instance_type is None
    assert deployment.instances == 1 and "max_concurrent_per_instance" not in deployment.sources


def test_a_model_from_a_registry_is_named_with_its_version(fake_azure, workspace_config, credential):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100})
    model = "azureml://registries/azureml/models/lightgbm-criteo/versions/7"
    fake_azure.configure_deployment(ENDPOINT, "blue", model=model)

    assert resolve(workspace_config, credential, deployment="blue").deployment.model == "lightgbm-criteo:7"


@pytest.mark.parametrize("deployment", ["blue", None])
def test_a_deployment_the_identity_may_not_read_is_unknown_with_a_note(
    fake_azure, workspace_config, credential, deployment
):
    fake_azure.add_online_endpoint(ENDPOINT, traffic={"blue": 100})
    fake_azure.forbidden.append(ENDPOINT_PATH + "/deployments/blue$")

    target = resolve(workspace_config, credential, deployment=deployment)

    assert fake_azure.requests("GET", ENDPOINT_PATH + "/deployments/blue$")  # it was asked, and refused
    settings = target.deployment
    assert settings.name == "blue" and settings.instances is None and settings.max_concurrent_per_instance is None
    assert settings.note.startswith("deployment 'blue' of endpoint 'lightgbm-criteo' could not be read (")
    assert "AuthorizationFailed" in settings.note or "authorization" in settings.note
    assert settings.note.endswith("; its settings are unknown") and "\n" not in settings.note
    assert target.auth_mode == "key"  # the gate goes on
