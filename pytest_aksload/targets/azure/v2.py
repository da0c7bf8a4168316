"""`--aml-endpoint NAME` (+ `--aml-deployment NAME`): an Azure ML (SDK v2, azure-ai-ml) online endpoint.

The workspace comes from `--aks-workspace-config` or the usual config.json search
(`MLClient.from_config`); the identity from `DefaultAzureCredential` unless a credential is passed:
`AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET` (service principal), workload identity,
managed identity, `az login`, ... It never opens a browser or prompts. azure-ai-ml is imported
inside the resolver so the plugin loads without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pytest_aksload.targets.azure import common as _azure
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.targets.target import Credential, Target, TargetError

if TYPE_CHECKING:  # the SDK is optional: imported for real only inside the resolver
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import (
        EndpointAadToken,
        EndpointAuthKeys,
        EndpointAuthToken,
        OnlineDeployment,
        OnlineEndpoint,
    )
    from azure.core.credentials import TokenCredential

_T = TypeVar("_T")

OPTION = "--aml-endpoint"
EXTRA = "azureml-v2"
DEPLOYMENT_HEADER = "azureml-model-deployment"
_SUCCEEDED = "Succeeded"
_READ = "online_deployments.get: "
# An Azure model reference, an ARM id or azureml:// URI: .../models/NAME/versions/VERSION.
_MODEL_ID = re.compile(r"/models/([^/]+)/versions/([^/]+)$")
# Azure AD tokens carry only an expiry; fetch a new one this long before it.
_AAD_REFRESH_MARGIN_S = 300.0
# DefaultAzureCredential opens every failure with this sentence; the attempts after it are the news.
_DEFAULT_CREDENTIAL_PREAMBLE = re.compile(
    r"^\s*DefaultAzureCredential failed to retrieve a token from the included credentials\.\s*"
    r"(Attempted credentials:\s*)?"
)
_CREDENTIAL_HINT = (
    "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (service principal), run `az login`, "
    "or run where a managed identity is available"
)


def resolve_aml_endpoint(
    name: str,
    *,
    deployment: str | None = None,
    workspace_config: str | None = None,
    credential: TokenCredential | None = None,
) -> Target:
    """Find online endpoint `name` (and `deployment`, when given) and the credential that opens it.

    `credential` is any azure-core `TokenCredential`; None means `DefaultAzureCredential()`.
    """
    _azure.import_sdk("azure.ai.ml", extra=EXTRA, option=OPTION)
    config_path = _azure.workspace_config(workspace_config)
    if credential is None:
        identity = _azure.import_sdk("azure.identity", extra=EXTRA, option=OPTION)
        credential = identity.DefaultAzureCredential()
    bodies = _RequestSettings()
    client = _client(credential, config_path, bodies)
    endpoint = _endpoint(client, name, config_path)
    if deployment is not None:
        settings = _check_deployment(client, endpoint, deployment, bodies)
    elif not any(share > 0 for share in (endpoint.traffic or {}).values()):
        # Without the deployment header such an endpoint answers every request with an error.
        raise TargetError(
            f"{OPTION}: endpoint {name!r} routes no traffic to any deployment (deployments: "
            f"{_azure.name_list(_deployment_names(endpoint))}); pass --aml-deployment NAME to target one"
        )
    else:
        settings = _routed_deployment(client, endpoint, bodies)
    if not endpoint.scoring_uri:
        raise TargetError(f"{OPTION}: endpoint {name!r} has no scoring URI yet")
    return Target(
        scoring_uri=endpoint.scoring_uri,
        name=name,
        kind="aml-endpoint",
        credential=_credential(client, endpoint),
        swagger_uri=endpoint.openapi_uri,
        extra_headers={DEPLOYMENT_HEADER: deployment} if deployment else {},
        deployment=settings,
    )


class _RequestSettings:
    """azure-core's `raw_response_hook`: each online deployment's `requestSettings` as Azure sent them.

    azure-ai-ml turns their durations into whole seconds (`PT0.5S`, Azure's default max queue wait,
    becomes 0 ms), so the deployment's durations are read from these, exactly."""

    def __init__(self) -> None:
        self.by_deployment: dict[str, dict] = {}

    def __call__(self, response: object) -> None:
        request = getattr(response, "http_request", None)
        if request is None or request.method != "GET" or "/deployments/" not in request.url:
            return
        try:
            body = json.loads(response.http_response.text())  # type: ignore[attr-defined]
            settings = body["properties"]["requestSettings"]
            name = body["name"]
        except Exception:  # not a deployment's JSON: nothing to keep
            return
        if isinstance(name, str) and isinstance(settings, dict):
            self.by_deployment[name] = settings

    def seconds(self, deployment: str, key: str) -> float | None:
        """The ISO 8601 duration `key` of `deployment`'s request settings in seconds; None if absent or unreadable."""
        import isodate  # azure-ai-ml's own dependency

        value = self.by_deployment.get(deployment, {}).get(key)
        try:
            seconds = isodate.parse_duration(value).total_seconds()
        except Exception:  # absent (None) or not a duration: unknown
            return None
        return seconds if seconds >= 0 else None


