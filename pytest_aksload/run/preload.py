"""Checks before the load: what the deployment's settings say the test's profile will run into.

Each check compares the profile with a setting the target knows (`targets.deployment.Deployment`)
and returns a warning with the numbers and the remedy; an unknown setting means no check (nothing is
guessed), and a warning never changes a verdict. See docs/sizing.md.

- the throttling ceiling: Azure ML online endpoints answer 429 above
  `2 × max_concurrent_requests_per_instance × instance_count` requests in flight (Azure ML's
  troubleshooting guide, "HTTP status codes: 429 Too many pending requests"); an SDK v1 AKS service
  takes `replica_max_concurrent_requests × replicas` at once and queues the rest (503 once a request
  waited `max_request_wait_time`). A closed-model profile can hold `users` requests in flight; an
  open-model `rate=` holds about rate × latency (Little's law), with the latency objective's
  threshold, else the pre-flight request's latency.
- timeout vs objective: a latency objective at or above the deployment's request timeout cannot
  see the slow requests: they fail as `timeout` (Azure ML's 408) instead.
- the endpoint's own limit: a managed online endpoint accepts 500 requests/s by default (Azure ML's
  quotas and limits page); a `rate=` or a capacity search that can ramp above it measures that limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_aksload.config.capacity import CapacitySearch
from pytest_aksload.config.metrics import LATENCY
from pytest_aksload.config.objectives import Slo
from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.run.capacity import STEP_OVERHEAD_S
from pytest_aksload.targets.deployment import Deployment

# Requests per second a managed online endpoint accepts by default (a quota: support can raise it).
MANAGED_ENDPOINT_RPS = 500
# What each kind calls its settings, for remedies the user can act on.
_CONCURRENCY_SETTING = {"aks-v1": "replica_max_concurrent_requests", "local": "--aks-local-max-concurrent"}
_TIMEOUT_SETTING = {"aks-v1": "scoring_timeout_ms", "stated": "request_timeout", "local": "--aks-local-request-timeout"}


@dataclass(frozen=True)
class Ceiling:
    """The most requests the deployment holds in flight before it sheds load, and how it is computed."""

    requests: int
    formula: str  # e.g. "2 × max_concurrent_requests_per_instance 2 × 1 instance"
    setting: str  # the concurrency setting to raise
    unit: str  # "instances" or "replicas"
    sheds: str  # what happens above it

    def __str__(self) -> str:
        return f"this deployment {self.sheds} above {self.requests} ({self.formula})"

    def remedy(self, lower: str) -> str:
        return f"raise {self.setting}, add {self.unit}, or lower {lower}"


def throttling_ceiling(deployment: Deployment | None) -> Ceiling | None:
    """The deployment's in-flight ceiling, or None when a setting it needs is unknown.

    An autoscaled deployment is taken at its max_instances (the most it can hold), and says so."""
    if deployment is None or deployment.max_concurrent_per_instance is None:
        return None
    per_instance = deployment.max_concurrent_per_instance
    count = deployment.instances if deployment.instances is not None else deployment.max_instances
    if count is None:
        return None
    v1 = deployment.kind == "aks-v1"
    unit = "replica" if v1 else "instance"
    scale = f"{count} {unit}{'s' if count != 1 else ''}"
    if deployment.instances is None:
        scale += " at most (autoscale max_instances)"
    setting = _CONCURRENCY_SETTING.get(deployment.kind, "max_concurrent_requests_per_instance")
    if v1:
        return Ceiling(
            per_instance * count, f"{setting} {per_instance} × {scale}", setting, "replicas",
            "queues requests (503 once one waited max_request_wait_time)",
        )  # fmt: skip
    formula = f"2 × {setting} {per_instance} × {scale}"
    return Ceiling(2 * per_instance * count, formula, setting, "instances", "throttles (429)")


def throttling_hint(deployment: Deployment | None) -> str | None:
    """The ceiling as throttling failures' hint quotes it after the run (verdicts/diagnosis.py)."""
    ceiling = throttling_ceiling(deployment)
    return None if ceiling is None else f"{ceiling}: {ceiling.remedy('the load')}"


