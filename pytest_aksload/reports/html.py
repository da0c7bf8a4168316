"""The session's report page: one self-contained HTML file, a header and a section per load test.

Charts are drawn by uPlot (MIT, https://github.com/leeoniya/uPlot), vendored from the npm
registry into `assets/` and inlined, so the page works offline and from a CI artifact store with
no CDN. Everything comes from the report records (record.py), which carry each window's figures
and the percentile spectrum of our exact histograms; the page parses no result:

* latency per window (p50/p95/p99), with each latency objective as a dashed threshold line, the
  whole-run confidence interval of its percentile as a band, and the cut warm-up shaded;
* requests per second with the load asked for: users (closed model) or the offered rate (open);
* the percentile spectrum of the whole run (p0 .. p99.99 on the classic HdrHistogram "1/(1-q)"
  axis), with the --aks-compare baseline's spectrum overlaid;
* failed requests per window stacked by kind (by kind per window only when the child recorded
  detailed windows, i.e. warmup="auto"; otherwise one series named with the run's kinds);
* wrong predictions per window, where the test checked predictions.

Latency over time and the spectrum take a list of named sides (`_sides`): another deployment
measured beside this one is the record's `against`, with its own timeline and spectrum.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from typing import Any

from pytest_aksload.config.metrics import LATENCY, format_metric_value, parse_metric
from pytest_aksload.reports.record import ERROR, INTERRUPTED, SKIP, SPECTRUM_QUANTILES, deployment_line
from pytest_aksload.reports.terminal import comparison_text
from pytest_aksload.verdicts.baseline import NOISE, OK, REGRESSED
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, PASS

# Series colours, also what the browser test looks for in the screenshot. Sides of the spectrum
# take `sides` in order (this run, then the baseline, then any other side).
COLOURS = {
    "p50": "#1f77b4",
    "p95": "#ff7f0e",
    "p99": "#d62728",
    "rps": "#2ca02c",
    "load": "#bcbd22",  # users, or the offered rate
    "threshold": "#e377c2",
    "band": "rgba(227, 119, 194, 0.16)",  # the threshold's colour, translucent
    "warmup": "#fff1c1",
    "mismatch": "#e6550d",
    "failures": ["#9467bd", "#8c6d31", "#637939", "#7b4173", "#843c39", "#3182bd", "#636363"],
    "sides": ["#17becf", "#8c564b", "#393b79"],
}
VERDICT_COLOURS = {
    PASS: "#1a7f37",
    FAIL: "#a40e26",
    INCONCLUSIVE: "#9a6700",
    ERROR: "#6639ba",
    SKIP: "#57606a",
    INTERRUPTED: "#57606a",
}


def _asset(name: str) -> str:
    return resources.files("pytest_aksload.reports").joinpath("assets", name).read_text(encoding="utf-8")


def _number(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else round(value, digits)


def _sides(entry: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The measurements shown side by side on latency over time and the spectrum: the run, and the
    other side of a side-by-side gate (each with its `timeline` and `spectrum`)."""
    if entry.get("against") is None:
        return [("this run", entry)]
    return [("candidate", entry), ("other side", entry["against"])]