def _client(credential: TokenCredential, config_path: str | None, bodies: _RequestSettings) -> MLClient:
    from azure.ai.ml import MLClient

    try:
        return MLClient.from_config(credential=credential, path=config_path, raw_response_hook=bodies)
    except Exception as exc:  # ValidationException when not found; anything when malformed
        message = _azure.sdk_message(exc)
        if "could not find config.json" in message:
            raise TargetError(f"{OPTION}: no Azure ML workspace config found; {_azure.CONFIG_HINT}") from None
        raise TargetError(
            f"{OPTION}: cannot read the workspace config ({config_path or 'config.json'}): {_azure.one_line(message)}"
        ) from None


def _call(what: str, action: Callable[[], _T]) -> _T:
    """Run one SDK call; turn an authentication failure into the hint that fixes it."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        return action()
    except ClientAuthenticationError as exc:
        # Raised by the credential (none available, secret rejected) or for an ARM 401.
        detail = _DEFAULT_CREDENTIAL_PREAMBLE.sub("", _azure.sdk_message(exc))
        detail = _azure.one_line(detail, limit=200)
        raise TargetError(f"{OPTION}: no accepted Azure credential to {what} ({detail}); {_CREDENTIAL_HINT}") from None


def _endpoint(client: MLClient, name: str, config_path: str | None) -> OnlineEndpoint:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        endpoint = _call("read the endpoint", lambda: client.online_endpoints.get(name))
    except ResourceNotFoundError:
        try:
            existing = [e.name for e in client.online_endpoints.list()]
        except ResourceNotFoundError:
            # Listing 404s too: it is the workspace itself that does not exist.
            raise TargetError(
                f"{OPTION}: workspace {client.workspace_name!r} (resource group {client.resource_group_name!r}, "
                f"subscription {client.subscription_id!r}) not found; check {config_path or 'config.json'}"
            ) from None
        except Exception:  # the list is a courtesy; the not-found error is what matters
            existing = None
        listed = _azure.name_list(existing) if existing is not None else "(could not list them)"
        raise TargetError(
            f"{OPTION}: no online endpoint named {name!r} in workspace {client.workspace_name!r}; "
            f"existing endpoints: {listed}"
        ) from None
    except TargetError:
        raise
    except Exception as exc:
        raise TargetError(
            f"{OPTION}: cannot read online endpoint {name!r}: {_azure.one_line(_azure.sdk_message(exc))}"
        ) from None
    state = _state(endpoint.provisioning_state)
    if state != _SUCCEEDED:
        raise TargetError(
            f"{OPTION}: endpoint {name!r} is {state!r}, not {_SUCCEEDED!r}; "
            "wait for or fix its provisioning before load-testing it"
        )
    return endpoint


def _state(value: object) -> object:
    # The SDK hands back its own str-enum members (e.g. EndpointProvisioningState.UPDATING), whose
    # repr would clutter messages; the plain value is what the portal and the CLI show.
    return getattr(value, "value", value)


def _deployment_names(endpoint: OnlineEndpoint) -> list[str]:
    # `online_endpoints.get` lists the deployments and adds those without traffic at 0 %.
    return [*(endpoint.traffic or {}), *(getattr(endpoint, "mirror_traffic", None) or {})]


def _check_deployment(
    client: MLClient, endpoint: OnlineEndpoint, deployment: str, bodies: _RequestSettings
) -> Deployment:
    """The named deployment's settings; a TargetError when it is missing or not provisioned. One the
    identity may not read (403) cannot be checked: its settings are unknown, with a note saying why."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        found = _call(
            "read the deployment", lambda: client.online_deployments.get(name=deployment, endpoint_name=endpoint.name)
        )
    except ResourceNotFoundError:
        raise TargetError(
            f"{OPTION}: endpoint {endpoint.name!r} has no deployment named {deployment!r}; existing deployments: "
            f"{_azure.name_list(_deployment_names(endpoint))}"
        ) from None
    except TargetError:
        raise
    except Exception as exc:
        if getattr(exc, "status_code", None) == 403:  # azure-core's HttpResponseError for Azure RBAC's denial
            return _unreadable(endpoint, deployment, exc)
        raise TargetError(
            f"{OPTION}: cannot read deployment {deployment!r} of endpoint {endpoint.name!r}: "
            f"{_azure.one_line(_azure.sdk_message(exc))}"
        ) from None
    state = _state(found.provisioning_state)
    if state != _SUCCEEDED:
        raise TargetError(
            f"{OPTION}: deployment {deployment!r} of endpoint {endpoint.name!r} is {state!r}, "
            f"not {_SUCCEEDED!r}; fix it (see its logs in Azure ML studio) before load-testing it"
        )
    return _deployment(found, bodies)


