"""End to end through each SDK: an inner pytest run resolves `--aks-service` / `--aml-endpoint`
with the real SDK (Azure answered in-process, see azure_fakes) and load-tests a loopback scoring
server with the resolved URI and auth."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from azure_fakes import requires_sdk

requires_sdk("azureml.core")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the loopback servers
from loopback_servers import ScoringServer  # noqa: E402

from pytest_aksload.targets.azure.v1 import SP_ENV_VARS  # noqa: E402

SERVICE = "lightgbm-criteo"

GATE = """
import pytest

@pytest.mark.load_test(users=3, spawn_rate=10, duration="{duration}")
def test_gate(load_result, aks_target):
    # A few seconds of load cannot prove an SLO (it would be INCONCLUSIVE): check the counts.
    assert load_result.requests > 0 and load_result.failures == 0, load_result.errors
    print("RESOLVED", aks_target.kind, aks_target.auth_mode, aks_target.scoring_uri)
"""


@pytest.fixture
def service_principal(fake_azure, azure_env, azureml_discovery_cache):
    secrets = (fake_azure.tenant_id, fake_azure.client_id, fake_azure.client_secret)
    for var, value in zip(SP_ENV_VARS, secrets, strict=True):
        azure_env.setenv(var, value)
    azure_env.setenv("CI", "true")
    return fake_azure


def _bearers(server: ScoringServer) -> set[str]:
    return {(r.authorization or "").removeprefix("Bearer ") for r in server.scoring_requests()}


def test_aks_service_with_key_auth_gates_the_resolved_endpoint(
    pytester: pytest.Pytester, service_principal, workspace_config: str
) -> None:
    fake = service_principal
    fake.add_aks_service(SERVICE, auth="key")
    primary, _ = fake.service_keys[SERVICE]
    pytester.makepyfile(GATE.format(duration="2s"))
    with ScoringServer() as server:
        fake.services[SERVICE]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess("--aks-service", SERVICE, "--aks-workspace-config", workspace_config, "-s")
        bearers = _bearers(server)
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines([f"*RESOLVED aks-service key {server.url}*"])
    assert bearers == {primary}, "every request, pre-flight and load, carries the service's primary key"
    assert primary not in run.stdout.str() + run.stderr.str()


def test_aks_service_token_is_refreshed_during_the_run_and_reaches_the_child(
    pytester: pytest.Pytester, service_principal, workspace_config: str
) -> None:
    fake = service_principal
    fake.add_aks_service(SERVICE, auth="token")
    # The service asks for a new token every 0.5 s: ~10 over the 5 s run where 3 are needed, so a
    # slow child start on a busy host still leaves several refreshes inside the load.
    fake.token_refresh_after_s = 0.5
    pytester.makepyfile(GATE.format(duration="5s"))
    with ScoringServer() as server:
        fake.services[SERVICE]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess("--aks-service", SERVICE, "--aks-workspace-config", workspace_config)
        bearers = _bearers(server)
    run.assert_outcomes(passed=1)
    # Fetched through the SDK (POST .../token) in the pytest process, handed to the Locust child.
    assert len(fake.service_tokens) >= 3
    assert len(bearers) >= 3 and bearers <= set(fake.service_tokens)
    output = run.stdout.str() + run.stderr.str()
    assert not [token for token in fake.service_tokens if token in output]


def test_aml_endpoint_with_deployment_header_gates_the_resolved_endpoint(
    pytester: pytest.Pytester, fake_azure, azure_sp_env, workspace_config: str
) -> None:
    pytest.importorskip("azure.ai.ml", reason="the SDK v2 end-to-end test needs the azureml-v2 extra")
    fake_azure.add_online_endpoint(SERVICE, auth_mode="key", traffic={"blue": 100, "green": 0})
    primary, _ = fake_azure.endpoint_keys[SERVICE]
    pytester.makepyfile(GATE.format(duration="2s"))
    with ScoringServer() as server:
        fake_azure.endpoints[SERVICE]["properties"]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess(
            "--aml-endpoint", SERVICE, "--aml-deployment", "green", "--aks-workspace-config", workspace_config, "-s"
        )
        received = server.scoring_requests()
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines([f"*RESOLVED aml-endpoint key {server.url}*"])
    assert {r.authorization for r in received} == {f"Bearer {primary}"}
    assert {r.headers.get("azureml-model-deployment") for r in received} == {"green"}
    assert primary not in run.stdout.str() + run.stderr.str()


SIDE_BY_SIDE_GATE = """
import pytest

