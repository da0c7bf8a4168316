"""Open-model load, parent side, on numbers it is given: the user pool's size and the judgement
of whether the arrival schedule was kept (what the live runs of tests/live/test_open_model.py
report on, whatever a busy host does to their timing)."""

from __future__ import annotations

import pytest

from pytest_aksload.config.arrivals import MAX_POOL, MIN_POOL, pool_size, schedule_problem


@pytest.mark.parametrize(
    ("rate", "timeout_s", "pool"),
    [
        (40, 10.0, 400),  # every request may take the whole timeout: rate x timeout users
        (0.5, 1.0, MIN_POOL),
        (3.3, 1.0, MIN_POOL),  # 3.3 rounds up to 4
        (4.1, 1.0, 5),
        (5000, 10.0, MAX_POOL),
        (1e308, 1e308, MAX_POOL),  # no overflow
    ],
)
def test_the_pool_covers_the_rate_for_the_whole_timeout_within_bounds(rate: float, timeout_s: float, pool: int) -> None:
    assert pool_size(rate, timeout_s) == pool


def schedule(**counts: float) -> dict[str, float]:
    kept = {"intended": 1000, "sent": 1000, "late": 0, "max_lag_ms": 5, "backlogged": 0, "missed": 0, "pool": 400}
    return kept | counts


@pytest.mark.parametrize(
    "kept",
    [
        None,
        {},
        schedule(intended=0, sent=0),
        schedule(),
        schedule(late=10, max_lag_ms=90),  # 1 %: the limit itself is kept
        schedule(late=6, backlogged=10, max_lag_ms=90),  # a backlogged request is usually late too: not counted twice
    ],
)
def test_a_schedule_kept_within_one_percent_says_nothing(kept: dict[str, float] | None) -> None:
    assert schedule_problem(kept) is None


def test_a_schedule_missed_by_more_than_one_percent_says_how() -> None:
    assert schedule_problem(schedule(late=11, max_lag_ms=250)) == (
        "the arrival schedule was not kept: of 1000 scheduled requests 11 went out late (max 250 ms), 0 waited "
        "for a free user (pool 400) and 0 were never sent; latencies still count from the intended times. "
        "Raise users= or add workers"
    )
    assert schedule_problem(schedule(backlogged=8, missed=3)) is not None  # never sent: off schedule too
    assert schedule_problem(schedule(backlogged=11, sent=989)) is not None
