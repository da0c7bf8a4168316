"""`aks_target.deployment`: what the target can tell about the deployment behind it.

Every field is None when unknown, never a default guessed for it (DESIGN.md, rule 8), and
`sources` says where each known one came from. The Azure resolvers read it through their SDK
(targets/azure/v1.py, v2.py); `local_deployment` describes the embedded service; a plain scoring URI
has what the user states (`--aks-deployment-settings`). Stated settings also fill what an SDK could
not read, never what it did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_aksload.config.local_endpoint import LocalServiceSettings
from pytest_aksload.config.settings import Settings

KINDS = ("managed", "kubernetes", "aks-v1", "local", "stated")
# The fields a source may know, in the order they are shown.
FIELDS = (
    "name",
    "model",
    "instance_type",
    "instances",
    "min_instances",
    "max_instances",
    "max_concurrent_per_instance",
    "request_timeout_s",
    "max_queue_wait_s",
    "target_utilization",
)
STATED_SOURCE = "--aks-deployment-settings"
# The embedded service's scoring timeout: azmlinfsrv's default SCORING_TIMEOUT_MS (1 hour), which
# the local service leaves in place (it strips the variable from the server's environment).
_LOCAL_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Deployment:
    """The target's deployment as far as it is known: each field None when unknown.

    `kind`: managed, kubernetes (Azure ML SDK v2 online deployments), aks-v1 (SDK v1 AKS web
    service), local (--aks-local) or stated (what --aks-deployment-settings says). `instances` is
    a fixed count; an autoscaled deployment has `min_instances`/`max_instances` instead.
    `sources[field]` says where a known field was read; `note` why fields are unknown when a
    source could not be read.
    """

    kind: str = "stated"
    name: str | None = None
    model: str | None = None  # NAME:VERSION
    instance_type: str | None = None
    instances: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    max_concurrent_per_instance: int | None = None
    request_timeout_s: float | None = None
    max_queue_wait_s: float | None = None
    target_utilization: float | None = None  # a fraction: 0.7 is 70 %
    sources: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None

    @classmethod
    def read(cls, kind: str, values: Mapping[str, tuple[Any, str]], note: str | None = None) -> Deployment:
        """A deployment from `{field: (value, source)}`; None values stay unknown (no source)."""
        known = {name: pair for name, pair in values.items() if pair[0] is not None}
        return cls(
            kind=kind,
            **{name: value for name, (value, _source) in known.items()},
            sources={name: source for name, (_value, source) in known.items()},
            note=note,
        )

    @property
    def autoscaled(self) -> bool:
        return self.instances is None and self.max_instances is not None

    def source(self, name: str) -> str | None:
        """Where field `name` was read, None when it is unknown."""
        return self.sources.get(name)

    def filled_from(self, stated: Mapping[str, Any], source: str) -> Deployment:
        """This deployment with the unknown fields `stated` gives (from `source`); known ones stay."""
        missing = {name: value for name, value in stated.items() if name != "kind" and getattr(self, name) is None}
        if not missing:
            return self
        return dataclasses.replace(self, **missing, sources={**self.sources, **dict.fromkeys(missing, source)})


def stated_deployment(settings: Settings) -> Deployment:
    """A plain scoring URI's deployment: what --aks-deployment-settings states (kind= included)."""
    stated = dict(settings.aks_deployment_settings)
    kind = stated.get("kind", "stated")
    deployment = Deployment(kind=kind, sources={"kind": STATED_SOURCE} if "kind" in stated else {})
    return deployment.filled_from(stated, STATED_SOURCE)


def local_deployment(settings: Settings, local: LocalServiceSettings) -> Deployment:
    """The embedded local service's deployment, from the settings it enforces (`local`:
    --aks-local-instances, --aks-local-max-concurrent, --aks-local-request-timeout)."""
    source = "the local service"
    name = settings.aml_deployment or (
        settings.aks_local_deployments[0].name if settings.aks_local_deployments else None
    )
    fields: dict[str, tuple[Any, str]] = {
        "name": (name, "--aml-deployment" if settings.aml_deployment else "--aks-local-deployments"),
        "instances": (local.instances, f"{source} (--aks-local-instances: a server worker each)"),
    }
    if local.max_concurrent is not None:  # none: no ceiling at all, not an unknown one
        fields["max_concurrent_per_instance"] = (local.max_concurrent, f"{source} (--aks-local-max-concurrent)")
    if local.request_timeout_s is not None:
        fields["request_timeout_s"] = (local.request_timeout_s, f"{source} (--aks-local-request-timeout)")
    else:  # no front: only azmlinfsrv's own scoring timeout applies
        fields["request_timeout_s"] = (_LOCAL_TIMEOUT_S, f"{source} (azmlinfsrv's default SCORING_TIMEOUT_MS)")
    return Deployment.read("local", fields)


def with_stated(deployment: Deployment, settings: Settings) -> Deployment:
    """`deployment` with what --aks-deployment-settings states filling its unknown fields."""
    if not settings.aks_deployment_settings:
        return deployment
    return deployment.filled_from(dict(settings.aks_deployment_settings), STATED_SOURCE)


def _number(value: float) -> str:
    return f"{value:g}"


def describe(deployment: Deployment) -> str:
    """One line for the session's header: kind, name, model, size, limits; `unknown` when nothing is."""
    d = deployment
    parts = [p for p in (d.name and f"deployment {d.name}", d.model and f"model {d.model}", d.instance_type) if p]
    if d.instances is not None:
        parts.append(f"{d.instances} instance{'s' if d.instances != 1 else ''}")
    elif d.max_instances is not None:
        low = "?" if d.min_instances is None else d.min_instances
        utilization = "" if d.target_utilization is None else f" at {d.target_utilization:.0%} utilization"
        parts.append(f"autoscale {low}-{d.max_instances} instances{utilization}")
    if d.max_concurrent_per_instance is not None:
        parts.append(f"max {d.max_concurrent_per_instance} concurrent per instance")
    if d.request_timeout_s is not None:
        parts.append(f"request timeout {_number(d.request_timeout_s)}s")
    if d.max_queue_wait_s is not None:
        parts.append(f"max queue wait {_number(d.max_queue_wait_s)}s")
    text = f"{d.kind}: " + (", ".join(parts) if parts else "settings unknown")
    return text + (f" ({d.note})" if d.note else "")


def deployment_fields(deployment: Deployment) -> dict[str, Any]:
    """The deployment as JSON-ready fields for reports (summary.json, JUnit properties, the report
    page, the Azure Pipelines summary): kind, every field (None when unknown), sources and note."""
    return {
        "kind": deployment.kind,
        **{name: getattr(deployment, name) for name in FIELDS},
        "sources": dict(deployment.sources),
        "note": deployment.note,
    }
