"""pytest hooks and fixtures: wiring only; the logic lives in the sibling modules.

settings.py decides options, profile.py reads the marker, resolvers.py finds the target,
preflight.py / runner.py run the load, slo.py judges it, terminal.py shows it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_aksload.config import arrivals
from pytest_aksload.config.profile import MARKER, MARKER_HELP, LoadProfile, ProfileError, profile_from_marker
from pytest_aksload.config.settings import NO_TARGET_REASON, Settings, add_options, resolve
from pytest_aksload.run.interrupts import SigtermAsInterrupt
from pytest_aksload.targets.resolve import key_hint, resolve_target
from pytest_aksload.targets.target import AuthHeaders, Target, TargetError

# Every pytest session of an environment with the plugin installed imports this module: modules that
# import pandas, requests, hdrh or filelock load inside the hooks of sessions that use them.
if TYPE_CHECKING:
    from pytest_aksload.run import extend
    from pytest_aksload.run import load_lock as serialize
    from pytest_aksload.stats.result import LoadResult

settings_key = pytest.StashKey[Settings]()
profile_key = pytest.StashKey[LoadProfile]()
result_key = pytest.StashKey["LoadResult"]()
verdicts_key = pytest.StashKey["list[SloVerdict]"]()
baseline_key = pytest.StashKey["dict[str, LoadResult]"]()
comparisons_key = pytest.StashKey["list[baseline.Comparison]"]()
report_page_key = pytest.StashKey[Path]()
target_name_key = pytest.StashKey[str]()
locust_html_key = pytest.StashKey[Path]()
sigterm_key = pytest.StashKey[SigtermAsInterrupt]()
interrupted_key = pytest.StashKey["list[dict[str, Any]]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[settings_key] = settings = resolve(config)
    if settings.aks_compare:
        from pytest_aksload.verdicts import baseline

        try:
            config.stash[baseline_key] = baseline.load(settings.aks_compare)
        except baseline.BaselineError as error:
            raise pytest.UsageError(f"--aks-compare: {error}") from None
    config.stash[sigterm_key] = handler = SigtermAsInterrupt()
    handler.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    handler = config.stash.get(sigterm_key, None)
    if handler is not None:
        handler.restore()


def _fail(error: Exception | str) -> NoReturn:
    """Fail (or, in setup, error) the test with just the message: it is the user's to act on, and
    the exception being handled is our plumbing, not something to print as "During handling"."""
    raise pytest.fail.Exception(str(error), pytrace=False) from None


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under xdist, mark the test this worker runs, so a load test can tell what ran beside it."""
    if not hasattr(item.config, "workerinput"):
        return (yield)
    from pytest_aksload.run import load_lock as serialize

    with serialize.running(serialize.shared_dir(item.config), item.nodeid):
        return (yield)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aks_target(request: pytest.FixtureRequest) -> Target:
    """The resolved endpoint of this session (skips the test when no target option was given)."""
    settings = _settings(request.config)
    try:
        target = resolve_target(settings, request.addfinalizer)
    except TargetError as error:
        _fail(error)
    if target is None:
        if settings.aks_require_target:
            pytest.fail(f"{NO_TARGET_REASON} (--aks-require-target is set)", pytrace=False)
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
    from pytest_aksload.data import criteo

    path = _settings(request.config).criteo_sample_path
    try:
        return criteo.load_sample(path)
    except criteo.CriteoDataError as error:
        _fail(f"criteo_sample_path: {error}")


@pytest.fixture
def criteo_payload(criteo_sample: Any) -> dict[str, Any]:
    """One request body: the first sample row as the flat JSON object the model expects."""
    from pytest_aksload.data import criteo

    return criteo.payload_from_row(criteo_sample.iloc[0])


