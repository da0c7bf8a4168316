"""Azure's HTTP side, answered in-process, so the real SDKs can be driven without an Azure account.

Both SDKs speak HTTP through `requests` (azureml-core directly; azure-ai-ml through azure-core's
default `RequestsTransport`), so one `responses.RequestsMock` sees every call either makes. `FakeAzure`
plays the four hosts they talk to:

- Azure AD (`login.microsoftonline.com`): OpenID configuration and the client-credentials token
  call MSAL makes for azureml-core's `ServicePrincipalAuthentication`;
- Azure Resource Manager (`management.azure.com`): subscription list, workspace get, and the
  SDK v2 online endpoint / deployment / listKeys / token operations;
- the workspace's discovery URL, which tells azureml-core where its regional services live;
- the SDK v1 model management service (MMS): service get / list, listkeys, token.

Payloads follow the shapes of the public REST API specifications; every request is recorded in
`calls` so tests can assert on what the SDK really sent. Requests to any other host are not
registered, so `responses` refuses them: a test can never reach the network by accident.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    import responses

AAD_HOST = "https://login.microsoftonline.com"
ARM_HOST = "https://management.azure.com"
REGION = "westeurope"
ML_API_HOST = f"https://{REGION}.api.azureml.ms"
MMS_API_VERSION = "v1.0"

_JSON = {"Content-Type": "application/json"}

INSTALL = 'pip install "pytest-aksload[azureml,azureml-v2]" responses  (or: tox -e azure)'


def requires_sdk(module: str) -> None:
    """Skip the calling test module, saying what to install, unless `module` and `responses` import.

    (This module imports neither, so any test module can import it first.)
    """
    for name in ("responses", module):
        pytest.importorskip(name, reason=f"{name} is not installed; the Azure ML resolver tests need it: {INSTALL}")


@dataclass(frozen=True)
class Call:
    """One HTTP request an SDK made."""

    method: str
    url: str
    headers: dict[str, str]
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body)


def make_jwt(claims: dict) -> str:
    """A syntactically real JWT: azureml-core decodes tokens (unverified) to read `exp` and `tid`."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(b"fake-azure-ad", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    return status, dict(_JSON), json.dumps({"error": {"code": code, "message": message}})


def _ok(body: object) -> tuple[int, dict[str, str], str]:
    return 200, dict(_JSON), json.dumps(body)


