"""Azure Pipelines: the session's summary on the run's page, and one error per failed gate.

The agent sets `TF_BUILD` in every job and acts on logging commands a step prints on a line of
its own. When it is set, a session with load tests writes the Markdown summary (the one GitHub
Actions gets) to `pytest-aksload.md` and prints

* `##vso[task.uploadsummary]<absolute path>`: the file shows on the run's summary page;
* `##vso[task.logissue type=error;sourcepath=<test file>]<test> <verdict>: <what failed>`, one
  per load test the gate failed (FAIL, INCONCLUSIVE, ERROR), so the run lists it as an error.

Progress lines are not commands: they stay plain. Everything printed and the file pass through
the session's redactor first, then the escaping of Azure DevOps (a message may hold no line
break; a property value no `;` or `]` either).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_aksload.redact import redact
from pytest_aksload.reports.record import ERROR
from pytest_aksload.verdicts.baseline import REGRESSED
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE

SUMMARY_FILE = "pytest-aksload.md"
"""The summary page titles the section with the file's name, so it names the tool."""

FAILED_GATE_VERDICTS = (FAIL, INCONCLUSIVE, ERROR)

# `%` first: the escapes of the others contain one.
_MESSAGE_ESCAPES = (("%", "%AZP25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_MESSAGE_ESCAPES, (";", "%3B"), ("]", "%5D"))


def in_azure_pipelines(environ: Mapping[str, str]) -> bool:
    """True in an Azure Pipelines job (the agent sets `TF_BUILD=True`)."""
    return bool(environ.get("TF_BUILD"))


def escape_message(text: str) -> str:
    """`text` as the message of a logging command: one line, `%` escaped."""
    for plain, escaped in _MESSAGE_ESCAPES:
        text = text.replace(plain, escaped)
    return text


def escape_property(text: str) -> str:
    """`text` as a property value of a logging command: also no `;` (separator) or `]` (end)."""
    for plain, escaped in _PROPERTY_ESCAPES:
        text = text.replace(plain, escaped)
    return text


def logging_command(command: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    """`##vso[<command> key=value;...]<message>`, redacted, then escaped (escaping first could split
    a secret that holds a `%` or `;` so the redactor no longer finds it)."""
    fields = ";".join(f"{key}={escape_property(redact(value))}" for key, value in (properties or {}).items())
    return f"##vso[{command}{' ' + fields if fields else ''}]{escape_message(redact(message))}"


def failed_gate_message(record: Mapping[str, Any]) -> str:
    """`<test> <verdict>: <each failed objective and regressed metric> (run id <id>)`; the record has no more
    than its verdict when the test failed otherwise (an assertion, a broken pre-flight)."""
    failed = [slo.get("description") or slo["objective"] for slo in record.get("slos", []) if not slo.get("passed")]
    regressed = [c["metric"] for c in record.get("comparisons", []) if c.get("status") == REGRESSED]
    failed += [f"{metric} regressed against the baseline" for metric in regressed]
    if not failed:
        what = "the load did not run to the end" if record["verdict"] == ERROR else "the test failed"
        failed = [f"{what}; see the test's log"]
    run = f" (run id {record['run_id']})" if record.get("run_id") else ""
    return f"{record['nodeid']} {record['verdict']}: " + "; ".join(failed) + run


def failed_gate_commands(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """One `task.logissue type=error` per load test whose verdict failed it."""
    return [
        logging_command(
            "task.logissue",
            failed_gate_message(record),
            {"type": "error", "sourcepath": record["nodeid"].partition("::")[0]},
        )
        for record in records
        if record["verdict"] in FAILED_GATE_VERDICTS
    ]


def summary_directory(report_dir: str | Path | None, environ: Mapping[str, str]) -> Path:
    """Beside the `--aks-report` files; else a new directory in the agent's temp directory (cleaned
    after every job) or the system's, so two sessions of one job never overwrite each other."""
    if report_dir:
        return Path(report_dir).absolute()
    parent = environ.get("AGENT_TEMPDIRECTORY") or None
    return Path(tempfile.mkdtemp(prefix="aksload-", dir=parent)).absolute()


def publish(
    records: Sequence[Mapping[str, Any]],
    markdown: str,
    report_dir: str | Path | None,
    write_line: Callable[[str], None],
    environ: Mapping[str, str] = os.environ,
) -> Path:
    """Write `markdown` (the session's summary) to its file, announce it, and log each failed gate."""
    directory = summary_directory(report_dir, environ)
    directory.mkdir(parents=True, exist_ok=True)
    summary = directory / SUMMARY_FILE
    summary.write_text(redact(markdown), encoding="utf-8")
    for line in [logging_command("task.uploadsummary", str(summary)), *failed_gate_commands(records)]:
        write_line(line)
    return summary
