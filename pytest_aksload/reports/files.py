"""Gate outputs for CI: JUnit properties, `--aks-report` files, the Markdown summary.

Everything a CI system reads is derived from report records (record.py):

* JUnit: `junit_properties(record)` become `<property>` entries of the test case (`--junitxml`);
* `--aks-report DIR`: `<test>.json` (the `LoadResult.to_dict()`, histograms included, readable
  by `LoadResult.from_file`), `<test>.locust.html` (written by the Locust child itself),
  `summary.json`, `summary.md` and `report.html` (charts, see html.py);
* GitHub Actions: the Markdown summary appended to `$GITHUB_STEP_SUMMARY`;
* Azure Pipelines: the same summary on the run's page and an error per failed gate (azure_pipelines.py).

Nothing here sees a secret: records hold the target's name, never its headers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aksload.config.settings import Settings
from pytest_aksload.reports import azure_pipelines
from pytest_aksload.reports.html import render_session_page
from pytest_aksload.reports.record import deployment_line, known_deployment_fields, result_document
from pytest_aksload.reports.terminal import (
    RUN_ID_NOTE,
    comparison_cell,
    comparison_notes,
    comparison_text,
    metric_cells,
    run_id_lines,
    side_by_side_lines,
)
from pytest_aksload.verdicts import baseline

SUMMARY_FORMAT = "pytest-aksload-summary/1"


def file_stem(nodeid: str) -> str:
    """A file name for a test: readable, filesystem-safe, unique per node id."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.replace("::", "__")).strip("_")
    if len(readable) > 100 or readable != nodeid.replace("::", "__"):
        # Different ids can clean to the same name (a[x/y] vs a[x_y]): a short hash keeps them apart.
        readable = f"{readable[:100]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"
    return readable


def locust_html_path(report_dir: str | Path, nodeid: str) -> Path:
    """Where the Locust child writes its own HTML report of a test (absolute: it runs elsewhere)."""
    directory = Path(report_dir).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{file_stem(nodeid)}.locust.html"


def junit_properties(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs for `item.user_properties`, which `--junitxml` writes as <property>."""
    properties = [("aksload.verdict", entry["verdict"]), ("aksload.profile", entry["profile"])]
    if entry.get("target"):
        properties.append(("aksload.target", entry["target"]))
    if entry.get("run_id"):
        properties.append(("aksload.run_id", entry["run_id"]))
    for name, value in (entry.get("metrics") or {}).items():
        if name == "endpoints":  # per-endpoint figures are in the --aks-report files
            continue
        if isinstance(value, Mapping):  # e.g. failures_by_kind
            properties += [(f"aksload.{name}.{key}", _plain(count)) for key, count in value.items()]
        else:
            properties.append((f"aksload.{name}", _plain(value)))
    if entry.get("metrics") is not None:
        properties.append(("aksload.generator_issues", _plain(entry.get("generator_issues", []))))
    for slo in entry.get("slos", []):
        properties.append((f"aksload.slo.{slo['objective']}", slo.get("description") or _plain(slo["measured"])))
    for comparison in entry.get("comparisons", []):
        properties.append((f"aksload.baseline.{comparison['metric']}", comparison_text(comparison)))
    against = entry.get("against")
    if against:
        properties.append(("aksload.against", against["name"]))
        for name, value in (against.get("metrics") or {}).items():
            if not isinstance(value, Mapping):
                properties.append((f"aksload.against.{name}", _plain(value)))
        for row in entry.get("side_by_side", []):
            properties.append((f"aksload.side_by_side.{row['metric']}", comparison_cell(row)))
        if entry.get("decided_at_s") is not None:
            properties.append(("aksload.decided_at_s", _plain(entry["decided_at_s"])))
    if entry.get("metrics") is not None:
        properties.append(("aksload.overlapping_tests", str(len(entry.get("overlapping_tests", [])))))
    properties += _deployment_properties(entry.get("deployment"))
    properties += [("aksload.warning", warning) for warning in entry.get("warnings", [])]
    return properties


def _deployment_properties(fields: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """`aksload.deployment` (its one line) and `aksload.deployment.<field>` per known field: an
    unknown field has no property, so a reader never mistakes a placeholder for a setting."""
    if fields is None:
        return []
    known = known_deployment_fields(fields)
    return [("aksload.deployment", deployment_line(fields))] + [
        (f"aksload.deployment.{name}", _plain(value)) for name, value in known.items()
    ]


# -- Markdown ---------------------------------------------------------------------------------

_MD_HEADER = (
    "test",
    "target",
    "profile",
    "requests",
    "failure %",
    "RPS",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "SLOs",
    "verdict",
)


def markdown_summary(entries: Iterable[Mapping[str, Any]]) -> str:
    """The session's load tests as a Markdown table (+ baseline regressions and overlap notes)."""
    entries = sorted(entries, key=lambda e: e["nodeid"])
    lines = [
        "## pytest-aksload load tests",
        "",
        "| " + " | ".join(_MD_HEADER) + " |",
        "|" + "|".join("---" if i < 3 or i >= 9 else "---:" for i in range(len(_MD_HEADER))) + "|",
    ]
    for entry in entries:
        numbers = metric_cells(entry.get("metrics"))
        slos = "<br>".join(slo.get("description", slo["objective"]) for slo in entry.get("slos", []))
        cells = [f"`{entry['nodeid']}`", entry.get("target") or "-", entry["profile"], *numbers, slos or "-"]
        cells.append(f"**{entry['verdict']}**")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        against = entry.get("against")
        if against:  # side by side: the other side's figures in the next row
            other = ["", f"vs {against['name']}", "", *metric_cells(against.get("metrics")), "", ""]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in other) + " |")
    lines += ["", "Figures: measured (95 % confidence interval; `inf`: too few requests to bound it)."]
    side_by_side = side_by_side_lines(entries)
    if side_by_side:
        lines += ["", "Side by side (ratio `x` or difference `pp` to the other side, 95 % interval):", ""]
        lines += [f"- {line}" for line in side_by_side]
    runs = run_id_lines(entries, quote="`")
    if runs:
        lines += ["", f"Run ids ({RUN_ID_NOTE}):", "", *(f"- {line}" for line in runs)]
    notes = comparison_notes(entries, quote="`")
    if notes:
        lines += ["", "Baseline comparison and notes:", "", *(f"- {note}" for note in notes)]
    lines += _markdown_deployments(entries)
    return "\n".join(lines) + "\n"


