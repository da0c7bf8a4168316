"""What the terminal shows: live progress while a load runs, and the session's summary table."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.metrics import format_metric_value
from pytest_aksload.protocol import Progress
from pytest_aksload.targets.deployment import describe
from pytest_aksload.targets.target import Target

# In CI logs (no TTY) a plain line this often; on a TTY one line rewritten in place.
PLAIN_PROGRESS_EVERY_S = 5.0


class ProgressPrinter:
    """Callback for `run_load(on_progress=...)` that writes past pytest's output capture."""

    def __init__(self, config: pytest.Config, label: str, duration_s: float) -> None:
        self._reporter = config.pluginmanager.get_plugin("terminalreporter")
        self._capture = config.pluginmanager.get_plugin("capturemanager")
        # xdist workers have no terminal of their own; -q asks for quiet.
        self.enabled = self._reporter is not None and config.get_verbosity() >= 0 and not hasattr(config, "workerinput")
        self._tty = bool(self._reporter and self._reporter.isatty)
        self._label = label
        self._duration_s = duration_s
        self._last_plain = 0.0
        self._drew_line = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        line = self.format(progress)
        if self._tty:
            self._write("\r\x1b[2K" + line)
            self._drew_line = True
        elif time.monotonic() - self._last_plain >= PLAIN_PROGRESS_EVERY_S:
            # Lines start on their own line: pytest may be mid-line after the file name.
            self._last_plain = time.monotonic()
            self._write("\n" + line)
            self._drew_line = True

    def format(self, progress: Progress) -> str:
        failure_pct = 100.0 * progress.failures / progress.requests if progress.requests else 0.0
        p95 = "-" if progress.p95_ms is None else f"{progress.p95_ms:.0f}ms"
        return (
            f"[aksload] {self._label}: {progress.elapsed_s:.0f}/{self._duration_s:.0f}s, "
            f"{progress.users} users, {progress.requests} requests, {failure_pct:.1f}% failed, "
            f"{progress.rps:.1f} rps, p95 {p95}"
        )

    def finish(self) -> None:
        if self.enabled and self._drew_line:
            self._write("\r\x1b[2K" if self._tty else "\n")

    def _write(self, text: str) -> None:
        assert self._reporter is not None
        if self._capture is not None:
            with self._capture.global_and_fixture_disabled():
                self._reporter.write(text, flush=True)
        else:
            self._reporter.write(text, flush=True)


def target_line(target: Target) -> str:
    """The session's header line naming the target and what it tells about its deployment."""
    line = f"aksload target: {target.name} ({target.kind})"
    return line if target.deployment is None else f"{line}; {describe(target.deployment)}"


def show_target(config: pytest.Config, target: Target) -> None:
    """Write `target_line` once the target is resolved (the first test that needs it), past output
    capture; not on xdist workers, nor with -q."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0 or hasattr(config, "workerinput"):
        return
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write("\n" + target_line(target) + "\n", flush=True)


SUMMARY_COLUMNS = ("test", "requests", "fail %", "rps", "p50 ms", "p95 ms", "p99 ms", "verdict")


def summary_lines(records: Iterable[Mapping[str, Any]], compare: str | None, page: Path | None) -> list[str]:
    """The session's summary: the table, failures by kind, baseline notes,
    how many load tests the `--aks-compare` baseline covered, and where the report page is."""
    records = sorted(records, key=lambda r: r["nodeid"])
    lines = format_table(SUMMARY_COLUMNS, summary_rows(records)) + failure_kind_lines(records)
    lines += wrong_prediction_lines(records) + side_by_side_lines(records) + comparison_notes(records)
    runs = run_id_lines(records)
    if runs:
        lines += [f"aksload run ids ({RUN_ID_NOTE}):", *(f"  {line}" for line in runs)]
    if compare:
        compared = sum(1 for record in records if record.get("compared"))
        lines.append(f"aksload: compared {compared} of {len(records)} load test(s) with baseline {compare}")
    if page is not None:
        lines.append(f"aksload report: {page}")
    return lines


def summary_rows(entries: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for entry in entries:
        rows.append((entry["nodeid"], *metric_cells(entry.get("metrics")), entry["verdict"]))
        against = entry.get("against")
        if against:  # side by side: the other side's figures right under the candidate's
            rows.append((f"  vs {against['name']}", *metric_cells(against.get("metrics")), ""))
    return rows


RUN_ID_NOTE = "each request's x-ms-client-request-id starts with its test's; docs: Finding a run in Azure's logs"


def run_id_lines(entries: Iterable[Mapping[str, Any]], quote: str = "") -> list[str]:
    """`<test>: <run id>` for each test whose load ran with one."""
    return [
        f"{quote}{entry['nodeid']}{quote}: {quote}{entry['run_id']}{quote}" for entry in entries if entry.get("run_id")
    ]


def side_by_side_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Side by side: per test, when it was decided and each compared metric (ratio or difference
    with its interval, and the verdict of an objective on it)."""
    lines = []
    for entry in entries:
        compared = entry.get("side_by_side") or []
        if not compared and not entry.get("against"):
            continue
        decided = entry.get("decided_at_s")
        when = f"decided after {decided:g}s" if decided is not None else "ran to the end"
        parts = [comparison_cell(row) for row in compared]
        lines.append(f"{entry['nodeid']}: side by side ({when}): " + "; ".join(parts))
    return lines