class FakeAzure:
    """One tenant, one subscription, one Azure ML workspace, and whatever the test deploys into it."""

    tenant_id = "72f988bf-0000-4000-8000-000000000001"
    subscription_id = "5f0c5a1e-0000-4000-8000-000000000002"
    resource_group = "rg-criteo"
    workspace_name = "ws-criteo"
    client_id = "3c1b2a90-0000-4000-8000-000000000003"
    client_secret = "sp-secret-do-not-print"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        # A fresh workspace id per test: azureml-core caches discovery answers on disk keyed by it.
        self.workspace_id = str(uuid.uuid4())
        self._serial = itertools.count(1)
        self.arm_tokens: set[str] = set()
        self.services: dict[str, dict] = {}
        self.service_keys: dict[str, tuple[str, str]] = {}
        self.service_tokens: list[str] = []
        self.token_lifetime_s = 12 * 3600
        self.token_refresh_after_s = 6 * 3600
        self.endpoints: dict[str, dict] = {}
        self.deployments: dict[str, dict[str, dict]] = {}
        self.endpoint_keys: dict[str, tuple[str, str]] = {}
        self.endpoint_tokens: list[str] = []
        # Paths (regexes) the signed-in identity has no role on: answered 403 like Azure RBAC does.
        self.forbidden: list[str] = []

    # ---- what the test deploys ----------------------------------------------------------------

    @property
    def workspace_scope(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}"
        )

    @property
    def mms_base(self) -> str:
        return f"{ML_API_HOST}/modelmanagement/{MMS_API_VERSION}{self.workspace_scope}"

    def workspace_config(self) -> dict[str, str]:
        """The `config.json` Azure ML studio lets you download."""
        return {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.workspace_name,
        }

    def add_aks_service(
        self, name: str, *, auth: str = "key", state: str = "Healthy", error: dict | None = None
    ) -> dict:
        """An SDK v1 AKS web service as MMS returns it (`auth`: key, token or none)."""
        scoring_uri = f"http://20.50.1.{len(self.services) + 10}:80/api/v1/service/{name}/score"
        payload = self._service_common(name, "AKS", state, error) | {
            "appInsightsEnabled": False,
            "authEnabled": auth == "key",
            "aadAuthEnabled": auth == "token",
            "autoScaler": {
                "autoscaleEnabled": True,
                "maxReplicas": 10,
                "minReplicas": 1,
                "refreshPeriodInSeconds": 1,
                "targetUtilization": 70,
            },
            "computeName": "aks-criteo",
            "containerResourceRequirements": {
                "cpu": 0.5,
                "memoryInGB": 1.0,
                "gpu": 0,
                "cpuLimit": None,
                "memoryInGBLimit": None,
            },
            "dataCollection": {"eventHubEnabled": False, "storageEnabled": False},
            "deploymentStatus": {"desiredReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
            "livenessProbeRequirements": {
                "periodSeconds": 10,
                "initialDelaySeconds": 310,
                "timeoutSeconds": 2,
                "successThreshold": 1,
                "failureThreshold": 3,
            },
            "maxConcurrentRequestsPerContainer": 1,
            "models": [self._registered_model("lightgbm-criteo", 3)],
            "maxQueueWaitMs": 500,
            "namespace": "azureml-ws-criteo",
            "numReplicas": None,
            "scoringTimeoutMs": 60000,
            "scoringUri": scoring_uri,
        }
        self.services[name] = payload
        if auth == "key":
            self.service_keys[name] = (f"aks-primary-{name}-{uuid.uuid4().hex}", f"aks-secondary-{uuid.uuid4().hex}")
        return payload

    def _registered_model(self, name: str, version: int) -> dict:
        """A registered model as MMS lists it inside a service."""
        return {
            "id": f"{name}:{version}",
            "name": name,
            "version": version,
            "framework": "Custom",
            "frameworkVersion": None,
            "createdTime": "2026-01-12T09:00:00.000000+00:00",
            "createdBy": {"userName": "ci"},
            "description": "LightGBM Criteo CTR model",
            "experimentName": None,
            "runId": None,
            "datasets": [],
            "mimeType": "application/octet-stream",
            "url": f"aml://asset/{uuid.uuid4().hex}",
            "unpack": False,
            "properties": {},
            "kvTags": {},
        }

    def add_aci_service(self, name: str) -> dict:
        """An SDK v1 container-instance (ACI) web service: same namespace, not AKS."""
        payload = self._service_common(name, "ACI", "Healthy", None) | {
            "appInsightsEnabled": False,
            "authEnabled": True,
            "cname": None,
            "containerResourceRequirements": {
                "cpu": 0.1,
                "memoryInGB": 0.5,
                "gpu": 0,
                "cpuLimit": None,
                "memoryInGBLimit": None,
            },
            "location": REGION,
            "publicIp": "20.50.2.7",
            "scoringUri": f"http://{uuid.uuid4().hex[:12]}.{REGION}.azurecontainer.io/score",
            "sslCertificate": None,
            "sslEnabled": False,
            "sslKey": None,
        }
        self.services[name] = payload
        self.service_keys[name] = (f"aci-primary-{uuid.uuid4().hex}", f"aci-secondary-{uuid.uuid4().hex}")
        return payload

    def _service_common(self, name: str, compute_type: str, state: str, error: dict | None) -> dict:
        return {
            "id": name,
            "name": name,
            "computeType": compute_type,
            "createdTime": "2026-01-12T09:30:00.000000+00:00",
            "updatedTime": "2026-01-12T09:41:00.000000+00:00",
            "createdBy": {"userName": "ci"},
            "description": "LightGBM Criteo CTR model",
            "kvTags": {},
            "properties": {},
            "state": state,
            "error": error,
            "imageId": None,
        }

    def add_online_endpoint(
        self,
        name: str,
        *,
        auth_mode: str = "key",
        traffic: dict[str, int] | None = None,
        state: str = "Succeeded",
        deployment_states: dict[str, str] | None = None,
    ) -> dict:
        """An SDK v2 managed online endpoint (`auth_mode`: key, aml_token or aad_token) and its deployments."""
        rest_auth = {"key": "Key", "aml_token": "AMLToken", "aad_token": "AADToken"}[auth_mode]
        traffic = {"blue": 100} if traffic is None else traffic
        host = f"https://{name}.{REGION}.inference.ml.azure.com"
        endpoint = {
            "id": f"{self.workspace_scope}/onlineEndpoints/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": REGION,
            "kind": "Managed",
            "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid4()), "tenantId": self.tenant_id},
            "properties": {
                "authMode": rest_auth,
                "description": "LightGBM Criteo CTR model",
                "properties": {},
                "scoringUri": f"{host}/score",
                "swaggerUri": f"{host}/swagger.json",
                "provisioningState": state,
                "traffic": traffic,
                "mirrorTraffic": {},
                "publicNetworkAccess": "Enabled",
            },
        }
        self.endpoints[name] = endpoint
        states = deployment_states or {}
        self.deployments[name] = {
            dep: self._deployment(name, dep, states.get(dep, "Succeeded")) for dep in {**traffic, **states}
        }
        if auth_mode == "key":
            self.endpoint_keys[name] = (f"ep-primary-{name}-{uuid.uuid4().hex}", f"ep-secondary-{uuid.uuid4().hex}")
        return endpoint

    def _deployment(self, endpoint: str, name: str, state: str) -> dict:
        return {
            "id": f"{self.workspace_scope}/onlineEndpoints/{endpoint}/deployments/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": REGION,
            "kind": "Managed",
            "tags": {},
            "sku": {"name": "Default", "tier": "Standard", "capacity": 1},
            "properties": {
                "endpointComputeType": "Managed",
                "provisioningState": state,
                "model": f"{self.workspace_scope}/models/lightgbm-criteo/versions/1",
                "instanceType": "Standard_DS3_v2",
                "appInsightsEnabled": False,
                "properties": {},
                "environmentVariables": {},
                "scaleSettings": {"scaleType": "Default"},
                # What Azure fills in when a deployment names none (its documented defaults).
                "requestSettings": {
                    "maxConcurrentRequestsPerInstance": 1,
                    "requestTimeout": "PT5S",
                    "maxQueueWait": "PT0.5S",
                },
            },
        }

    def configure_deployment(
        self,
        endpoint: str,
        name: str,
        *,
        capacity: int | None = None,
        compute: str | None = None,
        **properties: object,
    ) -> dict:
        """Change a deployment as `az ml online-deployment update` would: `properties` are REST
        property names (requestSettings, scaleSettings, instanceType, model, ...; None removes one),
        `capacity` the instance count (sku), `compute` its endpointComputeType (Managed, Kubernetes)."""
        deployment = self.deployments[endpoint][name]
        for key, value in properties.items():
            if value is None:
                deployment["properties"].pop(key, None)
            else:
                deployment["properties"][key] = value
        if capacity is not None:
            deployment["sku"]["capacity"] = capacity
        if compute is not None:
            deployment["properties"]["endpointComputeType"] = compute
            deployment["kind"] = compute
            if compute == "Kubernetes":  # what a Kubernetes deployment always carries
                deployment["properties"].setdefault(
                    "containerResourceRequirements",
                    {"containerResourceRequests": {"cpu": "1", "memory": "2Gi"}, "containerResourceLimits": None},
                )
        return deployment

    # ---- the SDK-facing side ------------------------------------------------------------------

    def issue_arm_token(self, audience: str = "https://management.core.windows.net/") -> str:
        """A token this fake will accept on ARM and MMS (what Azure AD would issue)."""
        token = make_jwt(
            {
                "aud": audience,
                "tid": self.tenant_id,
                "appid": self.client_id,
                "exp": int(time.time()) + 3600,
                "n": next(self._serial),
            }
        )
        self.arm_tokens.add(token)
        return token

    def install(self, mock: responses.RequestsMock) -> None:
        """Answer every request to the Azure hosts through `mock`."""
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            for host in (AAD_HOST, ARM_HOST, ML_API_HOST):
                mock.add_callback(method, re.compile(re.escape(host) + r"/.*"), callback=self._answer)

    def requests(self, method: str, path_pattern: str) -> list[Call]:
        """The recorded calls with this method whose URL path matches the regex."""
        return [c for c in self.calls if c.method == method and re.search(path_pattern, c.path)]

    def _answer(self, request) -> tuple[int, dict[str, str], str]:
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        call = Call(request.method, request.url, dict(request.headers), body)
        self.calls.append(call)
        if call.url.startswith(AAD_HOST):
            return self._aad(call)
        bearer = call.headers.get("Authorization", "")
        if call.path.endswith("/discovery"):
            return self._discovery()
        if not bearer.startswith("Bearer ") or bearer.removeprefix("Bearer ") not in self.arm_tokens:
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if any(re.search(pattern, call.path) for pattern in self.forbidden):
            return _error(
                403,
                "AuthorizationFailed",
                f"The client '{self.client_id}' with object id '{self.client_id}' does not have authorization to "
                f"perform action over scope '{call.path}' or the scope is invalid.",
            )
        if call.url.startswith(ML_API_HOST):
            return self._mms(call)
        return self._arm(call)

    def _aad(self, call: Call) -> tuple[int, dict[str, str], str]:
        if call.path == "/common/discovery/instance":
            # MSAL asks this when a token request fails, to learn the cloud's host aliases.
            return _ok(
                {
                    "tenant_discovery_endpoint": f"{AAD_HOST}/{{tenant}}/v2.0/.well-known/openid-configuration",
                    "api-version": "1.1",
                    "metadata": [
                        {
                            "preferred_network": "login.microsoftonline.com",
                            "preferred_cache": "login.windows.net",
                            "aliases": ["login.microsoftonline.com", "login.windows.net", "sts.windows.net"],
                        }
                    ],
                }
            )
        tenant = call.path.strip("/").split("/")[0]
        if tenant != self.tenant_id:
            return (
                400,
                dict(_JSON),
                json.dumps(
                    {
                        "error": "invalid_tenant",
                        "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                    }
                ),
            )
        base = f"{AAD_HOST}/{tenant}"
        if call.path.endswith("/.well-known/openid-configuration"):
            return _ok(
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                }
            )
        if call.path.endswith("/oauth2/v2.0/token"):
            form = call.form
            if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
                return (
                    401,
                    dict(_JSON),
                    json.dumps(
                        {
                            "error": "invalid_client",
                            "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                            "being sent in the request is the client secret value, not the client secret ID.",
                        }
                    ),
                )
            scope = form["scope"][0].split()[0].removesuffix(".default")
            return _ok({"token_type": "Bearer", "expires_in": 3599, "access_token": self.issue_arm_token(scope)})
        return _error(404, "NotFound", call.path)

    def _discovery(self) -> tuple[int, dict[str, str], str]:
        services = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive", "labeling")
        return _ok(
            {name: ML_API_HOST for name in services}
            | {"modelmanagement": ML_API_HOST, "studio": "https://ml.azure.com"}
        )

    def _arm(self, call: Call) -> tuple[int, dict[str, str], str]:
        path = call.path
        if path == "/subscriptions":
            return _ok(
                {
                    "value": [
                        {
                            "id": f"/subscriptions/{self.subscription_id}",
                            "subscriptionId": self.subscription_id,
                            "tenantId": self.tenant_id,
                            "displayName": "ml-prod",
                            "state": "Enabled",
                        }
                    ]
                }
            )
        scope = self.workspace_scope
        if not path.startswith(scope):
            ws = path.split("/workspaces/")[-1].split("/")[0]
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.MachineLearningServices/workspaces/{ws}' under resource group "
                f"'{self.resource_group}' was not found.",
            )
        rest = path[len(scope) :]
        if rest == "":
            return _ok(self._workspace_resource())
        match = re.fullmatch(r"/onlineEndpoints(?:/([^/]+)(/.*)?)?", rest)
        if not match:
            return _error(404, "NotFound", path)
        name, tail = match.group(1), match.group(2) or ""
        if name is None:
            return _ok({"value": list(self.endpoints.values())})
        if name not in self.endpoints:
            return _error(404, "UserError", f"Online endpoint '{name}' not found in workspace.")
        if tail == "" and call.method == "GET":
            return _ok(self.endpoints[name])
        if tail == "/deployments":
            return _ok({"value": list(self.deployments[name].values())})
        if tail.startswith("/deployments/"):
            dep = tail.removeprefix("/deployments/")
            if dep not in self.deployments[name]:
                return _error(404, "UserError", f"Deployment '{dep}' not found under endpoint '{name}'.")
            return _ok(self.deployments[name][dep])
        if tail == "/listKeys" and call.method == "POST":
            if name not in self.endpoint_keys:
                return _error(400, "UserError", "Keys are only available for endpoints with key authentication.")
            primary, secondary = self.endpoint_keys[name]
            return _ok({"primaryKey": primary, "secondaryKey": secondary})
        if tail == "/token" and call.method == "POST":
            now = int(time.time())
            token = f"aml-token-{name}-{len(self.endpoint_tokens) + 1}-{uuid.uuid4().hex}"
            self.endpoint_tokens.append(token)
            return _ok(
                {
                    "accessToken": token,
                    "tokenType": "Bearer",
                    "expiryTimeUtc": now + self.token_lifetime_s,
                    "refreshAfterTimeUtc": now + self.token_refresh_after_s,
                }
            )
        return _error(404, "NotFound", path)

    def _workspace_resource(self) -> dict:
        return {
            "id": self.workspace_scope,
            "name": self.workspace_name,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": REGION,
            "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid4()), "tenantId": self.tenant_id},
            "sku": {"name": "Basic", "tier": "Basic"},
            "properties": {
                "friendlyName": self.workspace_name,
                "workspaceId": self.workspace_id,
                "discoveryUrl": f"{ML_API_HOST}/discovery",
                "provisioningState": "Succeeded",
                "storageAccount": f"{self.workspace_scope}/../storageAccounts/stcriteo",
                "keyVault": f"{self.workspace_scope}/../vaults/kv-criteo",
                "applicationInsights": f"{self.workspace_scope}/../components/ai-criteo",
            },
        }

    def _mms(self, call: Call) -> tuple[int, dict[str, str], str]:
        if not call.url.startswith(self.mms_base):
            return _error(404, "NotFound", call.path)
        rest = urlsplit(call.url).path[len(urlsplit(self.mms_base).path) :]
        match = re.fullmatch(r"/services(?:/([^/]+)(/.*)?)?", rest)
        if not match:
            return _error(404, "NotFound", call.path)
        name, tail = match.group(1), match.group(2) or ""
        if name is None and call.method == "GET":
            return _ok({"value": list(self.services.values())})
        if name not in self.services:
            return _error(404, "WebserviceNotFound", f"Webservice {name} not found.")
        if tail == "" and call.method == "GET":
            return _ok(self.services[name])
        if tail == "/listkeys" and call.method == "POST":
            if name not in self.service_keys:
                return _error(400, "BadArgument", "Key authentication is not enabled for this service.")
            primary, secondary = self.service_keys[name]
            return _ok({"primaryKey": primary, "secondaryKey": secondary})
        if tail == "/token" and call.method == "POST":
            if not self.services[name].get("aadAuthEnabled"):
                return _error(400, "BadArgument", "Token authentication is not enabled for this service.")
            now = int(time.time())
            token = f"aks-token-{name}-{len(self.service_tokens) + 1}-{uuid.uuid4().hex}"
            self.service_tokens.append(token)
            return _ok(
                {
                    "accessToken": token,
                    "tokenType": "Bearer",
                    "refreshAfter": now + self.token_refresh_after_s,
                    "expiryOn": now + self.token_lifetime_s,
                }
            )
        return _error(404, "NotFound", call.path)
