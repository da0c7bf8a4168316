"""CI outputs of a gate run: --aks-report files, JUnit properties, the GitHub step summary, the
session page in a real browser, and the exit semantics CI sees (FAIL vs ERROR vs skip).

One inner pytest session (real Locust children against a loopback scoring server) produces the
artifacts that the first tests read; it runs once per module to keep the suite short."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback_servers import ScoringServer, closed_port
from synthetic_results import steady_result

from pytest_aksload.reports.files import file_stem
from pytest_aksload.reports.html import COLOURS
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts import baseline

KEY = "k3y-REPORTS-5f1e2d3c4b5a69788796"

GATES = """
import os, pytest

def _dump(name, result):
    with open(os.path.join(os.environ["RESULT_DUMPS"], name + ".json"), "w") as out:
        out.write(result.to_json())

@pytest.mark.load_test(users=4, spawn_rate=50, duration="3s", warmup="1s", wait=(0.02, 0.05), rows=5,
                       slo=["p95 < 5s", "requests >= 10"])
def test_passing_gate(load_result):
    _dump("passing", load_result)

@pytest.mark.load_test(users=4, spawn_rate=50, duration="2s", wait=(0.02, 0.05), rows=5, slo=["p50 < 1ms"])
def test_failing_gate(load_result):
    _dump("failing", load_result)
"""
NODEIDS = {"passing": "test_gates.py::test_passing_gate", "failing": "test_gates.py::test_failing_gate"}


@dataclass
class Session:
    run: subprocess.CompletedProcess[str]
    report_dir: Path
    junit: Path
    github_summary: Path
    results: dict[str, LoadResult]  # what each test body saw as load_result


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("ci-session")
    (root / "test_gates.py").write_text(GATES)
    dumps = root / "dumps"
    dumps.mkdir()
    github_summary = root / "step_summary.md"
    github_summary.write_text("# earlier step\n")
    # A 30 ms baseline (informational: no tolerance), so the page overlays its spectrum.
    stored = [
        {"nodeid": nodeid, "profile": "-", "result": steady_result(30_000).to_dict()} for nodeid in NODEIDS.values()
    ]
    baseline.save(root / "baseline.json", stored)
    env = {
        **os.environ,
        "AKSLOAD_KEY": KEY,
        "RESULT_DUMPS": str(dumps),
        "GITHUB_STEP_SUMMARY": str(github_summary),
    }
    # A 5-10 ms service: the failing gate's p50 < 1ms is missed by a wide margin.
    with ScoringServer(delays_s=[0.005, 0.010]) as server:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--aks-scoring-uri", server.url]
            + ["--aks-report", "report", "--junitxml", "junit.xml", "--aks-compare", "baseline.json", "test_gates.py"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    dumped = [name for name in NODEIDS if (dumps / f"{name}.json").exists()]
    results = {name: LoadResult.from_file(dumps / f"{name}.json") for name in dumped}
    yield Session(run, root / "report", root / "junit.xml", github_summary, results)


def test_report_files_agree_with_load_result(session: Session) -> None:
    assert session.run.returncode == 1, session.run.stdout  # one gate failed
    assert sorted(session.results) == ["failing", "passing"], session.run.stdout
    summary = json.loads((session.report_dir / "summary.json").read_text())
    by_id = {test["nodeid"]: test for test in summary["tests"]}
    assert set(by_id) == set(NODEIDS.values())
    for name, nodeid in NODEIDS.items():
        seen = session.results[name]
        stored = LoadResult.from_file(session.report_dir / by_id[nodeid]["result_json"])  # re-analysable
        assert stored.requests == seen.requests > 10
        assert stored.p95_ms == seen.p95_ms and stored.percentile(99.9) == seen.percentile(99.9)
        assert stored.to_dict()["total"]["histogram"] == seen.to_dict()["total"]["histogram"]
        assert by_id[nodeid]["metrics"]["p95_ms"] == seen.p95_ms
        assert by_id[nodeid]["metrics"]["requests"] == seen.requests
        locust_html = session.report_dir / by_id[nodeid]["locust_html"]
        assert locust_html.name == f"{file_stem(nodeid)}.locust.html"
        assert "<html" in locust_html.read_text().lower()
    assert by_id[NODEIDS["passing"]]["verdict"] == "PASS"
    assert by_id[NODEIDS["failing"]]["verdict"] == "FAIL"
    assert [slo["verdict"] for slo in by_id[NODEIDS["failing"]]["slos"]] == ["FAIL"]
    for test in by_id.values():  # what the page draws beside the measurement
        assert test["compared"] and test["baseline_spectrum"][-1][1] == pytest.approx(30.03, rel=0.01)
        assert test["load"] == {"model": "closed", "users": 4, "spawn_rate": 50.0, "rate": None}

    markdown = (session.report_dir / "summary.md").read_text()
    failing = session.results["failing"]
    row = next(line for line in markdown.splitlines() if NODEIDS["failing"] in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]

    def with_interval(value: float, name: str, scale: float, digits: int) -> str:
        low, high = failing.ci(name)
        bounds = "-".join("inf" if math.isinf(v) else f"{v * scale:.{digits}f}" for v in (low, high))
        return f"{value * scale:.{digits}f} ({bounds})"

    assert cells[3:9] == [
        str(failing.requests),
        with_interval(failing.failure_rate, "failure_rate", 100, 2),
        with_interval(failing.rps, "rps", 1, 1),
        with_interval(failing.p50_ms, "p50", 1, 1),
        with_interval(failing.p95_ms, "p95", 1, 1),
        with_interval(failing.p99_ms, "p99", 1, 1),
    ]
    assert "Figures: measured (95 % confidence interval" in markdown
    assert cells[-1] == "**FAIL**" and "p50 < 1ms" in cells[-2]


def test_junit_properties_carry_metrics_and_verdicts(session: Session) -> None:
    cases = {case.get("name"): case for case in ET.parse(session.junit).getroot().iter("testcase")}
    for name, result in session.results.items():
        properties = {p.get("name"): p.get("value") for p in cases[f"test_{name}_gate"].iter("property")}
        assert int(properties["aksload.requests"]) == result.requests
        assert float(properties["aksload.p95_ms"]) == pytest.approx(result.p95_ms, rel=1e-5)
        assert float(properties["aksload.rps"]) == pytest.approx(result.rps, rel=1e-5)
        assert properties["aksload.verdict"] == ("PASS" if name == "passing" else "FAIL")
    failing = {p.get("name"): p.get("value") for p in cases["test_failing_gate"].iter("property")}
    assert failing["aksload.slo.p50 < 1ms"].endswith("(FAIL)")
    assert cases["test_failing_gate"].find("failure") is not None  # an SLO breach is a failure, not an error


def test_github_step_summary_is_appended(session: Session) -> None:
    text = session.github_summary.read_text()
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert text.count("| `test_gates.py::") == 2
    assert f"| {session.results['passing'].requests} |" in text


def test_no_artifact_contains_the_key(session: Session) -> None:
    artifacts = [session.junit, session.github_summary, *session.report_dir.iterdir()]
    assert len(artifacts) >= 8  # 2 x (result json + locust html), summary.json/.md, report.html, ...
    for path in artifacts:
        assert KEY not in path.read_text(errors="replace"), path
    assert KEY not in session.run.stdout + session.run.stderr


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (apt-get install chromium) to render the page")
def test_session_page_renders_charts_in_headless_chromium(session: Session, tmp_path: Path) -> None:
    import numpy
    from PIL import Image

    page = session.report_dir / "report.html"
    assert "<script src=" not in page.read_text()  # self-contained: nothing fetched
    screenshot = tmp_path / "page.png"
    browser = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        + ["--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
        + ["--hide-scrollbars", "--window-size=1000,2600", f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert screenshot.exists(), browser.stderr[-2000:]
    pixels = numpy.asarray(Image.open(screenshot).convert("RGB"), dtype=numpy.int16)
    wanted = {name: COLOURS[name] for name in ("p50", "p95", "p99", "rps", "load", "threshold", "warmup")}
    wanted["spectrum"], wanted["baseline spectrum"] = COLOURS["sides"][:2]
    counts = {}
    for name, colour in wanted.items():
        rgb = numpy.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=numpy.int16)
        counts[name] = int((numpy.abs(pixels - rgb).sum(axis=2) < 40).sum())
    # Each series is a 2 px line over the measured windows of a chart of each of the two tests (about
    # 450-650 pixels here; the time axis starts at 0, so the first window's end is a third of the way in);
    # the failing gate's "p50 < 1ms" is a dashed line on its latency chart and its spectrum, the passing
    # gate's 1 s warm-up a shaded strip on four charts. (A page whose script failed shows none of these.)
    assert all(count > 200 for count in counts.values()), counts
    assert counts["warmup"] > 10_000, counts


GATE = """
import pytest

