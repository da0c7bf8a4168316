"""Azure Pipelines logging commands on hand-made report records (no Locust, no pytest run): their
format and escaping, one error per failed gate, where the summary goes, no secret printed; and
the documented pipeline recipe (parses, has its tasks; tests/unit/test_docs_blocks.py checks that docs/ci.md
includes this very file)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_aksload.config.settings import Settings
from pytest_aksload.redact import SECRETS
from pytest_aksload.reports import azure_pipelines
from pytest_aksload.reports.azure_pipelines import (
    escape_message,
    escape_property,
    failed_gate_commands,
    logging_command,
    summary_directory,
)
from pytest_aksload.reports.files import write_session_outputs

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "ci" / "azure-pipelines.yml"


def record(nodeid: str, verdict: str, slos: list[dict[str, Any]] = (), **extra: Any) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "profile": "2 users",
        "verdict": verdict,
        "target": "svc",
        "metrics": None,
        "slos": list(slos),
        "comparisons": [],
        "overlapping_tests": [],
        **extra,
    }


def slo(objective: str, passed: bool) -> dict[str, Any]:
    verdict = "PASS" if passed else "FAIL"
    return {"objective": objective, "passed": passed, "description": f"{objective}: measured 9ms ({verdict})"}


def test_messages_and_properties_are_escaped_as_azure_devops_requires() -> None:
    assert escape_message("100% done\r\nnext; ok]") == "100%AZP25 done%0D%0Anext; ok]"
    assert escape_property("a;b]c%d\r\n") == "a%3Bb%5Dc%AZP25d%0D%0A"
    # `%` is escaped first, so an escape is never escaped twice.
    assert escape_message("%0A") == "%AZP250A"


def test_a_logging_command_is_one_line_with_its_properties() -> None:
    assert logging_command("task.uploadsummary", "/tmp/x/pytest-aksload.md") == (
        "##vso[task.uploadsummary]/tmp/x/pytest-aksload.md"
    )
    line = logging_command("task.logissue", "two\nlines", {"type": "error", "sourcepath": "t[a;b].py"})
    assert line == "##vso[task.logissue type=error;sourcepath=t[a%3Bb%5D.py]two%0Alines"
    assert "\n" not in line


def test_one_error_per_failed_gate_naming_the_test_and_what_it_missed() -> None:
    records = [
        record("t.py::test_pass", "PASS", [slo("p95 < 300ms", True)]),
        record("t.py::test_skip", "SKIP"),
        record("t.py::test_slow", "FAIL", [slo("p95 < 300ms", False), slo("failure_rate < 1%", True)]),
        record("t.py::test_unsure", "INCONCLUSIVE", [slo("p99 < 1s", False)]),
        record("t.py::test_broken", "ERROR"),
        record("t.py::test_body", "FAIL"),
        record(
            "t.py::test_regressed",
            "FAIL",
            comparisons=[{"metric": "p95", "status": "REGRESSED"}, {"metric": "rps", "status": "ok"}],
        ),
    ]
    prefix = "##vso[task.logissue type=error;sourcepath=t.py]"
    assert failed_gate_commands(records) == [
        f"{prefix}t.py::test_slow FAIL: p95 < 300ms: measured 9ms (FAIL)",
        f"{prefix}t.py::test_unsure INCONCLUSIVE: p99 < 1s: measured 9ms (FAIL)",
        f"{prefix}t.py::test_broken ERROR: the load did not run to the end; see the test's log",
        f"{prefix}t.py::test_body FAIL: the test failed; see the test's log",
        f"{prefix}t.py::test_regressed FAIL: p95 regressed against the baseline",
    ]


def test_nothing_printed_holds_a_secret_even_one_the_escaping_would_split() -> None:
    secret = "k3y%with;odd]chars-0b5e"
    SECRETS.remember(secret)
    leaky = record(f"t.py::test_x[{secret}]", "FAIL", [slo(f"p95 < 1ms {secret}", False)])
    (line,) = failed_gate_commands([leaky])
    assert secret not in line and escape_message(secret) not in line and escape_property(secret) not in line
    assert line.startswith("##vso[task.logissue type=error;sourcepath=t.py]t.py::test_x[***] FAIL: ")


def test_the_summary_goes_beside_the_report_else_into_a_new_agent_temp_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = {"AGENT_TEMPDIRECTORY": str(tmp_path / "agent")}
    (tmp_path / "agent").mkdir()
    assert summary_directory("report", agent) == Path("report").absolute()
    first, second = (summary_directory(None, agent) for _ in range(2))
    assert first.parent == second.parent == tmp_path / "agent" and first != second
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    assert summary_directory(None, {}).parent == tmp_path / "system"


@pytest.mark.parametrize("tf_build", ["True", None])
def test_session_outputs_publish_only_in_azure_pipelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf_build: str | None
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("AGENT_TEMPDIRECTORY", str(tmp_path))
    if tf_build is None:
        monkeypatch.delenv("TF_BUILD", raising=False)
    else:
        monkeypatch.setenv("TF_BUILD", tf_build)
    printed: list[str] = []
    records = [record("t.py::test_ok", "PASS"), record("t.py::test_slow", "FAIL", [slo("p95 < 1ms", False)])]
    write_session_outputs(Settings(), records, printed.append)
    if tf_build is None:
        assert printed == [] and list(tmp_path.iterdir()) == []
        return
    upload, issue = printed
    path = Path(upload.removeprefix("##vso[task.uploadsummary]"))
    assert path.is_absolute() and path.name == azure_pipelines.SUMMARY_FILE and path.parent.parent == tmp_path
    summary = path.read_text()
    assert "| test | target | profile |" in summary and "`t.py::test_slow`" in summary and "**FAIL**" in summary
    assert issue.startswith("##vso[task.logissue type=error;sourcepath=t.py]t.py::test_slow FAIL: p95 < 1ms")


# -- the documented recipe ---------------------------------------------------------------------


def steps(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step, including those inside template conditionals (`${{ if ... }}: [steps]`)."""
    found = []
    for step in pipeline["steps"]:
        conditional = [value for key, value in step.items() if key.startswith("${{")]
        found += conditional[0] if conditional else [step]
    return found


