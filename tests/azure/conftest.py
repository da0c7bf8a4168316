"""Fixtures for the Azure ML resolver tests: the real SDKs, with Azure answered in-process.

The main test environment (the embedded inference server) cannot install azure-ai-ml, so every
SDK test module here starts with `azure_fakes.requires_sdk(...)`, which skips it, with the install
command as the reason, when its SDK or `responses` is missing. (A skip raised in this conftest
would not do: when the directory is named on the command line, pytest loads this file before
collection and reports such a skip as a crash.) Hence also no SDK import at module level here.
"""

from __future__ import annotations

import json

import pytest

# Variables either SDK would pick up from the developer's shell; each test starts without them.
_AMBIENT_AZURE_ENV = (
    "AZUREML_SERVICE_PRINCIPAL_TENANT_ID",
    "AZUREML_SERVICE_PRINCIPAL_ID",
    "AZUREML_SERVICE_PRINCIPAL_PASSWORD",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_SUBSCRIPTION_ID",
    "AZUREML_DISCOVERY_SERVICE_ENDPOINT",
    "AZUREML_MMS_TEST_ENDPOINT",
    "AZUREML_EXPERIMENTATION_HOST",
    "AZUREML_SERVICE_ENDPOINT",
    "AZUREML_ARM_TOKEN",
    "MSI_ENDPOINT",
    "IDENTITY_ENDPOINT",
    "CI",
    "TF_BUILD",
)


@pytest.fixture
def azure_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No ambient Azure settings, and a throw-away home for anything an SDK writes there."""
    for var in _AMBIENT_AZURE_ENV:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(home / ".azure"))
    return monkeypatch


@pytest.fixture
def fake_azure(azure_env):
    """Azure AD, ARM, discovery and model management answered by a `FakeAzure` for this test.

    Any request to another host fails (responses refuses unregistered URLs), so an SDK call the
    fake does not model shows up as an error instead of reaching the network.
    """
    import responses
    from azure_fakes import FakeAzure

    fake = FakeAzure()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        # Scoring traffic of end-to-end tests goes to real loopback servers.
        mock.add_passthru("http://127.0.0.1")
        yield fake


@pytest.fixture
def azure_sp_env(fake_azure, azure_env):
    """The service-principal variables DefaultAzureCredential reads (SDK v2), as a CI job sets them."""
    azure_env.setenv("AZURE_TENANT_ID", fake_azure.tenant_id)
    azure_env.setenv("AZURE_CLIENT_ID", fake_azure.client_id)
    azure_env.setenv("AZURE_CLIENT_SECRET", fake_azure.client_secret)
    return azure_env


@pytest.fixture
def workspace_config(fake_azure, tmp_path) -> str:
    """The workspace's config.json, where `--aks-workspace-config` would point."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fake_azure.workspace_config()))
    return str(path)


@pytest.fixture
def azureml_discovery_cache(tmp_path, monkeypatch):
    """Keep azureml-core's discovery cache out of the real home directory.

    azureml-core caches discovery answers in ~/.azureml/.discovery, a path it computes when it is
    imported (a default argument), so a HOME set by a fixture comes too late: redirect the cache.
    """
    from azureml._base_sdk_common import service_discovery

    cache = tmp_path / "home" / ".azureml" / ".discovery"
    monkeypatch.setattr(service_discovery.CachedServiceDiscovery.__init__, "__defaults__", (str(cache),))
