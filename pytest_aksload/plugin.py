"""pytest hooks and fixtures: wiring only; the logic lives in the subpackages.

config/ decides settings and reads the marker, targets/ finds the endpoint, run/gate.py runs a
load test to its outcome, reports/ shows it. pytest loads this module in every session of an
environment the package is installed in, so it imports nothing heavy: run/, stats/, reports/,
targets/ and data/ are imported inside the hooks and fixtures that use them.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_aksload.config.profile import MARKER, MARKER_HELP, ProfileError, profile_from_marker
from pytest_aksload.config.settings import NO_TARGET_REASON, add_options, resolve
from pytest_aksload.defaults import DEFAULT_CONTRACT
from pytest_aksload.protocol import SampleRows
from pytest_aksload.session import AksloadSession, LoadTestState

if TYPE_CHECKING:
    from pytest_aksload.reports.record import Record
    from pytest_aksload.targets.target import AuthHeaders, OtherSide, Target
    from pytest_aksload.verdicts.gated import GatedResult

session_key = pytest.StashKey[AksloadSession]()
load_test_key = pytest.StashKey[LoadTestState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[session_key] = session = AksloadSession(resolve(config))
    if session.settings.aks_compare:
        from pytest_aksload.verdicts import baseline

        try:
            session.baseline = baseline.load(session.settings.aks_compare)
        except baseline.BaselineError as error:
            raise pytest.UsageError(f"--aks-compare: {error}") from None
    config.pluginmanager.register(_RecordGatherer(session), "aksload-records")
    session.sigterm.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(session_key, None)
    if session is not None:
        session.sigterm.restore()


def _session(config: pytest.Config) -> AksloadSession:
    return config.stash[session_key]


def _fail(error: Exception | str) -> NoReturn:
    """Fail (or, in setup, error) the test with just the message: it is the user's to act on, and
    the exception being handled is our plumbing, not something to print as "During handling"."""
    raise pytest.fail.Exception(str(error), pytrace=False) from None


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """Validate every load_test marker while collecting, so a typo costs no load run."""
    collected = yield
    for item in collected if isinstance(collected, list) else [collected]:
        marker = item.get_closest_marker(MARKER) if isinstance(item, pytest.Function) else None
        if marker is None:
            continue
        session = _session(item.config)
        try:
            profile = profile_from_marker(marker.args, dict(marker.kwargs), session.settings, Path(item.path).parent)
        except ProfileError as error:
            raise pytest.Collector.CollectError(f"{item.nodeid}: @pytest.mark.{MARKER}: {error}") from None
        if session.settings.aks_sample_path and session.sample is None:
            try:
                session.sample = _user_sample(session)
            except ValueError as error:  # data.sample.SampleError: one line naming the file
                raise pytest.Collector.CollectError(str(error)) from None
        item.stash[load_test_key] = LoadTestState(profile)
    return collected


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under xdist, mark the test this worker runs, so a load test can tell what ran beside it."""
    if not hasattr(item.config, "workerinput"):
        return (yield)
    from pytest_aksload.run import load_lock

    with load_lock.running(load_lock.shared_dir(item.config), item.nodeid):
        return (yield)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aks_target(request: pytest.FixtureRequest) -> Target:
    """The resolved endpoint of this session (skips the test when no target option was given)."""
    from pytest_aksload.targets.resolve import resolve_target
    from pytest_aksload.targets.target import TargetError

    settings = _session(request.config).settings
    try:
        target = resolve_target(settings, request.addfinalizer)
    except TargetError as error:
        _fail(error)
    if target is None:
        if settings.aks_require_target:
            pytest.fail(f"{NO_TARGET_REASON} (--aks-require-target is set)", pytrace=False)
        pytest.skip(NO_TARGET_REASON)
    from pytest_aksload.reports.terminal import show_target

    show_target(request.config, target)  # with its deployment; a deployment it could not read, once:
    if target.deployment is not None and target.deployment.note:
        warnings.warn(pytest.PytestWarning(f"aksload: {target.deployment.note}"), stacklevel=1)
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

    try:
        return criteo.load_sample(_session(request.config).settings.criteo_sample_path)
    except criteo.CriteoDataError as error:
        _fail(f"criteo_sample_path: {error}")