@pytest.fixture
def aks_payloads(
    request: pytest.FixtureRequest, criteo_sample: Any, criteo_payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """The request bodies a load test cycles through: criteo_payload, then more sample rows (marker rows=)."""
    from pytest_aksload.data import criteo

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
    from pytest_aksload.reports.terminal import ProgressPrinter
    from pytest_aksload.run import capacity, extend
    from pytest_aksload.run.preflight import PreflightError, preflight
    from pytest_aksload.run.runner import LoadInterrupted, LoadRunError, run_load
    from pytest_aksload.verdicts import decision

    target: Target = request.getfixturevalue("aks_target")
    payloads: list[dict[str, Any]] = request.getfixturevalue("aks_payloads")
    settings = _settings(request.config)
    item.stash[target_name_key] = target.name
    slot = _hold_load_slot(request)
    try:
        preflight(
            target,
            payloads[0],
            profile.request_timeout_s,
            key_hint=key_hint(settings),
            ca_bundle=settings.aks_ca_bundle,
        )
    except PreflightError as error:
        _fail(error)
    extending = extend.wants_extension(profile, settings.aks_inconclusive)
    run_profile = extend.extended(profile) if extending else profile
    printer = ProgressPrinter(request.config, item.name, run_profile.duration_s)
    html_report = _locust_html(item, settings)

    def run(piece: LoadProfile, stop_when: extend.StopWhen | None = None) -> LoadResult:
        raw = run_load(
            target,
            piece,
            payloads,
            on_progress=printer,
            ca_bundle=settings.aks_ca_bundle,
            html_report=html_report,
            stop_when=stop_when,
        )
        return decision.prepare(raw, piece)

    try:
        if profile.capacity is not None:
            result = capacity.find_capacity(profile, run, pool_size=arrivals.pool_size)
        elif extending:
            result = run(run_profile, extend.decided_after(profile))
        else:
            result = run(profile)
        item.stash[result_key] = result
        off_schedule = arrivals.schedule_problem(result.schedule)
        if off_schedule is not None:
            item.warn(pytest.PytestWarning(f"aksload: {off_schedule}"))
    except (LoadRunError, capacity.CapacityError) as error:
        _fail(error)
    except LoadInterrupted as interrupted:
        # pytest reports no test outcome for an interrupted test: keep its partial numbers for the summary.
        entry = {**_entry_base(item, profile), "verdict": "INTERRUPTED", "metrics": _metrics(interrupted.partial)}
        request.config.stash.setdefault(interrupted_key, []).append(entry)
        raise
    finally:
        printer.finish()
    slot.release()
    item.stash[result_key].overlapping_tests = slot.overlapping_tests


def _hold_load_slot(request: pytest.FixtureRequest) -> serialize.LoadSlot:
    """Wait until no other load test of the session (any xdist worker) runs; released after the load."""
    from pytest_aksload.run import load_lock as serialize

    slot = serialize.LoadSlot(serialize.shared_dir(request.config))
    try:
        slot.acquire()
    except serialize.SerialWaitTimeout as error:
        _fail(error)
    request.addfinalizer(slot.release)  # when pre-flight or the load failed
    return slot


def _locust_html(item: pytest.Item, settings: Settings) -> Path | None:
    if not settings.aks_report:
        return None
    from pytest_aksload.reports import files as reports

    # Absolute: the Locust child runs in a directory of its own.
    directory = Path(settings.aks_report).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    item.stash[locust_html_key] = path = directory / f"{reports.file_stem(item.nodeid)}.locust.html"
    return path


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
    if profile is None:
        return outcome
    from pytest_aksload.verdicts import decision
    from pytest_aksload.verdicts.diagnosis import failure_lines

    regression = _compare_with_baseline(item, result)
    if result is None or profile is None or not (profile.slos or result.aborted):
        if regression:
            pytest.fail(regression, pytrace=False)
        return outcome
    # A capacity search stops where the objectives sit at their edge, so INCONCLUSIVE there is the
    # finding, not doubt: the gate is the test's assertion on capacity_rps (the warning still shows).
    policy = "pass" if profile.capacity is not None else _settings(item.config).aks_inconclusive
    decided = decision.decide(profile, result, policy)
    item.stash[verdicts_key] = decided.verdicts
    if decided.failure is not None:
        causes = "".join(f"\n  {line}" for line in failure_lines(result))
        pytest.fail(
            decided.failure
            + (f"\nmost frequent failures:{causes}" if causes else "")
            + (f"\n{regression}" if regression else ""),
            pytrace=False,
        )
    if decided.warning is not None:
        item.warn(pytest.PytestWarning(decided.warning))
    if regression:
        pytest.fail(regression, pytrace=False)
    return outcome


def _compare_with_baseline(item: pytest.Item, result: LoadResult | None) -> str | None:
    """Compare with the --aks-compare baseline (if it has this test); the failure message if it regressed."""
    stored = item.config.stash.get(baseline_key, {}).get(item.nodeid)
    if result is None or stored is None:
        return None
    from pytest_aksload.verdicts import baseline

    tolerances = {tolerance.metric: tolerance for tolerance in _settings(item.config).aks_max_regression}
    comparisons = baseline.compare(stored, result, tolerances)
    item.stash[comparisons_key] = comparisons
    return baseline.regression_message(comparisons)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    profile = item.stash.get(profile_key, None)
    if profile is None:
        return report
    setup_broke = call.when == "setup" and report.failed
    if call.when == "call" or setup_broke:
        from pytest_aksload.reports import files as reports

        report.aksload = entry = _summary_entry(item, report, profile)  # type: ignore[attr-defined]
        # --junitxml writes the properties from the teardown report, which copies these.
        item.user_properties.extend(reports.junit_properties(entry))
    return report


def _summary_entry(item: pytest.Item, report: pytest.TestReport, profile: LoadProfile) -> dict[str, Any]:
    """A JSON-safe record of one load test (travels from xdist workers to the controller)."""
    from pytest_aksload.reports import files as reports
    from pytest_aksload.verdicts import decision

    result = item.stash.get(result_key, None)
    verdicts = item.stash.get(verdicts_key, [])
    # No result means the load never ran to the end: a broken target or generator.
    verdicts_by_outcome = ("ERROR", "SKIP") if result is None else ("FAIL", "PASS")
    verdict = verdicts_by_outcome[0] if report.failed else verdicts_by_outcome[1]
    if verdict == "FAIL" and decision.undecided(verdicts):
        verdict = "INCONCLUSIVE"  # failed by --aks-inconclusive=fail, not by a violated objective
    return {
        **_entry_base(item, profile),
        "verdict": verdict,
        "metrics": _metrics(result),
        **reports.report_fields(
            item.stash.get(target_name_key, None),
            result,
            verdicts,
            item.stash.get(comparisons_key, []),
            locust_html.name if (locust_html := item.stash.get(locust_html_key, None)) else None,
        ),
    }


def _entry_base(item: pytest.Item, profile: LoadProfile) -> dict[str, Any]:
    return {"nodeid": item.nodeid, "profile": profile.describe(), "slos": []}


def _metrics(result: LoadResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "requests": result.requests,
        "failures": result.failures,
        "failure_rate": result.failure_rate,
        "failures_by_kind": result.failures_by_kind,
        "rps": result.rps,
        "p50_ms": result.p50_ms,
        "p95_ms": result.p95_ms,
        "p99_ms": result.p99_ms,
        "mean_ms": result.mean_ms,
        "max_ms": result.max_ms,
        "ci": result.cis(),
        "generator_issues": result.generator_issues,
    }


def _session_entries(config: pytest.Config) -> list[dict[str, Any]]:
    """Every load test's summary record of the session (on the xdist controller: all workers')."""
    terminalreporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = terminalreporter.stats if terminalreporter is not None else {}
    entries = [
        report.aksload
        for reports_of_kind in stats.values()
        for report in reports_of_kind
        if getattr(report, "aksload", None) is not None
    ]
    return entries + config.stash.get(interrupted_key, [])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """CI outputs: --aks-report files, the GitHub step summary, --aks-save-baseline."""
    config = session.config
    if hasattr(config, "workerinput"):
        return  # the controller writes them, from every worker's records
    settings = _settings(config)
    entries = sorted(_session_entries(config), key=lambda e: e["nodeid"])
    if not (entries or settings.aks_report):
        return
    from pytest_aksload.reports import files as reports
    from pytest_aksload.verdicts import baseline

    if settings.aks_report:
        config.stash[report_page_key] = reports.write_report_dir(settings.aks_report, entries)
    if not entries:
        return
    github_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if github_summary:
        reports.append_github_summary(github_summary, entries)
    if settings.aks_save_baseline:
        baseline.save(settings.aks_save_baseline, entries)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    entries = _session_entries(terminalreporter.config)
    if not entries:
        return
    entries.sort(key=lambda e: e["nodeid"])
    from pytest_aksload.reports import files as reports
    from pytest_aksload.reports.terminal import SUMMARY_COLUMNS, failure_kind_lines, format_table, summary_rows

    terminalreporter.write_sep("=", "aksload load tests")
    for line in format_table(SUMMARY_COLUMNS, summary_rows(entries)) + failure_kind_lines(entries):
        terminalreporter.write_line(line)
    for line in reports.comparison_notes(entries):
        terminalreporter.write_line(line)
    page = terminalreporter.config.stash.get(report_page_key, None)
    if page is not None:
        terminalreporter.write_line(f"aksload report: {page}")
