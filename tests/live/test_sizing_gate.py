"""Sizing of a capacity search (`peak=`, `headroom`/`instances_needed` objectives): one inner pytest
run against the loopback service of test_capacity.py, whose capacity is bounded by construction
(4 slots x 40 ms: about 100 requests per second, no more), on a stated single instance.

The objectives are chosen so the bound decides them whatever the host: a peak of 100000 rps is
far above any capacity this service can give (headroom < 0.01 FAILs `headroom >= 1.5`), and any
capacity above 0.15 rps needs fewer than 1000000 instances (`instances_needed <= 1000000` PASSes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from loopback_servers import ScoringServer

from pytest_aksload.verdicts.gated import GatedResult

SLOTS, SERVICE_S = 4, 0.04  # test_capacity.py's service: about 100 requests per second, no more
PEAK = 100_000


def test_a_capacity_search_sizes_the_deployment_for_the_peak_and_gates_on_it(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESULT_DUMP", str(tmp_path / "result.json"))
    pytester.makepyfile(
        f"""
        import os, pytest

        @pytest.mark.load_test(
            capacity={{"start": 20, "step": "2s", "hold": "3s", "precision": 0.5, "max_duration": "40s"}},
            slo=["p95 < 200ms", "headroom >= 1.5", "instances_needed <= 1000000"],
            timeout="2s",
            peak="{PEAK}/s",
        )
        def test_sized(load_result):
            with open(os.environ["RESULT_DUMP"], "w") as out:
                out.write(load_result.to_json())
        """
    )
    with ScoringServer(delays_s=(SERVICE_S,), slots=SLOTS) as server:
        run = pytester.runpytest_subprocess(
            "--aks-scoring-uri", server.url, "--aks-deployment-settings", "instances=1, max_concurrent=4",
            "--aks-report", "report", "-p", "no:cacheprovider", timeout=150,
        )  # fmt: skip
    run.assert_outcomes(failed=1)
    run.stdout.re_match_lines([r"headroom >= 1\.5 +0\.0\d* .* FAIL$", r"instances_needed <= 1000000 +\d+ .* PASS$"])
    result = GatedResult.from_dict(json.loads((tmp_path / "result.json").read_text()))
    sizing = result.sizing
    assert sizing is not None and result.capacity_rps is not None and result.capacity_rps > 0
    # One stated instance: its capacity is the whole capacity, and both formulas use its numbers.
    assert sizing.instances == 1 and result.per_instance_rps == sizing.per_instance_rps == result.capacity_rps
    assert sizing.peak_rps == PEAK and sizing.utilization == 0.70 and sizing.headroom < 0.01
    assert sizing.instances_needed == math.ceil(PEAK / (result.capacity_rps * 0.7))
    assert sizing.max_concurrent_per_instance == 4 and sizing.mean_ms == pytest.approx(result.mean_ms)
    assert sizing.concurrency_instances == math.ceil(PEAK * result.mean_ms / 1000 / 0.7 / 4)
    (test,) = json.loads((pytester.path / "report" / "summary.json").read_text())["tests"]
    assert test["sizing"]["instances_needed"] == sizing.instances_needed
    assert [s["verdict"] for s in test["slos"]][1:] == ["FAIL", "PASS"]
    page = (pytester.path / "report" / "report.html").read_text()
    assert "sizing: Capacity" in page and "knee (capacity)" in page
