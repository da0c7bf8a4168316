"""Sizing of a capacity search (verdicts/sizing.py): both formulas on known numbers, what is missing
when the instance count is not fixed or the peak not given, the `headroom`/`instances_needed`
objectives judged on it, and `peak=`/`utilization=`/`aks_peak_rps` read with one-line errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from synthetic_results import result_from_windows

from pytest_aksload.config.objectives import SloError, parse_slo
from pytest_aksload.config.profile import ProfileError, profile_from_marker
from pytest_aksload.config.settings import Settings, resolve
from pytest_aksload.targets.deployment import Deployment
from pytest_aksload.verdicts.decision import judge_gate
from pytest_aksload.verdicts.gated import GatedResult
from pytest_aksload.verdicts.sizing import NO_PEAK, NO_SEARCH, size
from pytest_aksload.verdicts.slo import FAIL, PASS

ONE_INSTANCE = Deployment(instances=1, max_concurrent_per_instance=2)


def test_instances_needed_and_headroom_from_the_capacity_per_instance() -> None:
    sizing = size(400.0, Deployment(instances=4), 1200.0, 0.7, 50.0)
    assert sizing.per_instance_rps == 100.0
    assert sizing.instances_needed == 18  # ceil(1200 / 70)
    assert sizing.headroom == pytest.approx(400 / 1200)
    assert sizing.formula == "ceil(1200 / (100 x 0.7)) = 18"
    assert sizing.missing is None and sizing.concurrency_instances is None  # no ceiling known


def test_an_exact_multiple_is_not_rounded_up_by_a_float_error() -> None:
    assert size(100.0, Deployment(instances=1), 700.0, 0.7, 50.0).instances_needed == 10


def test_azure_s_concurrency_formula_and_when_it_disagrees_with_the_measured_one() -> None:
    sizing = size(100.0, ONE_INSTANCE, 1200.0, 0.7, 50.0)
    assert sizing.concurrency_instances == 43  # ceil(1200 x 0.05 / 0.7 / 2)
    assert sizing.concurrency_formula == "ceil(1200 x 0.05s / 0.7 / 2) = 43"
    assert sizing.instances_needed == 18
    assert sizing.disagreement is not None and "the concurrency setting, not the model" in sizing.disagreement
    # An instance serving far fewer requests than its ceiling admits: the model limits it.
    slow = size(10.0, Deployment(instances=1, max_concurrent_per_instance=8), 1200.0, 0.7, 50.0)
    assert slow.instances_needed == 172 and slow.concurrency_instances == 11
    assert slow.disagreement is not None and "the model, not the concurrency setting" in slow.disagreement
    # Within 2x of each other: nothing to say.
    close = size(100.0, Deployment(instances=1, max_concurrent_per_instance=5), 1200.0, 0.7, 50.0)
    assert (close.instances_needed, close.concurrency_instances, close.disagreement) == (18, 18, None)


@pytest.mark.parametrize(
    ("deployment", "why"),
    [
        (Deployment(min_instances=1, max_instances=4), "the deployment autoscales (1-4 instances)"),
        (Deployment(), '--aks-deployment-settings "instances=N"'),
        (None, '--aks-deployment-settings "instances=N"'),  # a target that tells nothing about it
    ],
)
def test_no_fixed_instance_count_gives_no_capacity_per_instance_and_says_why(
    deployment: Deployment | None, why: str
) -> None:
    sizing = size(400.0, deployment, 1200.0, 0.7, 50.0)
    assert sizing.per_instance_rps is None and sizing.instances_needed is None
    assert why in sizing.per_instance_missing and sizing.missing == sizing.per_instance_missing
    assert sizing.headroom == pytest.approx(1 / 3)  # capacity / peak needs no instance count
    assert "\n" not in sizing.missing


def test_a_fixed_autoscale_range_is_a_fixed_count() -> None:
    assert size(300.0, Deployment(min_instances=3, max_instances=3), 100.0, 0.7, 50.0).per_instance_rps == 100.0


def _gated(slos: list[str], sizing: Any, capacity: bool = True) -> GatedResult:
    marker: dict[str, Any] = {"slo": slos, **({"capacity": True} if capacity else {})}
    profile = profile_from_marker((), marker, Settings(), Path("."))
    result = result_from_windows([([10_000] * 200, 0)] * 4)
    return judge_gate(profile, result, "fail", sizing=sizing)


def test_the_sizing_objectives_are_judged_on_the_sizing_exactly() -> None:
    sizing = size(400.0, Deployment(instances=4), 200.0, 0.7, 50.0)  # headroom 2, 3 instances
    gated = _gated(["headroom >= 1.5", "instances_needed <= 2", "p95 < 1s"], sizing)
    assert [v.verdict for v in gated.verdicts] == [PASS, FAIL, PASS]
    assert gated.verdicts[1].measured == 3 and gated.verdicts[1].low == gated.verdicts[1].high == 3
    assert gated.sizing is sizing and gated.per_instance_rps == 100.0
    assert "instances_needed <= 2" in gated.failure
    assert gated.failure.endswith(f"\nsizing: {sizing.sentence()}")  # the numbers behind the failed objective


@pytest.mark.parametrize(
    ("sizing", "capacity", "reason"),
    [
        (None, False, NO_SEARCH),
        (size(400.0, Deployment(instances=4), None, 0.7, 50.0), True, NO_PEAK),
    ],
    ids=["no capacity search", "no peak"],
)
def test_without_what_the_sizing_needs_the_objectives_fail_with_one_line(
    sizing: Any, capacity: bool, reason: str
) -> None:
    gated = _gated(["headroom >= 1.5", "instances_needed <= 4"], sizing, capacity)
    assert [(v.verdict, v.reason) for v in gated.verdicts] == [(FAIL, reason), (FAIL, reason)]
    assert "\n" not in reason


def test_an_autoscaled_deployment_fails_instances_needed_but_judges_headroom() -> None:
    sizing = size(400.0, Deployment(min_instances=1, max_instances=4), 200.0, 0.7, 50.0)
    gated = _gated(["headroom >= 1.5", "instances_needed <= 4"], sizing)
    assert [v.verdict for v in gated.verdicts] == [PASS, FAIL]
    assert "autoscales" in gated.verdicts[1].reason


def test_the_sizing_round_trips_through_to_dict_and_says_itself_in_a_sentence() -> None:
    sizing = size(100.0, ONE_INSTANCE, 1200.0, 0.7, 50.0)
    gated = _gated(["headroom >= 1.5"], sizing)
    assert GatedResult.from_dict(gated.to_dict()).sizing == sizing
    sentence = sizing.sentence()
    assert "100.0 rps per instance" in sentence and "18 instances at 70% utilization" in sentence
    assert "Azure's concurrency formula: 43" in sentence and "\n" not in sentence


def test_the_capacity_search_steps_ignore_the_sizing_objectives() -> None:
    # headroom is NaN on every single step: judged there, no step would ever pass.
    from test_capacity_search import SimulatedService, search

    profile = profile_from_marker(
        (), {"slo": ["p95 < 100ms", "headroom >= 1.5"], "capacity": {"start": 10, "step": "5s", "hold": "10s"}},
        Settings(), Path("."),
    )  # fmt: skip
    _, capacity = search(profile, SimulatedService(short_rps=80, hold_rps=80, hold_s=10))
    assert capacity["capacity_rps"] > 10


@pytest.mark.parametrize(("value", "peak"), [(1200, 1200.0), ("1200/s", 1200.0), (" 12.5 /s", 12.5), ("300", 300.0)])
def test_peak_takes_a_number_or_n_per_second(value: Any, peak: float) -> None:
    profile = profile_from_marker((), {"slo": "p95 < 1s", "capacity": True, "peak": value}, Settings(), Path("."))
    assert (profile.peak_rps, profile.utilization) == (peak, 0.70)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"peak": 0}, 'peak=0: expected requests per second, a number > 0 or "N/s", e.g. 1200 or "1200/s"'),
        ({"peak": "-5/s"}, "peak='-5/s': expected requests per second"),
        ({"peak": "fast"}, "peak='fast': expected requests per second"),
        ({"peak": True}, "peak=True: expected requests per second"),
        ({"utilization": 0}, "utilization=0: expected a fraction in (0, 1], e.g. 0.7 (default 0.70)"),
        ({"utilization": 1.5}, "utilization=1.5: expected a fraction in (0, 1]"),
        ({"utilization": "70%"}, "utilization='70%': expected a fraction in (0, 1]"),
    ],
)
def test_bad_peak_or_utilization_is_one_line_naming_the_accepted_form(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as info:
        profile_from_marker((), {"slo": "p95 < 1s", "capacity": True, **kwargs}, Settings(), Path("."))
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_utilization_one_is_accepted_and_the_marker_peak_wins_over_the_ini() -> None:
    settings = Settings(aks_peak_rps=50.0)
    marker = {"slo": "p95 < 1s", "capacity": True, "utilization": 1}
    assert profile_from_marker((), marker, settings, Path(".")).peak_rps == 50.0
    assert profile_from_marker((), {**marker, "peak": 9}, settings, Path(".")).peak_rps == 9.0


class _Config:
    """What `settings.resolve` reads of a pytest config."""

    def __init__(self, ini: dict[str, str]) -> None:
        self._ini, self.rootpath = ini, Path.cwd()

    def getoption(self, name: str, default: Any = None) -> Any:
        return default

    def getini(self, name: str) -> str:
        return self._ini.get(name, "")

    def issue_config_time_warning(self, warning: Warning, stacklevel: int) -> None:
        raise AssertionError(warning)


def test_the_ini_key_and_its_env_var_read_the_peak() -> None:
    assert resolve(_Config({"aks_peak_rps": "1200/s"}), environ={}).aks_peak_rps == 1200.0  # type: ignore[arg-type]
    assert resolve(_Config({}), environ={"AKSLOAD_PEAK_RPS": "75"}).aks_peak_rps == 75.0  # type: ignore[arg-type]
    with pytest.raises(pytest.UsageError) as info:
        resolve(_Config({"aks_peak_rps": "lots"}), environ={})  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and 'a number > 0 or "N/s"' in str(info.value)
    assert str(info.value).startswith("--aks-peak-rps: cannot use 'lots'")


def test_sizing_needs_nothing_beyond_what_the_target_states() -> None:
    # A plain object shaped like a Deployment is enough (the verdicts layer never imports targets).
    assert size(50.0, SimpleNamespace(instances=2), 100.0, 0.5, 10.0).instances_needed == 8  # ceil(100 / (25 x 0.5))


@pytest.mark.parametrize("text", ["headroom >= 1.5 over 10s windows", "instances_needed <= 4 over 10s windows"])
def test_a_sized_objective_has_no_windowed_form(text: str) -> None:
    with pytest.raises(SloError) as info:
        parse_slo(text)
    assert str(info.value).endswith("is judged on a capacity search's sizing; drop 'over ...'")
