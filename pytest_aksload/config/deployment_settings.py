"""`--aks-deployment-settings` / ini `aks_deployment_settings`: what a user states about a deployment
the target cannot read itself (a plain `--aks-scoring-uri`), e.g.
``"instances=3, max_concurrent=2, request_timeout=5s"``.

Each KEY is a field of `targets.deployment.Deployment` in a short form (`KEYS`); the parser returns
(field, value) pairs that targets/ turns into the target's `Deployment`. Stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pytest_aksload.config.units import UnitError, exact_float, parse_duration

# The deployment kinds a user may state; without kind= the deployment is `stated` and judged by the
# online endpoints' rule (run/preload.py).
STATED_KINDS = ("managed", "kubernetes", "aks-v1")


class DeploymentSettingsError(ValueError):
    """Stated settings that cannot be used; the message names the bad part, in one line."""


def _text(value: str) -> str:
    if not value:
        raise ValueError("empty")
    return value


def _whole(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ValueError(value)
    return int(value)


def _seconds(value: str) -> float:
    try:
        return parse_duration(value)
    except UnitError:
        raise ValueError(value) from None


def _utilization(value: str) -> float:
    """`70%` or `0.7`: a fraction in (0, 1]."""
    percent = value.endswith("%")
    number = value.removesuffix("%").strip()
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+", number):
        raise ValueError(value)
    fraction = exact_float(number) / (100 if percent else 1)
    if not 0 < fraction <= 1:
        raise ValueError(value)
    return fraction


def _kind(value: str) -> str:
    if value not in STATED_KINDS:
        raise ValueError(value)
    return value


# short key -> (Deployment field, parser, accepted form)
KEYS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "name": ("name", _text, "a deployment name"),
    "model": ("model", _text, "NAME:VERSION"),
    "instance_type": ("instance_type", _text, "a VM size, e.g. Standard_DS3_v2"),
    "instances": ("instances", _whole, "a whole number >= 1"),
    "min_instances": ("min_instances", _whole, "a whole number >= 1"),
    "max_instances": ("max_instances", _whole, "a whole number >= 1"),
    "max_concurrent": ("max_concurrent_per_instance", _whole, "a whole number >= 1"),
    "request_timeout": ("request_timeout_s", _seconds, "a duration, e.g. 5s, 500ms"),
    "max_queue_wait": ("max_queue_wait_s", _seconds, "a duration, e.g. 500ms"),
    "target_utilization": ("target_utilization", _utilization, "a fraction in (0, 1] or a percentage, e.g. 70%"),
    "kind": ("kind", _kind, " or ".join(STATED_KINDS)),
}
FORM = (
    f"space- or comma-separated KEY=VALUE with KEY one of {', '.join(KEYS)}, "
    'e.g. "instances=3, max_concurrent=2, request_timeout=5s"'
)


def parse_deployment_settings(spec: str) -> tuple[tuple[str, Any], ...]:
    """(Deployment field, value) for each KEY=VALUE of `spec`, in order; raises
    `DeploymentSettingsError` naming the first bad key or value (settings.py adds `FORM`)."""
    entries = [entry for entry in re.split(r"[\s,]+", spec.strip()) if entry]
    if not entries:
        raise DeploymentSettingsError("no setting given")
    settings: dict[str, Any] = {}
    for entry in entries:
        key, equals, value = entry.partition("=")
        if not equals or key not in KEYS:
            raise DeploymentSettingsError(f"unknown key {key!r}")
        field, parse, accepted = KEYS[key]
        if field in settings:
            raise DeploymentSettingsError(f"{key} is given twice")
        try:
            settings[field] = parse(value)
        except ValueError:
            raise DeploymentSettingsError(f"{key}={value!r}: use {accepted}") from None
    low, high = settings.get("min_instances"), settings.get("max_instances")
    if low is not None and high is not None and low > high:
        raise DeploymentSettingsError(f"min_instances={low} is above max_instances={high}")
    return tuple(settings.items())
