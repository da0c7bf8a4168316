"""Checks before the load (run/preload.py): the throttling ceiling, timeout vs objective and the
endpoint's own limit, each with its numbers and remedy; no warning under a limit, none when a setting
is unknown; and the throttling failures' hint quoting the same ceiling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.profile import LoadProfile, profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.run.capacity import STEP_OVERHEAD_S
from pytest_aksload.run.preload import (
    MANAGED_ENDPOINT_RPS,
    highest_ramp_rate,
    preload_warnings,
    throttling_ceiling,
    throttling_hint,
)
from pytest_aksload.stats.result import ErrorGroup
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.verdicts.diagnosis import HINTS, hint

MANAGED = Deployment(kind="managed", instances=1, max_concurrent_per_instance=2)


def _profile(**marker: Any) -> LoadProfile:
    return profile_from_marker((), {"duration": "10s", **marker}, Settings(), Path.cwd())


def test_users_above_the_ceiling_are_named_with_the_formula_and_the_remedy() -> None:
    assert preload_warnings(MANAGED, _profile(users=200)) == [
        "aksload: 200 users can hold 200 requests in flight; this deployment throttles (429) above 4 "
        "(2 × max_concurrent_requests_per_instance 2 × 1 instance): raise max_concurrent_requests_per_instance, "
        "add instances, or lower users"
    ]


@pytest.mark.parametrize("users", [1, 4])
def test_no_warning_at_or_under_the_ceiling(users: int) -> None:
    assert preload_warnings(MANAGED, _profile(users=users)) == []


@pytest.mark.parametrize(
    "deployment",
    [
        None,
        Deployment(kind="managed", instances=1),  # max_concurrent unknown: Azure's default 1 is not assumed
        Deployment(kind="managed", max_concurrent_per_instance=2),  # instance count unknown
        Deployment(kind="stated"),
    ],
)
def test_no_check_when_a_setting_is_unknown(deployment: Deployment | None) -> None:
    assert throttling_ceiling(deployment) is None and throttling_hint(deployment) is None
    assert preload_warnings(deployment, _profile(users=500, slo=["p95 < 600s"], rate=400)) == []


def test_an_autoscaled_deployment_is_taken_at_its_max_instances_and_says_so() -> None:
    scaled = Deployment(kind="kubernetes", min_instances=1, max_instances=3, max_concurrent_per_instance=2)
    ceiling = throttling_ceiling(scaled)
    assert ceiling is not None and ceiling.requests == 12
    assert str(ceiling) == (
        "this deployment throttles (429) above 12 "
        "(2 × max_concurrent_requests_per_instance 2 × 3 instances at most (autoscale max_instances))"
    )
    assert preload_warnings(scaled, _profile(users=12)) == []


def test_an_aks_v1_service_takes_replicas_times_its_concurrency() -> None:
    service = Deployment(kind="aks-v1", instances=3, max_concurrent_per_instance=1)
    (warning,) = preload_warnings(service, _profile(users=4))
    assert "4 users can hold 4 requests in flight; this deployment queues requests (503 once one waited " in warning
    assert "above 3 (replica_max_concurrent_requests 1 × 3 replicas)" in warning
    assert warning.endswith("raise replica_max_concurrent_requests, add replicas, or lower users")
    assert preload_warnings(service, _profile(users=3)) == []


def test_an_open_model_rate_uses_the_latency_objective() -> None:
    (warning,) = preload_warnings(MANAGED, _profile(rate=50, slo=["p95 < 200ms", "p99 < 1s"]), 0.001)
    assert warning.startswith(
        "aksload: rate=50/s at p95 < 200ms (the latency objective) keeps about 10 requests in flight (rate × latency); "
        "this deployment throttles (429) above 4"
    )
    assert warning.endswith("or lower rate=")
    assert preload_warnings(MANAGED, _profile(rate=20, slo=["p95 < 200ms"])) == []  # 4 in flight: at the ceiling


def test_an_open_model_rate_without_a_latency_objective_uses_the_pre_flight_latency() -> None:
    profile = _profile(rate=100, slo=["failure_rate < 1%"])
    (warning,) = preload_warnings(MANAGED, profile, 0.120)
    assert "rate=100/s at 120ms (the pre-flight request's) keeps about 12 requests in flight" in warning
    assert preload_warnings(MANAGED, profile, 0.030) == []
    assert preload_warnings(MANAGED, profile, None) == []  # no latency known: no check


def test_a_latency_objective_at_or_above_the_request_timeout_cannot_be_measured() -> None:
    deployment = Deployment(kind="managed", request_timeout_s=5.0)
    (warning,) = preload_warnings(deployment, _profile(users=2, slo=["p95 < 300ms", "p99 <= 5s"]))
    assert warning == (
        "aksload: p99 <= 5s is at or above this deployment's request timeout of 5s (request_timeout_ms): requests "
        "slower than 5s fail as timeout (Azure ML answers 408) instead of counting as slow, so the objective cannot "
        "be measured as such: set it below 5s, or raise request_timeout_ms"
    )
    assert preload_warnings(deployment, _profile(users=2, slo=["p99 < 4.9s"])) == []
    assert preload_warnings(Deployment(kind="managed"), _profile(users=2, slo=["p99 <= 5s"])) == []


def test_a_rate_above_the_managed_endpoint_limit() -> None:
    (warning,) = preload_warnings(Deployment(kind="managed"), _profile(rate=800))
    assert warning == (
        "aksload: rate=800/s exceeds the 500 requests/s a managed online endpoint accepts by default (Azure ML's "
        "quota per endpoint; it throttles (429) above it): lower rate=, or ask Azure support for a higher limit"
    )
    assert preload_warnings(Deployment(kind="managed"), _profile(rate=MANAGED_ENDPOINT_RPS)) == []
    # The limit is a managed online endpoint's: nothing is assumed for others.
    assert preload_warnings(Deployment(kind="kubernetes"), _profile(rate=800)) == []
    assert preload_warnings(Deployment(kind="stated"), _profile(rate=800)) == []


def test_a_capacity_search_that_can_ramp_above_the_endpoint_limit() -> None:
    search = _profile(capacity=True, slo=["p95 < 300ms"])
    assert search.capacity is not None
    reachable = highest_ramp_rate(search.capacity)
    (warning,) = preload_warnings(Deployment(kind="managed", instances=1, max_concurrent_per_instance=1), search)
    assert f"the capacity search can ramp to {reachable:g}/s in its max_duration, beyond the 500 requests/s" in warning
    assert "a capacity found above 500/s is the endpoint's limit" in warning
    short = _profile(capacity={"max_duration": "60s"}, slo=["p95 < 300ms"])
    assert preload_warnings(Deployment(kind="managed"), short) == []


def test_the_highest_ramp_rate_follows_the_search_s_time_budget() -> None:
    search = _profile(
        capacity={"start": 10, "factor": 2, "step": "5s", "hold": "10s", "max_duration": "60s"}, slo=["p95 < 1s"]
    )
    assert search.capacity is not None
    # (60 - 10 - overhead) // (5 + overhead) steps: 10, 20, 40, ... for that many steps.
    steps = int((60 - 10 - STEP_OVERHEAD_S) // (5 + STEP_OVERHEAD_S))
    assert highest_ramp_rate(search.capacity) == 10 * 2 ** (steps - 1)


def test_throttling_failures_hint_quotes_the_ceiling() -> None:
    throttled = ErrorGroup("throttling", 429, "HTTP 429: Too many pending requests", 40)
    quoted = throttling_hint(MANAGED)
    assert hint(throttled, quoted) == (
        "the service shed load (429/503): this deployment throttles (429) above 4 "
        "(2 × max_concurrent_requests_per_instance 2 × 1 instance): raise max_concurrent_requests_per_instance, "
        "add instances, or lower the load"
    )
    assert hint(throttled) == HINTS["throttling"]  # unknown ceiling: the generic hint
    assert hint(ErrorGroup("timeout", 408, "HTTP 408", 1), quoted) == HINTS["timeout"]
