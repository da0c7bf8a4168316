"""Azure ML's own answers and wrong routing under load, through the Locust child against loopback
servers on 127.0.0.1: 408 / 424 / 429 get their failure kinds, an answer from another deployment
than `--aml-deployment` is a `routing` failure, and pre-flight refuses such an answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers.loopback_models import LoopbackModel, score

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.protocol import SampleRows
from pytest_aksload.run.plan import RunPlan
from pytest_aksload.run.preflight import PreflightError, preflight
from pytest_aksload.run.runner import run_load
from pytest_aksload.targets.target import Target

ROWS = [{"int00": i, "cat00": f"{i:08x}"} for i in range(10)]
SAMPLE = SampleRows(ROWS, expected=[score(row) for row in ROWS])
MARKER = {"users": 4, "spawn_rate": 50, "duration": "2s", "wait": (0.002, 0.005), "timeout": "5s"}


def _target(server: LoopbackModel) -> Target:
    return Target(scoring_uri=server.url, name="loopback", kind="scoring-uri")


def test_azure_mls_statuses_are_timeout_model_and_throttling_failures(tmp_path: Path) -> None:
    profile = profile_from_marker((), MARKER, Settings(), tmp_path)
    with LoopbackModel(statuses=[200, 408, 424, 429]) as server:
        result = run_load(RunPlan(_target(server), profile, SAMPLE))
    kinds = result.failures_by_kind
    assert set(kinds) == {"timeout", "model", "throttling"}, kinds
    messages = {group.kind: group.message for group in result.errors}
    assert messages["model"] == "HTTP 424: model answered 500: model_error"
    assert messages["timeout"].startswith("HTTP 408") and messages["throttling"].startswith("HTTP 429")
    # The answered quarter is right: failures are not mismatches, and rows count successful requests only.
    assert result.mismatch_rate == 0 and result.rows == result.requests - result.failures > 0


def test_an_answer_from_another_deployment_is_a_routing_failure(tmp_path: Path) -> None:
    profile = profile_from_marker((), {**MARKER, "batch": 3}, Settings(), tmp_path)
    with LoopbackModel(deployment="green") as server:
        result = run_load(RunPlan(_target(server), profile, SAMPLE, deployment="blue"))
        with pytest.raises(PreflightError, match="answered by deployment 'green', not 'blue'.*failure kind routing"):
            preflight(_target(server), SAMPLE, 5.0, batch=3, deployment="blue")
        assert preflight(_target(server), SAMPLE, 5.0, batch=3, deployment="green") == [score(r) for r in ROWS[:3]]
    assert result.failures == result.requests > 0
    assert result.failures_by_kind == {"routing": result.requests}
    assert result.rows == 0 and result.errors[0].message == "answered by deployment 'green', not 'blue'"


def test_local_workers_merge_rows_and_correctness(tmp_path: Path) -> None:
    profile = profile_from_marker((), {**MARKER, "workers": 2, "batch": 2}, Settings(), tmp_path)
    with LoopbackModel(offset=0.5) as server:  # every prediction off by 0.5 (or capped at 1)
        result = run_load(RunPlan(_target(server), profile, SAMPLE))
    assert result.requests > 0 and result.failures == 0
    assert result.rows == 2 * result.requests == result.correctness.checked
    assert result.mismatch_rate == 1.0 and len(result.mismatches) == 5
    windows = result.windows(1.0)
    assert sum(window.rows for window in windows) == result.rows  # the workers' windows merged too
