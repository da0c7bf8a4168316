"""Side by side is refused where it cannot run yet, in one line naming what to use instead: with
remote workers (--aks-expect-workers) and with a capacity search (capacity=). Either way, from the
marker's against= or from the options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_aksload.config.profile import ProfileError, profile_from_marker
from pytest_aksload.config.settings import Settings

HERE = Path(__file__).parent
OTHER = "http://127.0.0.1:9/score"
REMOTE = {"aks_expect_workers": 2, "aks_master_bind": ("127.0.0.1", 5557)}


def refusal(marker: dict[str, Any], **settings: Any) -> str:
    with pytest.raises(ProfileError) as raised:
        profile_from_marker((), {"slo": ["p95 <= 1.2x"], **marker}, Settings(**settings), HERE)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("marker", "options"), [({"against": OTHER}, {}), ({}, {"aks_against_uri": OTHER})])
def test_side_by_side_is_refused_on_remote_workers(marker: dict[str, Any], options: dict[str, Any]) -> None:
    message = refusal(marker, **REMOTE, **options)

    assert message == "side-by-side gates do not run on remote workers yet; use workers= (local processes)"


@pytest.mark.parametrize(("marker", "options"), [({"against": OTHER}, {}), ({}, {"aks_against_uri": OTHER})])
def test_side_by_side_is_refused_with_a_capacity_search(marker: dict[str, Any], options: dict[str, Any]) -> None:
    message = refusal({**marker, "capacity": True}, **options)

    assert message == "capacity= searches one service's capacity; it cannot be combined with a side-by-side gate"


def test_the_same_markers_are_accepted_alone() -> None:
    # The refusals above come from side by side, not from remote workers or capacity= themselves.
    alone = {"slo": ["p95 < 1s"]}
    assert profile_from_marker((), alone, Settings(**REMOTE), HERE).remote_workers == 2
    assert profile_from_marker((), {**alone, "capacity": True}, Settings(), HERE).capacity is not None
    assert profile_from_marker((), {"slo": ["p95 <= 1.2x"], "against": OTHER}, Settings(), HERE).against == OTHER
