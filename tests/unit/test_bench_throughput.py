"""bench/throughput.py's arithmetic: the t quantile behind its intervals, and which variant each
logged answer is counted for (the bench itself needs nginx and minutes: not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize(("df", "table"), [(10, 2.2281), (20, 2.0860), (30, 2.0423), (200, 1.9719)])
def test_t_quantile_matches_the_table(bench, df: int, table: float) -> None:
    assert bench._t_quantile(0.975, df) == pytest.approx(table, abs=1e-3)


def test_answers_belong_to_the_slice_running_when_they_were_logged(bench) -> None:
    """An answer logged after a variant was held (its last in-flight requests) is still its own,
    up to the next variant's resume."""
    a = bench.Slice("plugin", 0, start=10.0, stop=12.0, cpu_s=0.2)
    b = bench.Slice("locust", 0, start=12.05, stop=14.05, cpu_s=0.1)
    stamps = np.array([9.9, 10.0, 11.0, 12.01, 12.05, 13.0, 14.06, 14.2])
    bench._count([b, a], stamps)
    assert (a.requests, b.requests) == (3, 3)  # 14.2 is after the last slice and its settling time
    assert a.us_per_request == pytest.approx(1e6 * 0.2 / 3)


def test_ratio_summary_interval_holds_the_mean_and_widens_with_spread(bench) -> None:
    tight = bench.ratio_summary([0.9, 0.91, 0.89, 0.9, 0.9])
    wide = bench.ratio_summary([0.7, 1.1, 0.8, 1.0, 0.9])
    low, high = (float(x) for x in tight.split("[")[1].split("]")[0].split(","))
    assert low < 0.9 < high
    wide_low, wide_high = (float(x) for x in wide.split("[")[1].split("]")[0].split(","))
    assert wide_high - wide_low > high - low