@pytest.fixture
def criteo_payload(criteo_sample: Any) -> dict[str, Any]:
    """One request body: the first sample row as the flat JSON object the model expects."""
    from pytest_aksload.data import criteo

    return criteo.payload_from_row(criteo_sample.iloc[0])


def _user_sample(session: AksloadSession) -> Any:
    """--aks-sample's rows, labels and expected column (data.sample.Sample); SampleError if unusable."""
    from pytest_aksload.data.sample import load_rows

    settings = session.settings
    assert settings.aks_sample_path is not None
    return load_rows(settings.aks_sample_path, settings.aks_label_column, settings.aks_expected_column)


@pytest.fixture(scope="session")
def aks_sample(request: pytest.FixtureRequest) -> Any:
    """The sample a load test draws its rows from (pandas DataFrame, label and expected columns
    included): --aks-sample's file, else the Criteo sample (`criteo_sample`)."""
    session = _session(request.config)
    if not session.settings.aks_sample_path:
        return request.getfixturevalue("criteo_sample")
    if session.sample is None:
        try:
            session.sample = _user_sample(session)
        except ValueError as error:
            _fail(error)
    return session.sample.frame


@pytest.fixture
def _aksload_rows(request: pytest.FixtureRequest, aks_sample: Any) -> SampleRows:
    """What this test's load sends and checks: rows, labels and expected predictions (run/workload.py)."""
    from pytest_aksload.run import workload

    session, state = _session(request.config), request.node.stash.get(load_test_key, None)
    if session.settings.aks_sample_path:
        rows, labels, column = session.sample.rows, session.sample.labels, session.sample.expected
    else:
        first = request.getfixturevalue("criteo_payload")
        rows, labels = workload.criteo_rows(aks_sample, first, state.profile.rows if state is not None else 1)
        column = None
    try:
        expected = request.getfixturevalue("aks_expected_predictions")
    except pytest.FixtureLookupError:
        expected = workload.NOT_GIVEN
    try:
        local, model = session.settings.aks_local, session.settings.local_model
        return workload.sample_rows(rows, labels, column, expected, len(aks_sample), aks_local=local, local_model=model)
    except workload.WorkloadError as error:
        _fail(error)


@pytest.fixture
def aks_payloads(request: pytest.FixtureRequest, _aksload_rows: SampleRows) -> list[Any]:
    """The request bodies a load test cycles through, encoded with its contract and batch (JSON values):
    with the Criteo sample, criteo_payload then more sample rows (marker rows=)."""
    from pytest_aksload.run.workload import bodies

    state = request.node.stash.get(load_test_key, None)
    if state is None:
        return bodies(_aksload_rows, _session(request.config).settings.aks_contract or DEFAULT_CONTRACT, 1)
    return bodies(_aksload_rows, state.profile.contract, state.profile.batch)


@pytest.fixture(autouse=True)
def _aksload_run(request: pytest.FixtureRequest) -> None:
    """Run the marker's load once, before the test body, whether or not it asks for load_result."""
    state = request.node.stash.get(load_test_key, None)
    if state is None:
        return
    from pytest_aksload.reports.terminal import ProgressPrinter
    from pytest_aksload.run import gate, load_lock
    from pytest_aksload.run.runner import LoadInterrupted

    target: Target = request.getfixturevalue("aks_target")
    sample: SampleRows = request.getfixturevalue("_aksload_rows")
    session, item = _session(request.config), request.node
    if session.settings.aks_report:
        from pytest_aksload.reports.files import locust_html_path

        state.locust_html = locust_html_path(session.settings.aks_report, item.nodeid)
    state.target_name = target.name
    state.deployment = target.deployment
    against = _other_side(request, target, state.profile.against)
    state.against_name = None if against is None else against.name
    printer = ProgressPrinter(request.config, item.name, gate.progress_duration_s(state.profile, session.settings))
    try:
        state.gated = gate.run_gate(
            target, state.profile, sample, session.settings, nodeid=item.nodeid,
            lock_dir=load_lock.shared_dir(request.config), stored_baseline=session.baseline,
            on_progress=printer, html_report=state.locust_html, against=against,
        )  # fmt: skip
    except gate.GateError as error:
        _fail(error)
    except LoadInterrupted as interrupted:
        # pytest reports no outcome for an interrupted test: keep its partial numbers for the summary.
        session.records.append(_record(item, state, "INTERRUPTED", partial=interrupted.partial))
        raise
    finally:
        printer.finish()
    for warning in state.gated.warnings:
        item.warn(pytest.PytestWarning(warning))


