"""The public API: the names users import from `pytest_aksload`, resolved on first use."""

from __future__ import annotations

import importlib

import pytest

import pytest_aksload
from pytest_aksload.config.objectives import parse_slo


def test_all_lists_exactly_the_exported_names() -> None:
    assert set(pytest_aksload.__all__) == {"__version__", *pytest_aksload._EXPORTS}
    assert len(pytest_aksload.__all__) == len(set(pytest_aksload.__all__))


@pytest.mark.parametrize("name", sorted(pytest_aksload._EXPORTS))
def test_each_public_name_is_the_object_its_module_defines(name: str) -> None:
    module = importlib.import_module(pytest_aksload._EXPORTS[name])
    assert getattr(pytest_aksload, name) is getattr(module, name)
    assert name in dir(pytest_aksload)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from pytest_aksload import *", namespace)
    assert set(pytest_aksload.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'parse_slos_typo'"):
        _ = pytest_aksload.parse_slos_typo  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from pytest_aksload import LoadResults", {})


def test_a_test_body_can_judge_with_public_names_only() -> None:
    from pytest_aksload import SloViolation, assert_slos

    class Result:
        requests, failures, failure_rate, rps, mean_ms, max_ms = 100, 0, 0.0, 50.0, 120.0, 400.0

        def percentile(self, q: float) -> float:
            return 200.0

    assert [v.slo for v in assert_slos(["p95 < 300ms"], Result())] == [parse_slo("p95 < 300ms")]
    with pytest.raises(SloViolation, match="p95 < 100ms: measured 200.0ms"):
        assert_slos("p95 < 100ms", Result())


def test_examples_import_public_names_only() -> None:
    """conftest_example.py and the example gates are what users copy: no private module paths."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [root / "conftest_example.py", *sorted((root / "examples").rglob("*.py"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(("from pytest_aksload", "import pytest_aksload")):
                public = line.startswith("from pytest_aksload import ") or line == "import pytest_aksload"
                assert public, f"{path.name}: {line}"