def preload_warnings(
    deployment: Deployment | None, profile: LoadProfile, preflight_latency_s: float | None = None
) -> list[str]:
    """Every check's warning for this profile against this deployment (none when settings are unknown)."""
    if deployment is None:
        return []
    found = [_ceiling_warning(deployment, profile, preflight_latency_s), _endpoint_limit_warning(deployment, profile)]
    found += _timeout_warnings(deployment, profile)
    return [f"aksload: {warning}" for warning in found if warning]


def _latency_caps(profile: LoadProfile) -> list[Slo]:
    return [slo for slo in profile.slos if slo.kind == LATENCY and slo.caps and slo.relative is None]


def _ceiling_warning(deployment: Deployment, profile: LoadProfile, preflight_latency_s: float | None) -> str | None:
    ceiling = throttling_ceiling(deployment)
    if ceiling is None or profile.capacity is not None:
        return None
    if profile.rate is None:
        if profile.users <= ceiling.requests:
            return None
        return (
            f"{profile.users} users can hold {profile.users} requests in flight; {ceiling}: {ceiling.remedy('users')}"
        )
    caps = _latency_caps(profile)
    if caps:
        slo = min(caps, key=lambda s: s.threshold)
        latency_s, latency = slo.threshold / 1000, f"{slo} (the latency objective)"
    elif preflight_latency_s is not None:
        latency_s, latency = preflight_latency_s, f"{preflight_latency_s * 1000:.0f}ms (the pre-flight request's)"
    else:
        return None
    in_flight = profile.rate * latency_s
    if in_flight <= ceiling.requests:
        return None
    return (
        f"rate={profile.rate:g}/s at {latency} keeps about {in_flight:.0f} requests in flight (rate × latency); "
        f"{ceiling}: {ceiling.remedy('rate=')}"
    )


def _timeout_warnings(deployment: Deployment, profile: LoadProfile) -> list[str]:
    timeout_s = deployment.request_timeout_s
    if timeout_s is None:
        return []
    setting = _TIMEOUT_SETTING.get(deployment.kind, "request_timeout_ms")
    return [
        f"{slo} is at or above this deployment's request timeout of {timeout_s:g}s ({setting}): requests slower "
        f"than {timeout_s:g}s fail as timeout (Azure ML answers 408) instead of counting as slow, so the objective "
        f"cannot be measured as such: set it below {timeout_s:g}s, or raise {setting}"
        for slo in _latency_caps(profile)
        if slo.threshold >= timeout_s * 1000
    ]


def highest_ramp_rate(search: CapacitySearch) -> float:
    """The highest rate a capacity search's ramp can reach in its max_duration (run/capacity.py keeps
    time for one confirmation and spends STEP_OVERHEAD_S per step)."""
    step = search.step_s + STEP_OVERHEAD_S
    steps = math.floor((search.max_duration_s - search.hold_s - STEP_OVERHEAD_S) / step)
    return search.start_rps * search.factor ** max(0, steps - 1)


def _endpoint_limit_warning(deployment: Deployment, profile: LoadProfile) -> str | None:
    if deployment.kind != "managed":
        return None
    limit = (
        f"the {MANAGED_ENDPOINT_RPS} requests/s a managed online endpoint accepts by default (Azure ML's quota per "
        "endpoint; it throttles (429) above it)"
    )
    if profile.capacity is not None:
        reachable = highest_ramp_rate(profile.capacity)
        if reachable <= MANAGED_ENDPOINT_RPS:
            return None
        return (
            f"the capacity search can ramp to {reachable:g}/s in its max_duration, beyond {limit}: a capacity found "
            f"above {MANAGED_ENDPOINT_RPS}/s is the endpoint's limit, not the deployment's (ask Azure support for a "
            "higher limit, or lower capacity= max_duration)"
        )
    if profile.rate is not None and profile.rate > MANAGED_ENDPOINT_RPS:
        return f"rate={profile.rate:g}/s exceeds {limit}: lower rate=, or ask Azure support for a higher limit"
    return None
