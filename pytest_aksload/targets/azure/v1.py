"""`--aks-service NAME`: an Azure ML (SDK v1, azureml-core) web service deployed to AKS.

azureml-core reached end of support on 2026-06-30; this resolver keeps existing AKS deployments
gateable, new ones should use `--aml-endpoint` (azure_v2). azureml-core is imported inside the
resolver so the plugin loads without it.

Authentication, in this order:
1. `AZUREML_SERVICE_PRINCIPAL_TENANT_ID` / `_ID` / `_PASSWORD`: the SDK's own service-principal
   variables, the way to run in CI;
2. when a person can answer a prompt (not CI, stdin is a terminal): the SDK's default
   `InteractiveLoginAuthentication`, which reuses an `az login` and prompts only when it must;
3. otherwise, when azure-cli is installed in this Python environment: `AzureCliAuthentication`
   (after `az login`, including `az login --identity` for a managed identity);
4. otherwise a `TargetError` naming the variables to set. Never a device-code prompt in CI: nobody
   is there to answer it and the job would hang until the SDK gives up.

The workspace config is looked for (with the SDK's own search) before the workspace is opened, so a
session that lacks both the config and credentials gets one error naming both: one round of fixes in CI.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from pytest_aksload.config.extras import installed
from pytest_aksload.targets.azure import common as _azure
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.targets.target import Credential, Target, TargetError

if TYPE_CHECKING:  # the SDK is optional: imported for real only inside the resolver
    from azureml.core import Workspace
    from azureml.core.authentication import AbstractAuthentication
    from azureml.core.webservice import AksWebservice

OPTION = "--aks-service"
EXTRA = "azureml"
SP_ENV_VARS = (
    "AZUREML_SERVICE_PRINCIPAL_TENANT_ID",
    "AZUREML_SERVICE_PRINCIPAL_ID",
    "AZUREML_SERVICE_PRINCIPAL_PASSWORD",
)
# CI systems announce themselves; Azure Pipelines sets TF_BUILD rather than CI.
_CI_ENV_VARS = ("CI", "TF_BUILD")
_HEALTHY = "Healthy"


def resolve_aks_service(name: str, *, workspace_config: str | None = None, interactive: bool | None = None) -> Target:
    """Find AKS web service `name` in the workspace and the credential that opens it.

    `interactive=None` decides from the environment (see `interactive_allowed`).
    """
    _azure.import_sdk("azureml.core", extra=EXTRA, option=OPTION)
    config_path = _azure.workspace_config(workspace_config)
    no_config = f"no Azure ML workspace config found; {_azure.CONFIG_HINT}"
    config_found = _find_config(config_path)
    try:
        auth = _authentication(interactive)
    except TargetError as no_auth:
        if config_found:
            raise
        # Both missing: name both, so CI needs one round of fixes, not two.
        problem = str(no_auth).removeprefix(f"{OPTION}: ")
        raise TargetError(f"{OPTION}: two things to fix: {no_config}; and {problem}") from None
    if not config_found:
        raise TargetError(f"{OPTION}: {no_config}")
    workspace = _workspace(config_path, auth)
    service = _service(workspace, name)
    return Target(
        scoring_uri=service.scoring_uri,
        name=name,
        kind="aks-service",
        credential=_credential(service),
        swagger_uri=service.swagger_uri,
        deployment=_deployment(service),
    )


def interactive_allowed(explicit: bool | None = None) -> bool:
    """Whether an interactive sign-in may be started: never in CI, and only with a terminal on stdin.

    Under pytest's output capturing stdin is not a terminal, so a prompt would be invisible; the
    plugin can suspend capturing around the resolver (or pass `explicit`) to allow one.
    """
    if explicit is not None:
        return explicit
    if any(os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no") for var in _CI_ENV_VARS):
        return False
    stdin = sys.stdin
    return stdin is not None and stdin.isatty()


def _authentication(interactive: bool | None) -> AbstractAuthentication:
    from azureml.core.authentication import (
        AzureCliAuthentication,
        InteractiveLoginAuthentication,
        ServicePrincipalAuthentication,
    )

    values = {var: os.environ.get(var, "") for var in SP_ENV_VARS}
    given = [var for var, value in values.items() if value]
    if given and len(given) < len(SP_ENV_VARS):
        missing = [var for var in SP_ENV_VARS if var not in given]
        raise TargetError(
            f"{OPTION}: incomplete service-principal settings: {', '.join(given)} set but {', '.join(missing)} "
            "not; set all three"
        )
    if given:
        tenant, client, secret = (values[var] for var in SP_ENV_VARS)
        auth = ServicePrincipalAuthentication(
            tenant_id=tenant, service_principal_id=client, service_principal_password=secret
        )
        source = "the service principal in AZUREML_SERVICE_PRINCIPAL_*"
    elif interactive_allowed(interactive):
        try:
            auth = InteractiveLoginAuthentication()
        except Exception as exc:  # the SDK raises anything from MSAL, the az CLI cache or the browser
            detail = _azure.one_line(_azure.sdk_message(exc))
            raise TargetError(f"{OPTION}: interactive Azure sign-in failed: {detail}") from None
        source = "your interactive Azure sign-in"
    elif installed("azure.cli.core"):
        try:
            auth = AzureCliAuthentication()
        except Exception as exc:  # e.g. an azure-cli older than the SDK supports
            detail = _azure.one_line(_azure.sdk_message(exc))
            raise TargetError(f"{OPTION}: cannot use the Azure CLI login: {detail}") from None
        source = "the Azure CLI login (az login)"
    else:
        raise TargetError(
            f"{OPTION}: no non-interactive Azure credentials (CI or no terminal, so no sign-in prompt): set "
            f"{', '.join(SP_ENV_VARS)} for a service principal with access to the workspace "
            "(or install azure-cli in this Python environment and run `az login`)"
        )
    # Fetch the ARM token now so a rejected credential is reported as such, not as a missing workspace.
    try:
        auth.get_authentication_header()
    except Exception as exc:
        detail = _azure.one_line(_azure.sdk_message(exc), values[SP_ENV_VARS[2]])
        raise TargetError(f"{OPTION}: Azure AD did not accept {source}: {detail}") from None
    return auth


def _find_config(config_path: str | None) -> bool:
    """Whether `Workspace.from_config(path=config_path)` finds a config file, searched with the
    SDK's own rule (config.json or project.json in the directory, its .azureml/ or aml_config/,
    or a parent's) without signing in."""
    from azureml._base_sdk_common.common import AML_CONFIG_DIR, AZUREML_DIR, CONFIG_FILENAME, LEGACY_PROJECT_FILENAME
    from azureml._file_utils.file_utils import normalize_path, traverse_up_path_and_find_file

    start = normalize_path(config_path or ".")
    if os.path.isfile(start):
        return True
    return any(
        traverse_up_path_and_find_file(path=start, file_name=file_name, directory_name=directory)
        for directory in (AZUREML_DIR, AML_CONFIG_DIR, None)
        for file_name in (CONFIG_FILENAME, LEGACY_PROJECT_FILENAME)
    )


