"""The session's report page: one self-contained HTML file with time-series charts per load test.

Charts are drawn by uPlot (MIT, https://github.com/leeoniya/uPlot), vendored from the npm
registry into `assets/` and inlined, so the page works offline and from a CI artifact
store with no CDN. The data are our exact per-window histograms (`LoadResult.timeline`):
latency percentiles, requests per second and failures per window, warm-up included (its length
is in the chart title).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from pytest_aksload.stats.result import LoadResult

# Series colours, also what the browser test looks for in the screenshot.
COLOURS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "rps": "#2ca02c", "failures": "#9467bd"}


def _asset(name: str) -> str:
    return resources.files("pytest_aksload.reports").joinpath("assets", name).read_text(encoding="utf-8")


def _series(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """Chart data of one test, or None when it produced no result."""
    if entry.get("result") is None:
        return None
    result = LoadResult.from_dict(entry["result"])
    windows = result.timeline

    def column(values: Sequence[float]) -> list[float | None]:
        return [None if math.isnan(value) else round(value, 3) for value in values]

    return {
        "x": [w.start_offset_s + w.duration_s for w in windows],
        "p50": column([w.p50_ms for w in windows]),
        "p95": column([w.p95_ms for w in windows]),
        "p99": column([w.p99_ms for w in windows]),
        "rps": column([w.rps for w in windows]),
        "failures": [w.failures for w in windows],
        "warmup_s": result.warmup_s,
    }


def render_session_page(entries: Sequence[Mapping[str, Any]]) -> str:
    """The whole page as one string (inline script, style and data)."""
    tests = []
    rows = []
    for index, entry in enumerate(entries):
        metrics = entry.get("metrics") or {}
        cells = [entry["nodeid"], entry.get("target") or "-", entry["profile"]]
        cells += [_cell(metrics.get(name), fmt) for name, fmt in _TABLE_METRICS]
        cells.append(entry["verdict"])
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
        objectives = [slo.get("description", slo["objective"]) for slo in entry.get("slos", [])]
        slos = "".join(f"<li>{html.escape(line)}</li>" for line in objectives)
        tests.append(
            f'<section class="test"><h2>{html.escape(entry["nodeid"])} — {html.escape(entry["verdict"])}</h2>'
            f"<ul>{slos}</ul>"
            + (
                f'<div class="charts" id="charts-{index}"></div>'
                if entry.get("result") is not None
                else "<p>No result: the load did not run to the end.</p>"
            )
            + "</section>"
        )
    data = {str(index): _series(entry) for index, entry in enumerate(entries)}
    # "</" inside a <script> would end it early; JSON allows "\/" for "/".
    payload = json.dumps({"tests": data, "colours": COLOURS}, allow_nan=False).replace("</", "<\\/")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in _TABLE_HEADER)
    return _PAGE.format(
        css=_asset("uPlot.min.css"),
        js=_asset("uPlot.iife.min.js"),
        header=header,
        rows="".join(rows),
        tests="".join(tests),
        data=payload,
    )


_TABLE_METRICS = (
    ("requests", "{:d}"),
    ("failure_rate", "{:.2%}"),
    ("rps", "{:.1f}"),
    ("p50_ms", "{:.1f}"),
    ("p95_ms", "{:.1f}"),
    ("p99_ms", "{:.1f}"),
)
_TABLE_HEADER = ("test", "target", "profile", "requests", "failures", "RPS", "p50 ms", "p95 ms", "p99 ms", "verdict")


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


# Doubled braces are literal braces for str.format.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-aksload report</title>
<style>{css}</style>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
</style></head>
<body>
<h1>pytest-aksload load tests</h1>
<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>
{tests}
<script>{js}</script>
<script>
const REPORT = {data};
function chart(target, title, x, columns, unit) {{
  const series = [{{}}].concat(columns.map(c => ({{label: c.label, stroke: c.colour, width: 2,
                                                     spanGaps: false, value: (u, v) => v == null ? "-" : v + unit}})));
  new uPlot({{title: title, width: 460, height: 220, scales: {{x: {{time: false}}}},
             axes: [{{label: "seconds"}}, {{label: unit.trim()}}], series: series}},
            [x].concat(columns.map(c => c.values)), target);
}}
for (const [index, test] of Object.entries(REPORT.tests)) {{
  if (test === null) continue;
  const box = document.getElementById("charts-" + index);
  const c = REPORT.colours;
  const warmup = test.warmup_s > 0 ? " (first " + test.warmup_s + " s: warm-up)" : "";
  chart(box, "latency per window" + warmup, test.x, [
    {{label: "p50", colour: c.p50, values: test.p50}},
    {{label: "p95", colour: c.p95, values: test.p95}},
    {{label: "p99", colour: c.p99, values: test.p99}}], " ms");
  chart(box, "requests per second", test.x, [{{label: "rps", colour: c.rps, values: test.rps}}], " /s");
  chart(box, "failed requests per window", test.x,
        [{{label: "failures", colour: c.failures, values: test.failures}}], "");
}}
</script>
</body></html>
"""