def _markdown_deployments(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per distinct target and deployment, then each test's warnings (they change no verdict)."""
    deployments = {
        (entry.get("target") or "-", deployment_line(entry["deployment"])): None
        for entry in entries
        if entry.get("deployment") is not None
    }
    warnings = [(entry["nodeid"], warning) for entry in entries for warning in entry.get("warnings", [])]
    lines = []
    if deployments:
        lines += ["", "Deployment:", "", *(f"- {target}: {line}" for target, line in deployments)]
    if warnings:
        lines += ["", "Warnings (a warning never changes a verdict):", ""]
        lines += [f"- `{nodeid}`: {warning}" for nodeid, warning in warnings]
    return lines


# -- files --------------------------------------------------------------------------------------


def write_report_dir(directory: str | Path, entries: Sequence[Mapping[str, Any]]) -> Path:
    """Write every session-level file of `--aks-report` (the Locust HTML is already there); returns the page."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = sorted(entries, key=lambda e: e["nodeid"])
    tests = []
    for entry in entries:
        summary = {key: value for key, value in entry.items() if key != "result"}
        document = result_document(entry)
        if document is not None:
            name = f"{file_stem(entry['nodeid'])}.json"
            (directory / name).write_text(json.dumps(document, allow_nan=False), encoding="utf-8")
            summary["result_json"] = name
        tests.append(summary)
    summary_doc = {"format": SUMMARY_FORMAT, "tests": tests}
    (directory / "summary.json").write_text(json.dumps(summary_doc, indent=2, allow_nan=False), encoding="utf-8")
    (directory / "summary.md").write_text(markdown_summary(entries), encoding="utf-8")
    page = directory / "report.html"
    page.write_text(render_session_page(entries), encoding="utf-8")
    return page


def write_session_outputs(
    settings: Settings, records: Sequence[Mapping[str, Any]], write_line: Callable[[str], None] = print
) -> Path | None:
    """Every session-level output the settings ask for: `--aks-report` (returns its page), the GitHub
    step summary (when `$GITHUB_STEP_SUMMARY` is set), the Azure Pipelines summary and logging
    commands (when `$TF_BUILD` is set; printed with `write_line`) and `--aks-save-baseline`."""
    records = sorted(records, key=lambda r: r["nodeid"])
    page = write_report_dir(settings.aks_report, records) if settings.aks_report else None
    if records and os.environ.get("GITHUB_STEP_SUMMARY"):
        append_github_summary(os.environ["GITHUB_STEP_SUMMARY"], records)
    if records and azure_pipelines.in_azure_pipelines(os.environ):
        azure_pipelines.publish(records, markdown_summary(records), settings.aks_report, write_line)
    if records and settings.aks_save_baseline:
        baseline.save(settings.aks_save_baseline, records)
    return page


def append_github_summary(path: str | Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append the Markdown summary to the file GitHub Actions shows on the run's page."""
    with open(path, "a", encoding="utf-8") as summary:
        summary.write(markdown_summary(entries) + "\n")


def _plain(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
