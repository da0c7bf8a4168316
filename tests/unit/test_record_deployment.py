"""The deployment behind a test's target and the gate's warnings (the checks before the load among
them) reach every output through the report record alone: summary.json, JUnit properties, the
Markdown / GitHub / Azure Pipelines summary and the report page. Unknown fields are left out, never
filled in; warnings are redacted and change no verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from synthetic_results import result_from_windows

from pytest_aksload.config.profile import profile_from_marker
from pytest_aksload.config.settings import Settings
from pytest_aksload.reports import azure_pipelines
from pytest_aksload.reports.files import junit_properties, markdown_summary, write_report_dir
from pytest_aksload.reports.html import render_session_page
from pytest_aksload.reports.record import Record, build_record, verdict_of
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.verdicts.decision import judge_gate

CEILING = "10 users can hold 10 requests in flight; this deployment throttles (429) above 4"
TOKEN = "Bearer abcdefghijklmnop"  # token-shaped: the redactor masks it without being told

DEPLOYMENT = Deployment.read(
    "managed",
    {
        "name": ("blue", "online_deployments.get"),
        "instance_type": (None, "online_deployments.get"),  # the SDK did not say: unknown
        "instances": (1, "online_deployments.get"),
        "max_concurrent_per_instance": (2, "--aks-deployment-settings"),
        "request_timeout_s": (5.0, "online_deployments.get"),
    },
)
LINE = "managed: deployment blue, 1 instance, max 2 concurrent per instance, request timeout 5s"


def record(nodeid: str = "t.py::test_gate", *, deployment: Deployment | None = DEPLOYMENT, **extra: Any) -> Record:
    gate = profile_from_marker(
        (), {"users": 10, "duration": "5s", "slo": "p95 < 1s"}, Settings(), Path(__file__).parent
    )
    warnings = [CEILING, f"the server said {TOKEN}"]
    gated = judge_gate(gate, result_from_windows([([20_000] * 50, 0)] * 5), "fail", warnings=warnings)
    verdict = verdict_of(False, gated, failed_by_gate=False)
    return build_record(nodeid, "10 users", verdict, target="svc", gated=gated, deployment=deployment, **extra)


def test_the_record_holds_the_deployments_fields_and_the_redacted_warnings() -> None:
    entry = record()
    assert entry["verdict"] == "PASS"  # the warnings changed nothing
    assert entry["deployment"] is not None
    assert entry["deployment"]["kind"] == "managed" and entry["deployment"]["instances"] == 1
    assert entry["deployment"]["instance_type"] is None and "instance_type" not in entry["deployment"]["sources"]
    assert entry["deployment"]["sources"]["max_concurrent_per_instance"] == "--aks-deployment-settings"
    assert entry["warnings"] == [CEILING, "the server said Bearer ***"]
    assert TOKEN not in json.dumps(entry, allow_nan=False)
    no_target_settings = record(deployment=None)
    assert no_target_settings["deployment"] is None
    assert build_record("t.py::x", "p", "ERROR", deployment=DEPLOYMENT)["warnings"] == []  # nothing gated


def test_summary_json_has_each_tests_deployment_and_warnings(tmp_path: Path) -> None:
    write_report_dir(tmp_path, [record()])
    (test,) = json.loads((tmp_path / "summary.json").read_text())["tests"]
    assert test["deployment"]["name"] == "blue" and test["deployment"]["instances"] == 1
    assert test["deployment"]["min_instances"] is None  # unknown stays unknown
    assert test["warnings"][0] == CEILING


def test_junit_properties_name_the_deployment_its_known_fields_and_each_warning() -> None:
    properties = junit_properties(record())
    deployment = {name: value for name, value in properties if name.startswith("aksload.deployment")}
    assert deployment == {
        "aksload.deployment": LINE,
        "aksload.deployment.kind": "managed",
        "aksload.deployment.name": "blue",
        "aksload.deployment.instances": "1",
        "aksload.deployment.max_concurrent_per_instance": "2",
        "aksload.deployment.request_timeout_s": "5",
    }  # instance_type, autoscale, queue wait, utilization: unknown, so absent
    assert [value for name, value in properties if name == "aksload.warning"] == [CEILING, "the server said Bearer ***"]
    bare = junit_properties(record(deployment=None))
    assert not any(name.startswith("aksload.deployment") for name, _value in bare)


def test_the_markdown_summary_names_each_distinct_deployment_once_and_every_warning(tmp_path: Path) -> None:
    entries = [record("t.py::test_a"), record("t.py::test_b")]
    markdown = markdown_summary(entries)
    assert markdown.count(f"- svc: {LINE}") == 1  # one target, one deployment: one line
    assert f"- `t.py::test_a`: {CEILING}" in markdown and f"- `t.py::test_b`: {CEILING}" in markdown
    lines = []
    page = azure_pipelines.publish(entries, markdown, tmp_path, lines.append, environ={})
    assert LINE in page.read_text() and CEILING in page.read_text()
    nothing = markdown_summary([build_record("t.py::x", "p", "SKIP")])
    assert "Deployment:" not in nothing and "Warnings" not in nothing


def test_the_report_page_shows_the_deployment_under_the_heading_and_the_warnings() -> None:
    page = render_session_page([record(), record("t.py::bare", deployment=None)])
    sections = re.findall(r'<section class="test">.*?</section>', page, re.DOTALL)
    first, bare = sections
    heading_then_deployment = r"</h2><p class=\"facts\">[^<]*</p><p class=\"facts deployment\">deployment (.*?)</p>"
    assert re.search(heading_then_deployment, first).group(1) == LINE
    assert f"warning: {CEILING}" in first and TOKEN not in page
    assert "facts deployment" not in bare
