"""`--aks-local-deployments`: the deployments the embedded local service hosts behind one endpoint.

SPEC is space- or comma-separated ``NAME=MODEL[+LATENCY]``, e.g. ``"blue=shipped green=shipped+40ms"``:
NAME follows Azure ML's rule for deployment names (quoted in `NAME_RULE`), MODEL is ``shipped``
(the package's LightGBM model) or the path of a LightGBM model file trained on the same Criteo
features (e.g. by ``python -m pytest_aksload.local.train``), LATENCY an extra delay per scored
request (``40ms``, ``0.1s``). The service routes a request by its ``azureml-model-deployment``
header, as a managed online endpoint does; a request without it goes to the first deployment
listed (Azure splits such traffic by weight; here the first one is the live deployment).

Stdlib only: the local service's launcher reads these too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_aksload.config.units import UnitError, parse_duration

SHIPPED = "shipped"
SPEC_FORM = 'space- or comma-separated NAME=MODEL[+LATENCY], e.g. "blue=shipped green=shipped+40ms"'
# Azure ML's limits for online endpoints ("Manage and increase quotas and limits for resources",
# learn.microsoft.com/azure/machine-learning/how-to-manage-quotas): deployment names "begin with a
# letter, are 3-32 characters in length, only consist of letters and numbers" (single dashes
# accepted), and an endpoint has at most 20 deployments.
NAME_RULE = "3-32 letters, digits or single dashes, beginning with a letter (Azure ML's rule for deployment names)"
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*", re.ASCII)
MAX_DEPLOYMENTS = 20
# The longest a managed online endpoint waits for an answer: a longer delay never reaches a client.
MAX_LATENCY_S = 180.0


class LocalDeploymentError(ValueError):
    """A SPEC that cannot be used; the message says which part and why, in one line."""


@dataclass(frozen=True)
class LocalDeployment:
    """One deployment of the local endpoint: its name, model file (None: the shipped model) and
    extra latency per scored request, in seconds."""

    name: str
    model: str | None = None
    latency_s: float = 0.0


def parse_local_deployments(spec: str) -> tuple[LocalDeployment, ...]:
    """The deployments of `spec`, in order; model paths as written (see `locate_models`).

    Raises `LocalDeploymentError` naming the first problem.
    """
    entries = [entry for entry in re.split(r"[\s,]+", spec.strip()) if entry]
    if not entries:
        raise LocalDeploymentError("no deployment given")
    if len(entries) > MAX_DEPLOYMENTS:
        raise LocalDeploymentError(f"{len(entries)} deployments; an Azure ML endpoint has at most {MAX_DEPLOYMENTS}")
    deployments = tuple(_deployment(entry) for entry in entries)
    check_names(deployments)
    return deployments


def check_names(deployments: Sequence[LocalDeployment]) -> None:
    """`LocalDeploymentError` unless every name follows Azure's rule and none repeats."""
    seen: set[str] = set()
    for deployment in deployments:
        name = deployment.name
        if not (3 <= len(name) <= 32 and _NAME_RE.fullmatch(name)):
            raise LocalDeploymentError(f"{name!r} is not a deployment name: use {NAME_RULE}")
        # Azure's names are case-insensitive: Blue and blue would be one deployment there.
        if name.lower() in seen:
            raise LocalDeploymentError(f"deployment {name!r} is given twice")
        seen.add(name.lower())


def locate_models(deployments: Sequence[LocalDeployment], root: Path) -> tuple[LocalDeployment, ...]:
    """`deployments` with each model path made absolute against `root` (pytest's rootdir).

    Raises `LocalDeploymentError` when a model file does not exist.
    """
    located = []
    for deployment in deployments:
        if deployment.model is None:
            located.append(deployment)
            continue
        try:
            path = root / Path(deployment.model).expanduser()
        except RuntimeError:  # "~name" of a user that does not exist: then no such file either
            path = root / deployment.model
        if not path.is_file():
            raise LocalDeploymentError(
                f"model of deployment {deployment.name!r}: no file {deployment.model!r} (relative to the rootdir "
                f"{str(root)!r}); give {SHIPPED} or the path of a LightGBM model file"
            )
        located.append(LocalDeployment(deployment.name, str(path.resolve()), deployment.latency_s))
    return tuple(located)


def candidate(deployments: Sequence[LocalDeployment], name: str | None) -> LocalDeployment | None:
    """The deployment a gate targets: `name` (--aml-deployment), else the first; None without deployments
    or when `name` is not among them."""
    if not deployments:
        return None
    if name is None:
        return deployments[0]
    return next((deployment for deployment in deployments if deployment.name == name), None)


def _deployment(entry: str) -> LocalDeployment:
    name, equals, rest = entry.partition("=")
    if not equals or not name or not rest:
        raise LocalDeploymentError(f"{entry!r} is not NAME=MODEL[+LATENCY]")
    model, plus, latency_text = rest.rpartition("+") if "+" in rest else (rest, "", "")
    if not model:
        raise LocalDeploymentError(f"{entry!r} has no MODEL: give {SHIPPED} or the path of a LightGBM model file")
    latency = 0.0
    if plus:
        try:
            latency = parse_duration(latency_text, what=f"latency of {name!r}", allow_zero=True)
        except UnitError as error:
            raise LocalDeploymentError(str(error)) from None
        if latency > MAX_LATENCY_S:
            raise LocalDeploymentError(
                f"latency of {name!r}: {latency_text!r} is longer than {MAX_LATENCY_S:g}s, "
                "the longest a managed online endpoint waits for an answer"
            )
    return LocalDeployment(name, None if model == SHIPPED else model, latency)
