"""`--aks-inconclusive=extend`: keep loading until every SLO verdict is decided, up to `max_duration=`.

The first run is extended by further runs of the same profile (each at most `duration=` long,
together at most `max_duration=`), and the results are merged: the histograms are exact and
mergeable, so the merged result is the one a single longer run would have measured, except that
each extra run ramps its users up again (its warm-up, the first run's cut, is left out).
Extending stops as soon as nothing is INCONCLUSIVE, or something FAILed (more load cannot
un-fail it), or an abort_on rule fired.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pytest_aksload.decision import judge, undecided
from pytest_aksload.histograms import Latencies
from pytest_aksload.profile import LoadProfile
from pytest_aksload.results import LoadResult

MAX_WARNINGS = 20
# A piece shorter than this adds too few requests to be worth a generator start-up.
MIN_PIECE_S = 2.0


def _merged_stats(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    latencies = Latencies.from_dict(a)
    latencies.add(Latencies.from_dict(b))
    return {**latencies.to_dict(), "failures": a["failures"] + b["failures"]}


def merge_results(first: LoadResult, more: LoadResult) -> LoadResult:
    """One result holding the measured parts of both runs (`more` is placed after `first`)."""
    a, b = first.to_dict(), more.to_dict()
    data = copy.deepcopy(a)
    data.pop("summary", None)
    data["ended_at"] = first.ended_at + more.duration_s
    data["complete"] = a["complete"] and b["complete"]
    data["users_peak"] = max(a["users_peak"], b["users_peak"])
    data["total"] = _merged_stats(a["total"], b["total"])
    for name, stats in b["endpoints"].items():
        mine = data["endpoints"].get(name)
        data["endpoints"][name] = stats if mine is None else _merged_stats(mine, stats)
    counts = {(e["kind"], e["status"], e["message"]): e["count"] for e in a["errors"]}
    for e in b["errors"]:
        key = (e["kind"], e["status"], e["message"])
        counts[key] = counts.get(key, 0) + e["count"]
    data["errors"] = [
        {"kind": kind, "status": status, "message": message, "count": count}
        for (kind, status, message), count in sorted(counts.items(), key=lambda item: -item[1])
    ]
    # The measured windows of `more` continue the timeline at the next window slot.
    next_index = len(a["windows"])
    for offset, window in enumerate(more.measured_windows()):
        index = next_index + offset
        data["windows"].append({**window, "index": index, "start_offset_s": round(index * first.window_s, 6)})
    generator, other = data["generator"], b["generator"]
    for key in ("cpu_percent", "cpu_percent_peak"):
        values = [v for v in (generator.get(key), other.get(key)) if v is not None]
        generator[key] = max(values) if values else None
    generator["cpu_warning"] = bool(generator.get("cpu_warning") or other.get("cpu_warning"))
    generator["warnings"] = list(dict.fromkeys(generator.get("warnings", []) + other.get("warnings", [])))[
        :MAX_WARNINGS
    ]
    data["generator_issues"] = list(dict.fromkeys(first.generator_issues + more.generator_issues))
    data["extended_by_s"] = round(a.get("extended_by_s", 0.0) + more.ended_at - more.started_at, 3)
    if more.aborted is not None:
        data["aborted"] = more.aborted
    return LoadResult.from_dict(data)


def until_decided(
    result: LoadResult, profile: LoadProfile, run_more: Callable[[LoadProfile], LoadResult]
) -> LoadResult:
    """Extend `result` with `run_more(piece_profile)` runs while its verdicts are undecided."""
    assert profile.max_duration_s is not None
    spent = result.ended_at - result.started_at
    while undecided(judge(profile, result)) and result.aborted is None:
        piece = min(profile.duration_s, profile.max_duration_s - spent)
        warmup = min(result.warmup_s, piece / 2)
        if piece - warmup < MIN_PIECE_S:
            break
        more = run_more(replace(profile, duration_s=piece, warmup_s=warmup, warmup_auto=False))
        spent += more.ended_at - more.started_at
        result = merge_results(result, more)
    return result