def _other_side(request: pytest.FixtureRequest, target: Target, against: str | None) -> OtherSide | None:
    """The side a side-by-side test compares with (marker against= over the options), or None."""
    from pytest_aksload.targets.resolve import resolve_against
    from pytest_aksload.targets.target import TargetError

    try:
        return resolve_against(target, _session(request.config).settings, against)
    except TargetError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def load_result(request: pytest.FixtureRequest, _aksload_run: None) -> GatedResult:
    """The exact result of this test's @pytest.mark.load_test run (plus what the gate found)."""
    state = request.node.stash.get(load_test_key, None)
    if state is None or state.gated is None:
        pytest.fail(f"load_result needs @pytest.mark.{MARKER}(...) on the test", pytrace=False)
    return state.gated


# -- verdicts and reporting -----------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After the test body passed, apply the gate's conclusion: its failure (SLOs, regression) fails the test."""
    outcome = yield
    state = item.stash.get(load_test_key, None)
    if state is not None and state.gated is not None and state.gated.failure is not None:
        state.failed_by_gate = True
        pytest.fail(state.gated.failure, pytrace=False)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Attach the load test's report record to its call report (or its setup report, if setup broke)."""
    report: pytest.TestReport = yield
    state = item.stash.get(load_test_key, None)
    if state is None or not (call.when == "call" or (call.when == "setup" and report.failed)):
        return report
    from pytest_aksload.reports import files, record

    verdict = record.verdict_of(report.failed, state.gated, failed_by_gate=state.failed_by_gate)
    report.aksload = entry = _record(item, state, verdict)  # type: ignore[attr-defined]
    # --junitxml writes the properties from the teardown report, which copies these.
    item.user_properties.extend(files.junit_properties(entry))
    return report


def _record(item: pytest.Item, state: LoadTestState, verdict: str, **measured: Any) -> Record:
    from pytest_aksload.reports.record import build_record

    html = state.locust_html.name if state.locust_html is not None else None
    stored = _session(item.config).baseline
    compared = None if stored is None or state.gated is None else stored.get(item.nodeid)
    return build_record(
        item.nodeid, state.profile.describe(), verdict,
        target=state.target_name, gated=state.gated, locust_html=html,
        load_profile=state.profile, baseline=compared, against=state.against_name,
        deployment=state.deployment, **measured,
    )  # fmt: skip


class _RecordGatherer:
    """Gathers records from test reports (on the xdist controller: every worker's), whatever reporters
    run, e.g. with `-p no:terminal`. An object, because pytest_runtest_logreport gets no config."""

    def __init__(self, session: AksloadSession) -> None:
        self._session = session

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = getattr(report, "aksload", None)
        if entry is not None:
            self._session.records.append(entry)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """CI outputs (on the xdist controller, from every worker's records); the session fails when
    --aks-compare compared none of its load tests."""
    aksload = _session(session.config)
    if hasattr(session.config, "workerinput") or not (aksload.records or aksload.settings.aks_report):
        return  # a session without load tests pays for nothing here
    from pytest_aksload.reports.files import write_session_outputs

    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    # CI logging commands must start a line: the terminal's own writer knows whether one is open.
    write_line = terminal.write_line if terminal is not None else print
    aksload.report_page = write_session_outputs(aksload.settings, aksload.records, write_line)
    if aksload.baseline is not None and aksload.measured and not aksload.compared:
        from pytest_aksload.verdicts.baseline import nothing_compared

        aksload.compare_failure = nothing_compared(aksload.settings.aks_compare, aksload.baseline, len(aksload.records))
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if terminal is None:
            print(aksload.compare_failure, file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    aksload = _session(terminalreporter.config)
    if not aksload.records:
        return
    from pytest_aksload.reports import terminal

    terminalreporter.write_sep("=", "aksload load tests")
    for line in terminal.summary_lines(aksload.records, aksload.settings.aks_compare, aksload.report_page):
        terminalreporter.write_line(line)
    if aksload.compare_failure:
        terminalreporter.write_line(aksload.compare_failure, red=True, bold=True)