def _routed_deployment(client: MLClient, endpoint: OnlineEndpoint, bodies: _RequestSettings) -> Deployment:
    """Without --aml-deployment: the settings of the deployment that takes all the traffic; when the
    traffic is split, or the deployment cannot be read, unknown with a note (the gate goes on)."""
    routed = {name: share for name, share in (endpoint.traffic or {}).items() if share > 0}
    if len(routed) != 1:
        split = ", ".join(f"{name} {share}%" for name, share in sorted(routed.items()))
        return Deployment(kind=_kind(endpoint), note=f"traffic split ({split}): pass --aml-deployment NAME to read one")
    (name,) = routed
    try:
        found = _call(
            "read the deployment", lambda: client.online_deployments.get(name=name, endpoint_name=endpoint.name)
        )
    except Exception as exc:  # the settings are a courtesy here: the endpoint itself resolved
        return _unreadable(endpoint, name, exc)
    return _deployment(found, bodies)


def _unreadable(endpoint: OnlineEndpoint, name: str, exc: BaseException) -> Deployment:
    detail = _azure.one_line(_azure.sdk_message(exc), limit=160)
    note = f"deployment {name!r} of endpoint {endpoint.name!r} could not be read ({detail}); its settings are unknown"
    return Deployment(kind=_kind(endpoint), name=name, sources={"name": "the endpoint's traffic"}, note=note)


def _kind(endpoint: OnlineEndpoint) -> str:
    # online_endpoints.get returns a KubernetesOnlineEndpoint or a ManagedOnlineEndpoint.
    return "kubernetes" if type(endpoint).__name__.startswith("Kubernetes") else "managed"