def _workspace(config_path: str | None, auth: AbstractAuthentication) -> Workspace:
    from azureml.core import Workspace
    from azureml.exceptions import UserErrorException

    where = config_path or "config.json searched from the working directory"
    try:
        return Workspace.from_config(path=config_path, auth=auth)
    except UserErrorException as exc:
        message = _azure.sdk_message(exc)
        if "could not be found" in message and "config" in message:
            raise TargetError(f"{OPTION}: no Azure ML workspace config found; {_azure.CONFIG_HINT}") from None
        raise TargetError(
            f"{OPTION}: cannot open the Azure ML workspace ({where}): {_azure.one_line(message)}"
        ) from None
    except Exception as exc:  # workspace missing, access denied, malformed config: all shown, none traced
        raise TargetError(
            f"{OPTION}: cannot open the Azure ML workspace ({where}): {_azure.one_line(_azure.sdk_message(exc))}"
        ) from None


def _service(workspace: Workspace, name: str) -> AksWebservice:
    from azureml.core.webservice import AksWebservice
    from azureml.exceptions import WebserviceException

    where = f"workspace {workspace.name!r}"
    try:
        # The constructor is a getter that returns the subclass matching the service's compute
        # type, whatever class it is called on: an ACI service comes back as an AciWebservice.
        service = AksWebservice(workspace, name)
    except WebserviceException as exc:
        message = _azure.sdk_message(exc)
        if "WebserviceNotFound" in message:
            raise TargetError(
                f"{OPTION}: no web service named {name!r} in {where}; existing services: {_existing(workspace)}"
            ) from None
        raise TargetError(
            f"{OPTION}: cannot read web service {name!r} in {where}: {_azure.one_line(message)}"
        ) from None
    except Exception as exc:  # access denied and transport errors surface as other SDK exceptions
        raise TargetError(
            f"{OPTION}: cannot read web service {name!r} in {where}: {_azure.one_line(_azure.sdk_message(exc))}"
        ) from None

    compute_type = getattr(service, "compute_type", None)
    if compute_type != "AKS":
        raise TargetError(
            f"{OPTION}: web service {name!r} in {where} runs on {compute_type or 'an unknown compute type'}, not AKS; "
            "name an AKS service, or load-test it with --aks-scoring-uri"
        )
    if service.state != _HEALTHY:
        error = service.error or {}
        detail = error.get("message") if isinstance(error, dict) else str(error)
        detail = _azure.one_line(detail) if detail else "no error reported"
        raise TargetError(
            f"{OPTION}: AKS service {name!r} is {service.state!r}, not {_HEALTHY!r} ({detail}); "
            "fix the deployment (see its logs in Azure ML studio) before load-testing it"
        )
    if not service.scoring_uri:
        raise TargetError(f"{OPTION}: AKS service {name!r} has no scoring URI yet; wait for the deployment to finish")
    return service


