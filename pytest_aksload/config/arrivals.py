"""Open-model load, parent side: the `rate=`/`arrivals=` marker arguments and the user pool size.

With `rate=` the child issues requests on a schedule (see `pytest_aksload/_locust/open_model.py`)
instead of each user waiting for its previous answer, and latency counts from the intended send
time. The users are only carriers for scheduled requests: enough of them must exist to keep the
schedule while the service is slow, i.e. rate x the longest a request can take (the request
timeout). Idle users cost a greenlet and no connection (the scheduler reuses the most recently
idle ones), so the pool is sized for the worst case, bounded so a huge rate cannot exhaust the
load generator's memory or file descriptors.
"""

from __future__ import annotations

import math
from typing import Any

from pytest_aksload.defaults import ARRIVALS

MIN_POOL = 4
MAX_POOL = 1000


def parse_rate(value: Any) -> float | None:
    """`rate=`: requests per second (> 0), or None for the closed model."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"rate={value!r}: expected requests per second, a number > 0, e.g. rate=200")
    return float(value)


def parse_arrivals(value: Any) -> str:
    if value not in ARRIVALS:
        raise ValueError(f"arrivals={value!r}: expected one of {', '.join(map(repr, ARRIVALS))}")
    return value


def pool_size(rate: float, request_timeout_s: float) -> int:
    """Users needed to keep `rate` even while every request takes the whole timeout (bounded)."""
    # Bound before rounding: an absurd rate x timeout overflows to inf, which ceil cannot take.
    return max(MIN_POOL, math.ceil(min(MAX_POOL, rate * request_timeout_s)))


OFF_SCHEDULE_LIMIT = 0.01  # more than 1 % of requests late, queued for a user or never sent


def schedule_problem(schedule: dict[str, float] | None) -> str | None:
    """One line when the load generator could not keep the arrival schedule, else None.

    The corrected latencies still count from the intended times, so they stay honest; but the
    service then saw a different arrival pattern than asked for, which the user should know."""
    if not schedule or not schedule.get("intended"):
        return None
    intended = schedule["intended"]
    off = max(schedule.get("late", 0), schedule.get("backlogged", 0)) + schedule.get("missed", 0)
    if off / intended <= OFF_SCHEDULE_LIMIT:
        return None
    return (
        f"the arrival schedule was not kept: of {intended:.0f} scheduled requests {schedule.get('late', 0):.0f} "
        f"went out late (max {schedule.get('max_lag_ms', 0):.0f} ms), {schedule.get('backlogged', 0):.0f} "
        f"waited for a free user (pool {schedule.get('pool', 0):.0f}) and {schedule.get('missed', 0):.0f} "
        "were never sent; latencies still count from the intended times. Raise users= or add workers"
    )
