"""Turn the session's target option into a `Target` (and stop what was started for it at the end)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping

from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.config.options import is_scoring_uri
from pytest_aksload.config.settings import Settings
from pytest_aksload.contracts.status import DEPLOYMENT_HEADER
from pytest_aksload.targets.deployment import local_deployment, stated_deployment, with_stated
from pytest_aksload.targets.target import Credential, OtherSide, Target, TargetError


def key_hint(settings: Settings) -> str:
    """What a user should check when the endpoint refuses the key (for pre-flight messages)."""
    if settings.aks_scoring_uri:
        return f"the key in environment variable {settings.aks_key_env}"
    if settings.aks_local:
        return "the headers (requests need aks_auth_headers)"
    return "the service's keys/token and your Azure credentials"


def resolve_target(
    settings: Settings,
    add_finalizer: Callable[[Callable[[], object]], None],
    environ: Mapping[str, str] | None = None,
) -> Target | None:
    """The target the options name, or None when no target option was given.

    Raises TargetError with a one-line, secret-free message when the target cannot be resolved.
    Its `deployment` is what the target tells, with --aks-deployment-settings filling the rest.
    """
    environ = os.environ if environ is None else environ
    if settings.aks_scoring_uri:
        key = environ.get(settings.aks_key_env) or None
        return Target(
            settings.aks_scoring_uri, name=settings.aks_scoring_uri, kind="scoring-uri", credential=Credential.key(key),
            deployment=stated_deployment(settings),
        )  # fmt: skip
    target = _resolve_service(settings, add_finalizer)
    if target is not None and target.deployment is not None:
        target = dataclasses.replace(target, deployment=with_stated(target.deployment, settings))
    return target


def _resolve_service(settings: Settings, add_finalizer: Callable[[Callable[[], object]], None]) -> Target | None:
    if settings.aks_local:
        return _start_local(settings, add_finalizer)
    if settings.aks_service:
        from pytest_aksload.targets.azure.v1 import resolve_aks_service

        return resolve_aks_service(settings.aks_service, workspace_config=settings.aks_workspace_config)
    if settings.aml_endpoint:
        from pytest_aksload.targets.azure.v2 import resolve_aml_endpoint

        return resolve_aml_endpoint(
            settings.aml_endpoint, deployment=settings.aml_deployment, workspace_config=settings.aks_workspace_config
        )
    return None


def resolve_against(
    target: Target, settings: Settings, against: str | None = None, environ: Mapping[str, str] | None = None
) -> OtherSide | None:
    """The other side of a side-by-side gate: the marker's `against=` (a deployment name or a URL)
    over `--aks-against NAME` / `--aks-against-uri URL`; None when the test compares with nothing.

    A deployment is reached at the target's own URI with the `azureml-model-deployment` header and
    the target's credential (an SDK v2 endpoint is resolved again, so a missing deployment is named
    now). A URL gets the key of the env var named by ini aks_against_key_env, else the target's.
    """
    environ = os.environ if environ is None else environ
    spec = against or settings.against
    if not spec:
        return None
    source = f"against={against!r}" if against else ("--aks-against" if settings.aks_against else "--aks-against-uri")
    if is_scoring_uri(spec):
        key_env = settings.aks_against_key_env
        if key_env is None:
            return OtherSide(Target(spec, name=spec, kind="against-uri", credential=target.credential))
        key = environ.get(key_env)
        if not key:
            raise TargetError(
                f"{source}: ini aks_against_key_env names {key_env}, which is not set; set it to the other side's key"
            )
        return OtherSide(
            Target(spec, name=spec, kind="against-uri", credential=Credential.key(key)), own_credential=True
        )
    if target.kind not in ("aml-endpoint", "local"):
        raise TargetError(
            f"{source} names a deployment ({spec!r}), which needs --aml-endpoint NAME (both deployments behind one "
            "endpoint); to compare with any other service give its scoring URL"
        )
    if DEPLOYMENT_HEADER not in target.extra_headers:
        raise TargetError(
            f"{source} names a deployment ({spec!r}): name the candidate too with --aml-deployment NAME "
            "(without it the endpoint's traffic rules pick who answers)"
        )
    if spec == target.extra_headers[DEPLOYMENT_HEADER]:
        raise TargetError(f"{source} is the candidate itself (--aml-deployment): name the other deployment")
    if target.kind == "aml-endpoint" and settings.aml_endpoint:
        from pytest_aksload.targets.azure.v2 import resolve_aml_endpoint

        try:
            resolved = resolve_aml_endpoint(
                settings.aml_endpoint, deployment=spec, workspace_config=settings.aks_workspace_config
            )
        except TargetError as error:
            raise TargetError(f"{source}: {str(error).removeprefix('--aml-endpoint: ')}") from None
        return OtherSide(resolved, deployment=spec)
    headers = {**target.extra_headers, DEPLOYMENT_HEADER: spec}
    other = Target(target.scoring_uri, name=f"{target.name} deployment {spec}", kind=target.kind,
                   credential=target.credential, extra_headers=headers)  # fmt: skip
    return OtherSide(other, deployment=spec)


def local_service_settings(settings: Settings) -> LocalServiceSettings:
    """The deployment settings of the `--aks-local` endpoint (instances, ceiling, timeout)."""
    return LocalServiceSettings(
        instances=settings.aks_local_instances,
        max_concurrent=settings.aks_local_max_concurrent,
        request_timeout_s=settings.aks_local_request_timeout,
    )


def _start_local(settings: Settings, add_finalizer: Callable[[Callable[[], object]], None]) -> Target:
    from pytest_aksload.local.service import LocalService, LocalServiceError

    # One worker per instance of each deployment, as each Azure deployment has its own instances
    # (requests are not pinned to workers, so a slow deployment still delays the others a little).
    service = LocalService(deployments=settings.aks_local_deployments, settings=local_service_settings(settings))
    try:
        service.start()
    except LocalServiceError as error:
        raise TargetError(f"--aks-local: the embedded scoring service did not start: {error}") from None
    add_finalizer(service.stop)
    return Target(
        service.scoring_uri,
        name="aks-local",
        kind="local",
        credential=Credential.key(service.key),
        swagger_uri=service.swagger_uri,
        deployment=local_deployment(settings, local_service_settings(settings)),
        # As for --aml-endpoint: --aml-deployment's requests name it; without it the endpoint routes.
        extra_headers={DEPLOYMENT_HEADER: settings.aml_deployment} if settings.aml_deployment else {},
    )