def _objectives(entry: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """Threshold lines of the test's objectives of one kind; latency ones carry the whole-run
    interval of their metric (a band) and, for a percentile, where it sits on the spectrum."""
    marks = []
    for slo in entry.get("slos", []):
        metric = parse_metric(slo["metric"])
        if (metric.kind if kind == LATENCY else metric.name) != kind:
            continue
        mark: dict[str, Any] = {"label": slo["objective"], "value": slo["threshold"], "verdict": slo["verdict"]}
        if slo.get("run_ci") is not None:
            low, high = slo["run_ci"]  # an unbounded side (too few requests) reaches the chart's edge
            mark["band"] = [_number(low) or 0.0, _number(high)]
        if metric.quantile is not None and metric.quantile < 100:
            mark["x"] = round(1.0 / (1.0 - metric.quantile / 100.0), 4)
        marks.append(mark)
    return marks


def _load(shape: Mapping[str, Any] | None, ends: Sequence[float]) -> dict[str, Any] | None:
    """The load asked for at each window's end: Locust's users ramp or the offered rate."""
    if shape is None or shape["model"] == "capacity":
        return None
    if shape["model"] == "open":
        return {"label": "offered /s", "values": [shape["rate"]] * len(ends), "unit": " /s"}
    return {"label": "users", "values": [min(shape["users"], math.floor(shape["spawn_rate"] * t)) for t in ends]}


def _failures(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Failed requests per window by kind, most frequent kind first; one series of all kinds
    when the windows do not say which kind each failure was."""
    timeline = entry["timeline"]
    kinds: dict[str, list[int]] = {}
    if all(w["failures_by_kind"] is not None for w in timeline):
        for index, window in enumerate(timeline):
            for kind, count in window["failures_by_kind"].items():
                kinds.setdefault(kind, [0] * len(timeline))[index] += count
    if kinds:
        ordered = sorted(kinds.items(), key=lambda item: -sum(item[1]))
        return [{"label": kind, "values": values} for kind, values in ordered]
    by_kind = (entry.get("metrics") or {}).get("failures_by_kind") or {}
    seen = ", ".join(f"{kind} {count}" for kind, count in by_kind.items())
    return [{"label": f"failures ({seen})" if seen else "failures", "values": [w["failures"] for w in timeline]}]


def _mismatch(timeline: Sequence[Mapping[str, Any]]) -> list[float | None] | None:
    """Wrong predictions per window (% of checked rows), or None when no window checked any."""
    shares = [w["mismatch_percent"] for w in timeline]
    if all(share is None for share in shares):
        return None
    return [None if share is None else round(share, 4) for share in shares]


def _charts(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """Chart data of one test, or None when it produced no result."""
    if entry.get("result") is None:
        return None
    timeline = entry["timeline"]
    ends = [w["end_s"] for w in timeline]
    sides = _sides(entry)
    spectra = [(name, side["spectrum"]) for name, side in sides]
    if entry.get("baseline_spectrum"):
        spectra.insert(1, ("baseline", entry["baseline_spectrum"]))
    return {
        "x": ends,
        "warmup_s": entry["result"]["warmup_s"],
        "warmup_method": entry["result"].get("warmup_method", "fixed"),
        "latency": [{"name": name, **_percentiles(side["timeline"])} for name, side in sides],
        "objectives": _objectives(entry, LATENCY),
        "rps": [_number(w["rps"]) for w in timeline],
        "rps_objectives": _objectives(entry, "rps"),
        "load": _load(entry.get("load"), ends),
        "failures": _failures(entry),
        "mismatch": _mismatch(timeline),
        # x = 1/(1-q): the spectrum's log axis; every side has the same quantiles.
        "spectrum_x": [round(1.0 / (1.0 - q / 100.0), 4) for q in SPECTRUM_QUANTILES],
        "spectrum": [{"name": name, "ms": _aligned(points)} for name, points in spectra],
    }


def _percentiles(timeline: Sequence[Mapping[str, Any]]) -> dict[str, list[float | None]]:
    return {p: [_number(w[f"{p}_ms"]) for w in timeline] for p in ("p50", "p95", "p99")}


def _aligned(points: Sequence[Sequence[float]]) -> list[float | None]:
    by_q = {q: ms for q, ms in points}
    return [by_q.get(q) for q in SPECTRUM_QUANTILES]


# -- the page -----------------------------------------------------------------------------------


def render_session_page(entries: Sequence[Mapping[str, Any]]) -> str:
    """The whole page as one string (inline script, style and data)."""
    rows = []
    for entry in entries:
        metrics = entry.get("metrics") or {}
        cells = [html.escape(str(cell)) for cell in (entry["nodeid"], entry.get("target") or "-", entry["profile"])]
        cells += [_cell(metrics.get(name), fmt) for name, fmt in _TABLE_METRICS]
        cells.append(_badge(entry["verdict"]))
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    data = {str(index): _charts(entry) for index, entry in enumerate(entries)}
    # "</" inside a <script> would end it early; JSON allows "\/" for "/".
    payload = json.dumps({"tests": data, "colours": COLOURS}, allow_nan=False, separators=(",", ":"))
    return _PAGE.format(
        css=_asset("uPlot.min.css"),
        js=_asset("uPlot.iife.min.js"),
        session=_session_header(entries),
        header="".join(f"<th>{html.escape(name)}</th>" for name in _TABLE_HEADER),
        rows="".join(rows),
        tests="".join(_section(index, entry) for index, entry in enumerate(entries)),
        data=payload.replace("</", "<\\/"),
        script=_SCRIPT,
    )


def _badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#57606a")
    return f'<span class="verdict" style="background:{colour}">{html.escape(verdict)}</span>'


def _line(verdict: str, text: str) -> str:
    return f'<li style="color:{VERDICT_COLOURS.get(verdict, "#222")}">{html.escape(text)}</li>'


# A baseline comparison's status shown in a verdict's colour.
_COMPARISON_VERDICTS = {OK: PASS, NOISE: INCONCLUSIVE, REGRESSED: FAIL}


def _section(index: int, entry: Mapping[str, Any]) -> str:
    """A test's verdict with its reasons (objectives, baseline, generator), its figures and charts."""
    lines = [_line(slo["verdict"], slo.get("description", slo["objective"])) for slo in entry.get("slos", [])]
    lines += [_line(_COMPARISON_VERDICTS[c["status"]], comparison_text(c)) for c in entry.get("comparisons", [])]
    lines += [_line(INCONCLUSIVE, f"load generator: {issue}") for issue in entry.get("generator_issues", [])]
    lines += [_line(INCONCLUSIVE, f"ran beside {other}") for other in entry.get("overlapping_tests", [])]
    lines += [_line(INCONCLUSIVE, f"warning: {warning}") for warning in entry.get("warnings", [])]
    metrics = entry.get("metrics") or {}
    correctness = [
        f"{name} {format_metric_value(name, metrics[name])}"
        for name in ("mismatch_rate", "max_abs_error", "auc", "logloss")
        if metrics.get(name) is not None
    ]
    facts = f'<p class="facts">predictions under load: {html.escape(", ".join(correctness))}</p>' if correctness else ""
    body = (
        f'<div class="charts" id="charts-{index}"></div>'
        if entry.get("result") is not None
        else "<p>No result: the load did not run to the end.</p>"
    )
    target = f" · target {entry['target']}" if entry.get("target") else ""
    target += f" · run id {entry['run_id']}" if entry.get("run_id") else ""
    return (
        f'<section class="test"><h2>{_badge(entry["verdict"])} {html.escape(entry["nodeid"])}</h2>'
        f'<p class="facts">{html.escape(entry["profile"] + target)}</p>'
        f"{_deployment(entry.get('deployment'))}"
        f"<ul>{''.join(lines)}</ul>{facts}{_capacity(entry)}{body}</section>"
    )


def _deployment(fields: Mapping[str, Any] | None) -> str:
    """The deployment behind the target, as one sentence under the test's heading (none: it tells nothing)."""
    if fields is None:
        return ""
    return f'<p class="facts deployment">deployment {html.escape(deployment_line(fields))}</p>'


def _capacity(entry: Mapping[str, Any]) -> str:
    """A capacity search's sizing as a sentence, then its steps: rate vs p95 and failure rate, the knee
    (the capacity: the highest rate that held) marked."""
    search = entry.get("capacity")
    if not search:
        return ""
    sizing = entry.get("sizing")
    sentence = f'<p class="facts">sizing: {html.escape(sizing["sentence"])}</p>' if sizing else ""
    rows = []
    for step in search.get("steps", []):
        knee = step["passed"] and step["rate"] == search["capacity_rps"]
        cells = (
            step["phase"],
            f"{step['rate']:g}",
            f"{step['rps']:.1f}",
            _cell(step["p95_ms"], "{:.1f}"),
            f"{step['failure_rate']:.2%}",
            ("PASS" if step["passed"] else "FAIL") + (" \u2190 knee (capacity)" if knee else ""),
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    names = ("step", "rate /s", "achieved /s", "p95 ms", "failures", "")
    header = "".join(f"<th>{name}</th>" for name in names)
    bound = " (a lower bound: the time budget cut the search short)" if search.get("bounded") else ""
    caption = f"<caption>capacity search: {search['capacity_rps']:g} rps{bound}</caption>"
    table = f'<table class="steps">{caption}<thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return sentence + table


def _version(package: str) -> str | None:
    # Read from the installed metadata: importing locust here would gevent-patch the pytest process.
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _session_header(entries: Sequence[Mapping[str, Any]]) -> str:
    """Targets, when, the plugin's and Locust's versions, and how the load generator fared."""
    results = [entry["result"] for entry in entries if entry.get("result") is not None]
    started = min((r["started_at"] for r in results), default=time.time())
    targets = sorted({entry["target"] for entry in entries if entry.get("target")})
    locust = _version("locust") or next(
        (r["generator"]["locust_version"] for r in results if r["generator"].get("locust_version")), "not installed"
    )
    troubled = [entry["nodeid"] for entry in entries if entry.get("generator_issues")]
    peaks = [r["generator"]["cpu_percent_peak"] for r in results if r["generator"].get("cpu_percent_peak") is not None]
    if troubled:
        health = f'<b style="color:{VERDICT_COLOURS[INCONCLUSIVE]}">overloaded in {len(troubled)} test(s)</b>: '
        health += html.escape(", ".join(troubled))
    else:
        health = "healthy in every test" + (f" (CPU peak {max(peaks):.0f} %)" if peaks else "")
    facts = (
        ("target", html.escape(", ".join(targets) or "-")),
        ("started", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started))),
        ("pytest-aksload", html.escape(_version("pytest-aksload") or "unknown")),
        ("Locust", html.escape(locust)),
        ("load generator", health),
        ("verdicts", " ".join(_badge(entry["verdict"]) for entry in entries) or "no load test"),
    )
    return "".join(f"<div><span>{name}</span> {value}</div>" for name, value in facts)


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
.session {{ display: flex; flex-wrap: wrap; gap: 6px 24px; margin-bottom: 1em; }}
.session span {{ color: #666; }}
.verdict {{ color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 85%; font-weight: bold; }}
.test ul {{ margin: 0.3em 0; }} .facts {{ color: #555; margin: 0.3em 0; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
</style></head>
<body>
<h1>pytest-aksload load tests</h1>
<div class="session">{session}</div>
<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>
{tests}
<script>{js}</script>
<script>
const REPORT = {data};
{script}
</script>
</body></html>
"""

_SCRIPT = """
const C = REPORT.colours, PX = window.devicePixelRatio || 1;
const show = unit => (u, v) => v == null ? "-" : (+v.toFixed(v < 10 ? 3 : 1)) + unit;
const pct = x => x === 1 ? "p0" : "p" + +(100 - 100 / x).toFixed(2);  // the spectrum's x is 1/(1-q)

// The y range: the data and the objectives near it (one far above would flatten the data to a line).
function yTop(columns, marks) {
  let max = 0;
  for (const values of columns) for (const v of values) if (v != null && v > max) max = v;
  for (const m of marks) for (const v of [m.value, m.band && m.band[1]])
    if (v != null && v <= 3 * (max || v)) max = Math.max(max, v);
  return (max || 1) * 1.12;
}

// Beneath the series: the cut warm-up, shaded, and each objective's confidence band.
function underlay(shade, marks) {
  return u => {
    const ctx = u.ctx, b = u.bbox;
    ctx.save();
    if (shade > 0) {
      ctx.fillStyle = C.warmup;
      ctx.fillRect(b.left, b.top, Math.min(u.valToPos(shade, "x", true), b.left + b.width) - b.left, b.height);
    }
    ctx.fillStyle = C.band;
    for (const m of marks) if (m.band) {
      const high = m.band[1] == null ? b.top : Math.max(b.top, u.valToPos(m.band[1], "y", true));
      const low = Math.min(b.top + b.height, u.valToPos(m.band[0], "y", true));
      if (low > high) ctx.fillRect(b.left, high, b.width, low - high);
    }
    ctx.restore();
  };
}

// Over the series: each objective as a dashed threshold line with its label (and, on the
// spectrum, a dot where its percentile sits); one above the range is named at the top.
function thresholds(marks) {
  return u => {
    const ctx = u.ctx, b = u.bbox;
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = C.threshold;
    ctx.lineWidth = 2 * PX;
    ctx.font = (11 * PX) + "px sans-serif";
    ctx.textAlign = "left";  // uPlot leaves its axes' alignment on the context
    marks.forEach((m, i) => {
      const above = m.value > u.scales.y.max;
      const y = above ? b.top + (12 + 12 * i) * PX : u.valToPos(m.value, "y", true);
      if (!above) {
        ctx.setLineDash([8 * PX, 5 * PX]);
        ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
        if (m.x != null && u.scales.x.distr === 3) {
          ctx.beginPath(); ctx.arc(u.valToPos(m.x, "x", true), y, 4 * PX, 0, 2 * Math.PI); ctx.fill();
        }
      }
      // Labels alternate between the right and the left end, so two close objectives stay legible.
      const text = m.label + " " + m.verdict + (above ? " \\u2191 above" : "");
      const width = ctx.measureText(text).width;
      const left = i % 2 && !above ? b.left + 4 * PX : b.left + b.width - 4 * PX - width;
      // A light backdrop keeps the label readable over the series, which still show through it.
      ctx.fillStyle = "rgba(255, 255, 255, 0.65)";
      ctx.fillRect(left - 2 * PX, y - 16 * PX, width + 4 * PX, 13 * PX);
      ctx.fillStyle = C.threshold;
      ctx.fillText(text, left, y - 6 * PX);
    });
    ctx.restore();
  };
}

// One chart: series [{label, colour, values, dash, scale, fill, paths, value}] over x.
function chart(box, o) {
  const marks = o.marks || [];
  const x = {label: o.xlabel, value: (u, v) => v == null ? "-" : o.logx ? pct(v) : +v.toFixed(2)};
  const series = [x].concat(o.series.map(s => ({
    label: s.label, stroke: s.colour, width: 2, dash: s.dash, scale: s.scale || "y", fill: s.fill,
    paths: s.paths, points: {show: false}, value: s.value || show(o.unit)})));
  const onY = o.series.filter(s => !s.scale).map(s => s.values);
  const scales = {x: o.logx ? {time: false, distr: 3, log: 10} : {time: false, range: (u, min, max) => [0, max]},
                  y: {range: () => [0, yTop(onY, marks)]}};
  const axes = [{label: o.xlabel}, {label: o.unit.trim() || "count", size: 55}];
  if (o.logx) axes[0].splits = () => [1, 10, 100, 1000, 10000];
  if (o.logx) axes[0].values = (u, splits) => splits.map(pct);
  if (o.series.some(s => s.scale)) {
    const side = o.series.find(s => s.scale);
    scales[side.scale] = {range: (u, min, max) => [0, Math.max(max, 1) * 1.12]};
    axes.push({scale: side.scale, side: 1, label: side.label, grid: {show: false}, size: 50});
  }
  new uPlot({title: o.title, width: 470, height: 240, scales, axes, series,
             hooks: {drawClear: [underlay(o.shade || 0, marks)], draw: [thresholds(marks)]}},
            [o.x].concat(o.series.map(s => s.values)), box);
}

for (const [index, test] of Object.entries(REPORT.tests)) {
  if (test === null) continue;
  const box = document.getElementById("charts-" + index);
  const cut = test.warmup_s > 0 ? " (" + test.warmup_s + " s warm-up" +
              (test.warmup_method !== "fixed" ? ", " + test.warmup_method : "") + ", shaded)" : "";
  const latency = [];
  test.latency.forEach((side, i) => ["p50", "p95", "p99"].forEach(p => latency.push({
    label: test.latency.length > 1 ? p + " " + side.name : p, colour: C[p], values: side[p],
    dash: i ? [6, 4] : undefined})));
  chart(box, {title: "latency" + cut, x: test.x, xlabel: "seconds", unit: " ms",
              series: latency, marks: test.objectives, shade: test.warmup_s});

  const rps = [{label: "achieved /s", colour: C.rps, values: test.rps}];
  if (test.load) rps.push({label: test.load.label, colour: C.load, values: test.load.values, dash: [4, 3],
                           scale: test.load.unit ? undefined : "users", value: show(test.load.unit || "")});
  chart(box, {title: "throughput" + (test.load && test.load.unit ? ": offered vs achieved" : " and users"), x: test.x,
              xlabel: "seconds", unit: " /s", series: rps, marks: test.rps_objectives, shade: test.warmup_s});

  chart(box, {title: "latency spectrum (whole run)", x: test.spectrum_x, logx: true, xlabel: "percentile",
              unit: " ms", marks: test.objectives.filter(m => m.x != null),
              series: test.spectrum.map((s, i) => ({label: s.name, colour: C.sides[i % C.sides.length],
                                                    values: s.ms}))});

  // Stacked: each kind is drawn as the sum of itself and the kinds below it, the total first.
  let sum = test.x.map(() => 0);
  const stacked = test.failures.map((kind, i) => {
    sum = sum.map((v, w) => v + kind.values[w]);
    const colour = C.failures[i % C.failures.length];
    return {label: kind.label, colour, fill: colour, values: sum, paths: uPlot.paths.stepped({align: 1}),
            value: (u, v, s, w) => w == null ? "-" : String(kind.values[w])};
  }).reverse();
  const none = sum.every(v => v === 0);
  chart(box, {title: "failed requests per window" + (none ? ": none" : ", by kind"), x: test.x,
              xlabel: "seconds", unit: "", series: stacked, shade: test.warmup_s});

  if (test.mismatch) chart(box, {title: "wrong predictions per window", x: test.x, xlabel: "seconds", unit: " %",
                                 series: [{label: "mismatch", colour: C.mismatch, values: test.mismatch}],
                                 shade: test.warmup_s});
}
"""