def _deployment(service: AksWebservice) -> Deployment:
    """What the web service's settings say: replicas or autoscale, concurrency, timeouts, size, models."""
    read = "AksWebservice."
    autoscaler = getattr(service, "autoscaler", None)
    resources = getattr(service, "container_resource_requirements", None)
    cpu, memory = (_azure.sdk_number(getattr(resources, name, None)) for name in ("cpu", "memory_in_gb"))
    models = [f"{model.name}:{model.version}" for model in getattr(service, "models", None) or []]
    values = {
        "name": (service.name, read + "name"),
        "model": (", ".join(models) or None, read + "models"),
        "instance_type": (
            f"{cpu:g} CPU cores, {memory:g} GB memory" if cpu is not None and memory is not None else None,
            read + "container_resource_requirements",
        ),
        "max_concurrent_per_instance": (
            _azure.sdk_number(getattr(service, "max_concurrent_requests_per_container", None)),
            read + "max_concurrent_requests_per_container (replica_max_concurrent_requests)",
        ),
        "request_timeout_s": (_ms(getattr(service, "scoring_timeout_ms", None)), read + "scoring_timeout_ms"),
        "max_queue_wait_s": (_ms(getattr(service, "max_request_wait_time", None)), read + "max_request_wait_time"),
    }
    if autoscaler is not None and getattr(autoscaler, "autoscale_enabled", False):
        utilization = _azure.sdk_number(getattr(autoscaler, "target_utilization", None))
        values |= {
            "min_instances": (_azure.sdk_number(autoscaler.min_replicas), read + "autoscaler.min_replicas"),
            "max_instances": (_azure.sdk_number(autoscaler.max_replicas), read + "autoscaler.max_replicas"),
            "target_utilization": (
                None if utilization is None else utilization / 100,
                read + "autoscaler.target_utilization",
            ),
        }
    else:
        values["instances"] = (_azure.sdk_number(getattr(service, "num_replicas", None)), read + "num_replicas")
    return Deployment.read("aks-v1", values)


def _ms(value: object) -> float | None:
    number = _azure.sdk_number(value)
    return None if number is None else number / 1000


def _existing(workspace: Workspace) -> str:
    """`name (TYPE)` for every service in the workspace, or a note when listing fails too."""
    from azureml.core.webservice import Webservice

    try:
        services = Webservice.list(workspace)
    except Exception:  # the hint is a courtesy; the not-found error is what matters
        return "(could not list them)"
    return _azure.name_list(f"{s.name} ({s.compute_type})" for s in services)


def _credential(service: AksWebservice) -> Credential:
    name = service.name
    if service.token_auth_enabled:

        def fetch_token() -> tuple[str, float]:
            # get_access_token, not the deprecated get_token; its refresh_after is a naive local
            # datetime (the SDK builds it with fromtimestamp), so .timestamp() gives epoch seconds back.
            try:
                token = service.get_access_token()
            except Exception as exc:  # WebserviceException, or a raw decoding/transport error
                raise TargetError(
                    f"{OPTION}: cannot get an access token for AKS service {name!r}: "
                    f"{_azure.one_line(_azure.sdk_message(exc))}"
                ) from None
            return token.access_token, token.refresh_after.timestamp()

        return Credential.token(fetch_token)
    if service.auth_enabled:
        try:
            primary, _secondary = service.get_keys()
        except Exception as exc:  # WebserviceException, or UserErrorException for a 403
            raise TargetError(
                f"{OPTION}: cannot read the keys of AKS service {name!r}: {_azure.one_line(_azure.sdk_message(exc))}"
            ) from None
        if not primary:
            raise TargetError(f"{OPTION}: AKS service {name!r} has key auth enabled but returned no key")
        return Credential.key(primary)
    return Credential.none()