@pytest.mark.load_test(users=4, spawn_rate=20, duration="3s", wait=(0.01, 0.02), slo=["agreement >= 50%"])
def test_gate(load_result):
    assert load_result.requests > 0 and load_result.against.requests > 0, load_result.errors
    assert load_result.failures == 0 and load_result.against.failures == 0
"""


def test_aml_endpoint_side_by_side_sends_each_batch_to_both_deployments(
    pytester: pytest.Pytester, fake_azure, azure_sp_env, workspace_config: str
) -> None:
    """--aks-against resolves the other deployment through the SDK too, and every request carries the
    routing header of its side with the endpoint's key."""
    pytest.importorskip("azure.ai.ml", reason="the SDK v2 end-to-end test needs the azureml-v2 extra")
    fake_azure.add_online_endpoint(SERVICE, auth_mode="key", traffic={"blue": 100, "green": 0})
    primary, _ = fake_azure.endpoint_keys[SERVICE]
    pytester.makepyfile(SIDE_BY_SIDE_GATE)
    options = ("--aml-endpoint", SERVICE, "--aks-workspace-config", workspace_config, "--aml-deployment", "green")
    with ScoringServer() as server:
        fake_azure.endpoints[SERVICE]["properties"]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess(*options, "--aks-against", "blue")
        received = server.scoring_requests()
        missing = pytester.runpytest_inprocess(*options, "--aks-against", "purple")
    run.assert_outcomes(passed=1)
    sides = [r.headers.get("azureml-model-deployment") for r in received]
    assert set(sides) == {"green", "blue"} and abs(sides.count("green") - sides.count("blue")) <= 8
    assert {r.authorization for r in received} == {f"Bearer {primary}"}
    assert primary not in run.stdout.str() + run.stderr.str()
    missing.assert_outcomes(errors=1)  # like a target that cannot be resolved: nothing was measured
    missing.stdout.fnmatch_lines(["*--aks-against: endpoint * has no deployment named 'purple'; existing deployments*"])


def test_aml_endpoint_settings_read_by_the_sdk_are_shown_and_checked_before_the_load(
    pytester: pytest.Pytester, fake_azure, azure_sp_env, workspace_config: str
) -> None:
    pytest.importorskip("azure.ai.ml", reason="the SDK v2 end-to-end test needs the azureml-v2 extra")
    fake_azure.add_online_endpoint(SERVICE, auth_mode="key", traffic={"blue": 100})
    fake_azure.configure_deployment(SERVICE, "blue", capacity=1)  # max_concurrent_requests_per_instance 1
    pytester.makepyfile(GATE.format(duration="2s"))
    with ScoringServer() as server:
        fake_azure.endpoints[SERVICE]["properties"]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess("--aml-endpoint", SERVICE, "--aks-workspace-config", workspace_config)
    run.assert_outcomes(passed=1, warnings=1)
    output = " ".join(run.stdout.str().split())
    assert (
        f"aksload target: {SERVICE} (aml-endpoint); managed: deployment blue, model lightgbm-criteo:1, "
        "Standard_DS3_v2, 1 instance, max 1 concurrent per instance, request timeout 5s, max queue wait 0.5s"
    ) in output
    assert (
        "3 users can hold 3 requests in flight; this deployment throttles (429) above 2 "
        "(2 × max_concurrent_requests_per_instance 1 × 1 instance)"
    ) in output


def test_a_deployment_the_identity_may_not_read_is_one_note_and_the_gate_goes_on(
    pytester: pytest.Pytester, fake_azure, azure_sp_env, workspace_config: str
) -> None:
    pytest.importorskip("azure.ai.ml", reason="the SDK v2 end-to-end test needs the azureml-v2 extra")
    fake_azure.add_online_endpoint(SERVICE, auth_mode="key", traffic={"blue": 100})
    fake_azure.forbidden.append(rf"/onlineEndpoints/{SERVICE}/deployments/blue$")
    pytester.makepyfile(
        GATE.format(duration="2s")
        + "\n\n@pytest.mark.load_test(users=3, spawn_rate=10, duration='1s')\ndef test_again(load_result):\n    pass\n"
    )
    with ScoringServer() as server:
        fake_azure.endpoints[SERVICE]["properties"]["scoringUri"] = server.url
        run = pytester.runpytest_inprocess(
            "--aml-endpoint", SERVICE, "--aml-deployment", "blue", "--aks-workspace-config", workspace_config
        )
    run.assert_outcomes(passed=2, warnings=1)  # the note once a session, no ceiling check
    output = " ".join(run.stdout.str().split())
    assert "aksload: deployment 'blue' of endpoint 'lightgbm-criteo' could not be read (" in output
    assert "managed: deployment blue (deployment 'blue' of endpoint" in output  # the header line
    assert "throttles (429)" not in output
