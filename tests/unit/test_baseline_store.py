"""Baselines without a run: the tolerance grammar and the saved file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_aksload.verdicts.baseline import parse_tolerances


def test_tolerance_grammar() -> None:
    parsed = parse_tolerances("p95=10%, p99.9=50ms,rps=5%,failure_rate=0.5pp")
    assert {name: (t.amount, t.unit) for name, t in parsed.items()} == {
        "p95": (0.10, "%"),
        "p99.9": (50.0, "ms"),
        "rps": (0.05, "%"),
        "failure_rate": (0.005, "pp"),
    }
    for bad in ("p95=10", "rps=5ms", "failure_rate=1%", "mean=10%", "p101=1%", ""):
        with pytest.raises(ValueError):
            parse_tolerances(bad)


def test_saving_keeps_other_tests_of_the_baseline(tmp_path: Path) -> None:
    from pytest_aksload.verdicts.baseline import save

    path = tmp_path / "b.json"
    entry = {"nodeid": "t.py::a", "profile": "p", "target": "x", "result": {"format": "stub"}}
    save(path, [entry])
    save(path, [{**entry, "nodeid": "t.py::b"}, {**entry, "nodeid": "t.py::c", "result": None}])
    assert sorted(json.loads(path.read_text())["tests"]) == ["t.py::a", "t.py::b"]