def test_the_recipe_parses_and_has_each_task_it_documents() -> None:
    pipeline = yaml.safe_load(RECIPE.read_text())
    by_task = {step["task"]: step for step in steps(pipeline) if "task" in step}
    assert set(by_task) == {"UsePythonVersion@0", "AzureCLI@2", "PublishTestResults@2", "PublishPipelineArtifact@1"}
    scripts = [step for step in steps(pipeline) if "script" in step]
    assert any(step["script"].startswith("pip install ") for step in scripts)
    assert any('"workspace_name": "$(AML_WORKSPACE)"' in step["script"] for step in scripts)
    (gate,) = [step for step in scripts if step["script"].startswith("pytest ")]
    junit = re.search(r"--junitxml (\S+)", gate["script"])[1]
    report = re.search(r"--aks-report (\S+)", gate["script"])[1]

    sign_in = by_task["AzureCLI@2"]["inputs"]
    assert sign_in["addSpnToEnvironment"] is True
    assert "variable=AZURE_CLIENT_SECRET;issecret=true]$servicePrincipalKey" in sign_in["inlineScript"]
    # The secret reaches pytest through the step's environment, never its command line.
    assert gate["env"]["AZUREML_SERVICE_PRINCIPAL_PASSWORD"] == "$(AZURE_CLIENT_SECRET)"
    assert "SECRET" not in gate["script"] and "PASSWORD" not in gate["script"]

    results = by_task["PublishTestResults@2"]
    assert results["inputs"]["testResultsFiles"] == junit and results["inputs"]["testResultsFormat"] == "JUnit"
    artifact = by_task["PublishPipelineArtifact@1"]
    assert artifact["inputs"]["targetPath"] == report
    # Results and report are published when the gate failed too: that is when they are read.
    assert results["condition"] == artifact["condition"] == "succeededOrFailed()"