def comparison_cell(row: Mapping[str, Any]) -> str:
    """``p95 x3.16 (2.90-3.45) FAIL``: a ratio (``x``) or a difference in points (``pp``) with its interval."""
    value, (low, high) = row.get("value"), row.get("ci") or (None, None)
    if value is None:
        return f"{row['metric']} -"
    if row["metric"] == "agreement":
        text = f"agreement {value * 100:.2f}%"
        interval = "" if low is None or high is None else f" ({low * 100:.2f}-{high * 100:.2f}%)"
    elif row.get("relative") == "pp":
        text = f"{row['metric']} {value * 100:+.2f}pp"
        interval = "" if low is None or high is None else f" ({low * 100:+.2f}..{high * 100:+.2f})"
    else:
        text = f"{row['metric']} x{value:.3g}"
        interval = "" if low is None or high is None else f" ({low:.3g}-{high:.3g})"
    verdict = f" {row['verdict']}" if row.get("verdict") else ""
    return text + interval + verdict


def metric_cells(metrics: Mapping[str, Any] | None) -> list[str]:
    """requests, fail %, rps, p50, p95 and p99 ms of one load test, each figure with its 95 %
    confidence interval; all "-" when the test measured nothing. The terminal table and
    summary.md both show these."""
    if metrics is None:
        return ["-"] * 6
    ci = metrics.get("ci") or {}
    return [
        str(metrics["requests"]),
        _with_ci(metrics["failure_rate"], ci.get("failure_rate"), ".2f", 100),
        _with_ci(metrics["rps"], ci.get("rps"), ".1f"),
        _with_ci(metrics["p50_ms"], ci.get("p50"), ".1f"),
        _with_ci(metrics["p95_ms"], ci.get("p95"), ".1f"),
        _with_ci(metrics["p99_ms"], ci.get("p99"), ".1f"),
    ]


def _with_ci(value: float | None, interval: list[float | None] | None, spec: str, scale: float = 1) -> str:
    """``412.3 (398.0-430.1)``: the value and its 95 % confidence interval (``inf``: unbounded, too few requests)."""
    if value is None:
        return "-"
    text = format(value * scale, spec)
    if not interval:
        return text
    low, high = (format(v * scale, spec) if v is not None else "inf" for v in interval)
    return f"{text} ({low}-{high})"


def failure_kind_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per test with failures, by kind: throttling (429/503) reads differently from a
    broken model (http, validation) or a network problem (connection, timeout)."""
    lines = []
    for entry in entries:
        by_kind = (entry.get("metrics") or {}).get("failures_by_kind") or {}
        if by_kind:
            kinds = ", ".join(f"{kind} {count}" for kind, count in by_kind.items())
            lines.append(f"{entry['nodeid']}: failures by kind: {kinds}")
    return lines


def wrong_prediction_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per test whose predictions under load were wrong: the rate and the first examples."""
    lines = []
    for entry in entries:
        metrics = entry.get("metrics") or {}
        examples = metrics.get("mismatches") or []
        if examples:
            shown = "; ".join(f"row {m['row']}: expected {m['expected']:.6g}, got {m['got']:.6g}" for m in examples[:3])
            rate = metrics.get("mismatch_rate")
            share = "?" if rate is None else f"{rate:.2%}"
            lines.append(f"{entry['nodeid']}: wrong predictions ({share} of checked rows): {shown}")
    return lines


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def comparison_notes(entries: Iterable[Mapping[str, Any]], quote: str = "") -> list[str]:
    """One line per baseline comparison worth reading (informational, within noise, regressed)
    and per load test that shared the machine with other tests."""
    notes = []
    for entry in entries:
        test = f"{quote}{entry['nodeid']}{quote}"
        for comparison in entry.get("comparisons", []):
            if comparison["status"] != "ok" or comparison["tolerance"] is None:
                notes.append(f"{test} {comparison_text(comparison)}")
        if entry.get("overlapping_tests"):
            others = ", ".join(f"{quote}{nodeid}{quote}" for nodeid in entry["overlapping_tests"])
            notes.append(f"{test} ran while {len(entry['overlapping_tests'])} other test(s) ran: {others}")
    return notes


def comparison_text(comparison: Mapping[str, Any]) -> str:
    def show(value: float | None) -> str:
        return format_metric_value(comparison["metric"], value)

    tolerance = "" if comparison["tolerance"] is None else f", tolerance {comparison['tolerance']}"
    return (
        f"{comparison['metric']}: baseline {show(comparison['baseline'])}, now {show(comparison['now'])}, "
        f"change {comparison['change']}{tolerance}: {comparison['status']}"
    )