@pytest.mark.load_test(users=2, duration="2s", slo="p95 < 1ms")
def test_breach(load_result):
    pass

@pytest.mark.load_test(users=2, duration="2s", locustfile="broken_locustfile.py")
def test_crashed_generator():
    pass

def test_plain(aks_target):
    pass
"""


def test_exit_semantics_fail_error_and_skip(pytester: pytest.Pytester) -> None:
    """What CI sees: SLO breach = failed, broken generator or target = error, no target = skip or error."""
    pytester.makepyfile(test_gate=GATE)
    pytester.path.joinpath("broken_locustfile.py").write_text("raise RuntimeError('broken locustfile')\n")
    with ScoringServer(delays_s=[0.005]) as server:
        run = pytester.runpytest_subprocess("--aks-scoring-uri", server.url, "-p", "no:cacheprovider")
    run.assert_outcomes(passed=1, failed=1, errors=1)
    assert run.ret == 1
    run.stdout.fnmatch_lines(["FAILED test_gate.py::test_breach*", "ERROR test_gate.py::test_crashed_generator*"])

    unreachable = f"http://127.0.0.1:{closed_port()}/score"
    run = pytester.runpytest_subprocess("--aks-scoring-uri", unreachable, "-p", "no:cacheprovider", "-k", "breach")
    run.assert_outcomes(errors=1)

    run = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    run.assert_outcomes(skipped=3)
    assert run.ret == 0
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--aks-require-target")
    run.assert_outcomes(errors=3)
    assert run.ret == 1
    run.stdout.fnmatch_lines(["*no endpoint: pass --aks-service*(--aks-require-target is set)*"])