def _deployment(found: OnlineDeployment, bodies: _RequestSettings) -> Deployment:
    """What an online deployment's settings say (managed or Kubernetes): size, scale, request settings, model."""
    kind = "kubernetes" if str(getattr(found, "type", "")).lower() == "kubernetes" else "managed"
    requests = getattr(found, "request_settings", None)
    scale = getattr(found, "scale_settings", None)
    values = {
        "name": (found.name, _READ + "name"),
        "model": (_model(getattr(found, "model", None)), _READ + "model"),
        "instance_type": (getattr(found, "instance_type", None) or None, _READ + "instance_type"),
        "max_concurrent_per_instance": (
            _azure.sdk_number(getattr(requests, "max_concurrent_requests_per_instance", None)),
            _READ + "request_settings.max_concurrent_requests_per_instance",
        ),
        "request_timeout_s": (
            bodies.seconds(found.name, "requestTimeout"),
            _READ + "request_settings.request_timeout_ms (exact, from the response)",
        ),
        "max_queue_wait_s": (
            bodies.seconds(found.name, "maxQueueWait"),
            _READ + "request_settings.max_queue_wait_ms (exact, from the response)",
        ),
    }
    if str(getattr(scale, "type", "")).lower() == "target_utilization":
        utilization = _azure.sdk_number(getattr(scale, "target_utilization_percentage", None))
        values |= {
            "min_instances": (_azure.sdk_number(scale.min_instances), _READ + "scale_settings.min_instances"),
            "max_instances": (_azure.sdk_number(scale.max_instances), _READ + "scale_settings.max_instances"),
            "target_utilization": (
                None if utilization is None else utilization / 100,
                _READ + "scale_settings.target_utilization_percentage",
            ),
        }
    else:
        values["instances"] = (_azure.sdk_number(getattr(found, "instance_count", None)), _READ + "instance_count")
    return Deployment.read(kind, values)


def _model(model: object) -> str | None:
    """NAME:VERSION of a registered model (an id or a Model entity); None for anything else."""
    if model is None:
        return None
    name, version = getattr(model, "name", None), getattr(model, "version", None)
    if name and version:
        return f"{name}:{version}"
    match = _MODEL_ID.search(str(model))
    return f"{match.group(1)}:{match.group(2)}" if match else None


def _credential(client: MLClient, endpoint: OnlineEndpoint) -> Credential:
    from azure.ai.ml.entities import EndpointAuthKeys

    name = endpoint.name
    mode = (endpoint.auth_mode or "").lower()

    def get_keys() -> EndpointAuthKeys | EndpointAuthToken | EndpointAadToken:
        # One SDK call for all three modes: it reads the endpoint's auth mode and answers with
        # keys (listKeys), an Azure ML token (POST .../token) or an Azure AD token for Azure ML.
        try:
            return _call("read the endpoint's credentials", lambda: client.online_endpoints.get_keys(name))
        except TargetError:
            raise
        except Exception as exc:
            detail = _azure.one_line(_azure.sdk_message(exc))
            raise TargetError(f"{OPTION}: cannot read the credentials of endpoint {name!r}: {detail}") from None

    if mode == "key":
        keys = get_keys()
        if not isinstance(keys, EndpointAuthKeys) or not keys.primary_key:
            raise TargetError(f"{OPTION}: endpoint {name!r} uses key auth but returned no key")
        return Credential.key(keys.primary_key)
    if mode in ("aml_token", "aad_token"):

        def fetch_token() -> tuple[str, float | None]:
            token = get_keys()
            if isinstance(token, EndpointAuthKeys) or not token.access_token:
                raise TargetError(f"{OPTION}: endpoint {name!r} uses {mode} auth but returned no token")
            # aml_token says when to refresh; an Azure AD token (aad_token) only when it expires,
            # so refresh a margin before that.
            refresh_after: float | None = getattr(token, "refresh_after_time_utc", None)
            if not refresh_after and token.expiry_time_utc:
                refresh_after = token.expiry_time_utc - _AAD_REFRESH_MARGIN_S
            return token.access_token, float(refresh_after) if refresh_after else None

        return Credential.token(fetch_token)
    raise TargetError(f"{OPTION}: endpoint {name!r} uses auth mode {endpoint.auth_mode!r}, which is not supported")
