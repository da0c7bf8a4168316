"""Was the load generator itself healthy? If not, its figures say nothing about the service.

A saturated generator measures its own queueing: a request waits for the CPU before its timer
starts or after the response arrived, so latencies grow and fewer requests go out than the
profile asks. A slow laptop must neither fail a healthy service nor pass a broken one, so when
the generator was unhealthy every SLO verdict becomes INCONCLUSIVE with the reason.

Signs checked (from the result file's `generator` block and the profile):
* CPU: the child's process CPU time over the run >= 90 % of a core (Locust itself warns at 90 %),
  Locust's own 5 s samples peaking at >= 90 %, or Locust's `cpu_warning`;
* event-loop lag: the recorder times a 0.1 s sleep; if the loop wakes it >= 100 ms late (p95),
  every request was sent late or timed late by as much. This also catches a generator starved by
  a competing process, whose own CPU share looks modest;
* shortfall: with the packaged user (closed loop: request, then wait), each user sends one
  request per (mean wait + mean latency) seconds, after the ramp-up at `spawn_rate`; with
  `rate=` (open model) the schedule is the rate itself. Fewer than half the requests that implies
  means the generator could not keep its users' schedule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pytest_aksload.config.profile import LoadProfile
from pytest_aksload.stats.result import LoadResult
from pytest_aksload.verdicts.slo import FAIL, INCONCLUSIVE, SloVerdict

CPU_SATURATED_PERCENT = 90.0
LOOP_LAG_LIMIT_MS = 100.0
SHORTFALL_RATIO = 0.5
# Below this many expected requests a shortfall is noise (e.g. a 1 s run), not a diagnosis.
MIN_EXPECTED_REQUESTS = 20


def _user_seconds(users: int, spawn_rate: float, start_s: float, end_s: float) -> float:
    """Integral of the running users min(users, spawn_rate * t) over [start_s, end_s]."""
    ramp_end = users / spawn_rate

    def integral(t: float) -> float:  # from 0 to t
        if t <= ramp_end:
            return spawn_rate * t * t / 2.0
        return spawn_rate * ramp_end * ramp_end / 2.0 + users * (t - ramp_end)

    return max(0.0, integral(end_s) - integral(start_s))


def expected_requests(result: LoadResult, profile: LoadProfile) -> float | None:
    """Requests the packaged closed-loop user should have sent in the measured interval, or
    None when that is unknowable (a custom locustfile sets its own pacing, or nothing completed)."""
    if profile.rate is not None:
        return profile.rate * result.duration_s
    if profile.locustfile is not None or not result.requests:
        return None
    run_s = result.ended_at - result.started_at
    cycle_s = sum(profile.wait_s) / 2.0 + _mean_latency_ms(result) / 1000.0
    return _user_seconds(profile.users, profile.spawn_rate, result.warmup_s, run_s) / cycle_s


def _sent(result: LoadResult) -> int:
    """Requests sent: side by side, one set of users sends to both sides."""
    return result.requests + (result.against.requests if result.against is not None else 0)


def _mean_latency_ms(result: LoadResult) -> float:
    other = result.against
    if other is None or not other.requests:
        return result.mean_ms
    return (result.mean_ms * result.requests + other.mean_ms * other.requests) / (result.requests + other.requests)


def generator_issues(result: LoadResult, profile: LoadProfile) -> list[str]:
    """One sentence per sign that the load generator was the bottleneck; [] when it was healthy."""
    issues = []
    generator = result.generator
    cpu, peak = generator.get("cpu_percent"), generator.get("cpu_percent_peak")
    if cpu is not None and cpu >= CPU_SATURATED_PERCENT:
        issues.append(f"load generator CPU averaged {cpu:.0f}% of a core (saturated at >= {CPU_SATURATED_PERCENT:g}%)")
    elif (peak is not None and peak >= CPU_SATURATED_PERCENT) or generator.get("cpu_warning"):
        shown = f" (peak {peak:.0f}%)" if peak is not None else ""
        issues.append(f"load generator CPU hit its limit during the run{shown}")
    lag = (generator.get("loop_lag_ms") or {}).get("p95")
    if lag is not None and lag >= LOOP_LAG_LIMIT_MS:
        issues.append(
            f"load generator event loop ran {lag:.0f} ms late (p95, limit {LOOP_LAG_LIMIT_MS:g} ms): "
            "requests went out late and their latencies include its own queueing"
        )
    expected = expected_requests(result, profile)
    sent = _sent(result)
    if expected is not None and expected >= MIN_EXPECTED_REQUESTS and sent < SHORTFALL_RATIO * expected:
        asked = (
            f"{profile.rate:g} rps"
            if profile.rate is not None
            else f"{profile.users} users with {profile.wait_s[0]:g}-{profile.wait_s[1]:g}s waits"
        )
        issues.append(
            f"load generator sent {sent} requests where {asked} imply about {expected:.0f}: it could not keep up"
        )
    return issues


def rejected_reports_problem(result: LoadResult) -> str | None:
    """One line when the distributed master dropped worker reports that failed authentication
    (`generator.rejected_reports`): the gate merged none of their figures, so the result is not
    the whole load and must not be judged (the test ERRORs); None otherwise."""
    dropped = result.generator.get("rejected_reports") or 0
    if not dropped:
        return None
    return (
        f"{dropped} reports from an unauthenticated worker were dropped (a worker without the master's "
        "AKSLOAD_WORKER_TOKEN, or reports altered on the way): no verdict on a load the gate could not fully see"
    )


def doubt(verdicts: Sequence[SloVerdict], issues: Sequence[str]) -> list[SloVerdict]:
    """Every verdict made INCONCLUSIVE because of `issues` (unchanged when there are none)."""
    if not issues:
        return list(verdicts)
    reason = "untrustworthy measurement: " + "; ".join(issues)
    # More load from a struggling generator decides nothing: drop any "would decide it" estimate.
    # An objective that FAILed for want of anything to measure (no labels, no expectations, no
    # other side) stays FAIL: no healthier generator would have measured it.
    return [
        verdict
        if verdict.verdict == FAIL and math.isnan(verdict.measured)
        else replace(verdict, verdict=INCONCLUSIVE, reason=reason, more_requests=None, more_s=None, would_decide=None)
        for verdict in verdicts
    ]
