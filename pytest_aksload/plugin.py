"""pytest hooks and fixtures: wiring only; the logic lives in the sibling modules.

settings.py decides options, profile.py reads the marker, resolvers.py finds the target,
preflight.py / runner.py run the load, slo.py judges it, terminal.py shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import criteo
from .preflight import PreflightError, preflight
from .profile import MARKER, MARKER_HELP, LoadProfile, ProfileError, profile_from_marker
from .resolvers import key_hint, resolve_target
from .results import LoadResult
from .runner import LoadRunError, run_load
from .settings import NO_TARGET_REASON, Settings, add_options, resolve
from .slo import evaluate, format_verdicts
from .targets import AuthHeaders, Target, TargetError
from .terminal import SUMMARY_COLUMNS, ProgressPrinter, format_table, summary_rows

settings_key = pytest.StashKey[Settings]()
profile_key = pytest.StashKey[LoadProfile]()
result_key = pytest.StashKey[LoadResult]()
verdicts_key = pytest.StashKey["list[SloVerdict]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[settings_key] = resolve(config)


def _settings(config: pytest.Config) -> Settings:
    return config.stash[settings_key]


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """Validate every load_test marker while collecting, so a typo costs no load run."""
    collected = yield
    items = collected if isinstance(collected, list) else [collected]
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        marker = item.get_closest_marker(MARKER)
        if marker is None:
            continue
        try:
            item.stash[profile_key] = profile_from_marker(
                marker.args, dict(marker.kwargs), _settings(item.config), Path(item.path).parent
            )
        except ProfileError as error:
            raise pytest.Collector.CollectError(f"{item.nodeid}: @pytest.mark.{MARKER}: {error}") from None
    return collected


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aks_target(request: pytest.FixtureRequest) -> Target:
    """The resolved endpoint of this session (skips the test when no target option was given)."""
    settings = _settings(request.config)
    try:
        target = resolve_target(settings, request.addfinalizer)
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)
    if target is None:
        pytest.skip(NO_TARGET_REASON)
    return target


@pytest.fixture
def aks_scoring_uri(aks_target: Target) -> str:
    return aks_target.scoring_uri


@pytest.fixture
def aks_auth_headers(aks_target: Target) -> AuthHeaders:
    """Headers a scoring request needs now (auth plus e.g. azureml-model-deployment); repr redacts."""
    return aks_target.headers()


@pytest.fixture(scope="session")
def criteo_sample(request: pytest.FixtureRequest) -> Any:
    """The Criteo rows payloads are drawn from: the shipped sample, or ini criteo_sample_path."""
    path = _settings(request.config).criteo_sample_path
    try:
        return criteo.load_sample(path)
    except criteo.CriteoDataError as error:
        pytest.fail(f"criteo_sample_path: {error}", pytrace=False)


@pytest.fixture
def criteo_payload(criteo_sample: Any) -> dict[str, Any]:
    """One request body: the first sample row as the flat JSON object the model expects."""
    return criteo.payload_from_row(criteo_sample.iloc[0])


@pytest.fixture
def aks_payloads(
    request: pytest.FixtureRequest, criteo_sample: Any, criteo_payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The request bodies a load test cycles through: criteo_payload, then more sample rows (marker rows=)."""
    profile = request.node.stash.get(profile_key, None)
    rows = profile.rows if profile is not None else 1
    return [criteo_payload, *criteo.payloads(criteo_sample.iloc[1:rows])]


@pytest.fixture(autouse=True)
def _aksload_run(request: pytest.FixtureRequest) -> None:
    """Run the marker's load once, before the test body, whether or not it asks for load_result."""
    item = request.node
    profile = item.stash.get(profile_key, None)
    if profile is None:
        return
    target: Target = request.getfixturevalue("aks_target")
    payloads: list[dict[str, Any]] = request.getfixturevalue("aks_payloads")
    settings = _settings(request.config)
    try:
        preflight(target, payloads[0], profile.request_timeout_s, key_hint=key_hint(settings))
    except PreflightError as error:
        pytest.fail(str(error), pytrace=False)
    printer = ProgressPrinter(request.config, item.name, profile.duration_s)
    try:
        item.stash[result_key] = run_load(target, profile, payloads, on_progress=printer)
    except LoadRunError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        printer.finish()


@pytest.fixture
def load_result(request: pytest.FixtureRequest, _aksload_run: None) -> LoadResult:
    """The exact result of this test's @pytest.mark.load_test run."""
    result = request.node.stash.get(result_key, None)
    if result is None:
        pytest.fail(f"load_result needs @pytest.mark.{MARKER}(...) on the test", pytrace=False)
    return result


# -- verdicts and reporting -----------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After the test body passed, judge the marker's SLOs; a violation fails the test."""
    outcome = yield
    result = item.stash.get(result_key, None)
    profile = item.stash.get(profile_key, None)
    if result is None or profile is None or not profile.slos:
        return outcome
    verdicts = evaluate(profile.slos, result)
    item.stash[verdicts_key] = verdicts
    if not all(verdict.passed for verdict in verdicts):
        failed = sum(not verdict.passed for verdict in verdicts)
        pytest.fail(
            f"{failed} of {len(verdicts)} SLOs violated ({result!r})\n{format_verdicts(verdicts)}", pytrace=False
        )
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    profile = item.stash.get(profile_key, None)
    if profile is None:
        return report
    setup_broke = call.when == "setup" and report.failed
    if call.when == "call" or setup_broke:
        report.aksload = _summary_entry(item, report, profile)  # type: ignore[attr-defined]
    return report


def _summary_entry(item: pytest.Item, report: pytest.TestReport, profile: LoadProfile) -> dict[str, Any]:
    """A JSON-safe record of one load test (travels from xdist workers to the controller)."""
    result = item.stash.get(result_key, None)
    verdicts = item.stash.get(verdicts_key, [])
    # No result means the load never ran to the end: a broken target or generator.
    verdicts_by_outcome = ("ERROR", "SKIP") if result is None else ("FAIL", "PASS")
    verdict = verdicts_by_outcome[0] if report.failed else verdicts_by_outcome[1]
    return {
        "nodeid": item.nodeid,
        "profile": profile.describe(),
        "verdict": verdict,
        "metrics": None
        if result is None
        else {
            "requests": result.requests,
            "failures": result.failures,
            "failure_rate": result.failure_rate,
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p95_ms": result.p95_ms,
            "p99_ms": result.p99_ms,
            "mean_ms": result.mean_ms,
            "max_ms": result.max_ms,
        },
        "slos": [{"objective": str(v.slo), "measured": v.measured, "passed": v.passed} for v in verdicts],
    }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    entries = [
        report.aksload
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "aksload", None) is not None
    ]
    if not entries:
        return
    terminalreporter.write_sep("=", "aksload load tests")
    for line in format_table(SUMMARY_COLUMNS, summary_rows(sorted(entries, key=lambda e: e["nodeid"]))):
        terminalreporter.write_line(line)
