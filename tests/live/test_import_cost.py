"""Every pytest session of an environment where the plugin is installed loads it: loading it, and a
session without load tests, import nothing heavy (each check in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "requests", "hdrh", "filelock", "locust", "gevent")

# What pytest imports to load the plugin, and what collection and settings need.
LIGHT_MODULES = (
    "pytest_aksload",
    "pytest_aksload.plugin",
    "pytest_aksload.config.settings",
    "pytest_aksload.config.profile",
    "pytest_aksload.config.objectives",
    "pytest_aksload.config.metrics",
    "pytest_aksload.config.tolerances",
    "pytest_aksload.config.capacity",
    "pytest_aksload.config.arrivals",
    "pytest_aksload.config.extras",
    "pytest_aksload.targets.resolve",
)


def _heavy_after(code: str) -> list[str]:
    report = f"import sys, json; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    run = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_loading_imports_nothing_heavy(module: str) -> None:
    """For pytest_aksload.plugin this is issue #12's check: its command prints []."""
    assert _heavy_after(f"import {module}") == []


def test_a_public_name_imports_only_what_it_needs() -> None:
    assert _heavy_after("from pytest_aksload import parse_slo, Slo, Target") == []
    assert "hdrh" in _heavy_after("from pytest_aksload import LoadResult")  # on first use, as asked
    assert "pandas" not in _heavy_after("from pytest_aksload import LoadResult, GatedResult, assert_slos")


CONFTEST = f"""
import json, sys
from pathlib import Path


def pytest_unconfigure(config):
    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
    Path(config.rootpath, "heavy.json").write_text(json.dumps(heavy))
"""


@pytest.mark.parametrize("options", [(), ("--aks-scoring-uri", "http://127.0.0.1:9/score")])
def test_a_session_without_load_tests_imports_nothing_heavy(
    pytester: pytest.Pytester, options: tuple[str, ...]
) -> None:
    """Through every hook (settings, collection, the run, the terminal summary, session finish),
    compared with the same session without the plugin: other installed plugins may import what they like."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_trivial="def test_trivial():\n    assert True\n")
    heavy = {}
    for plugin in ("aksload", "no:aksload"):
        flags = ("-p", plugin, *options) if plugin == "aksload" else ("-p", plugin)
        pytester.runpytest_subprocess("-p", "no:cacheprovider", *flags).assert_outcomes(passed=1)
        heavy[plugin] = set(json.loads((pytester.path / "heavy.json").read_text()))
    assert heavy["aksload"] - heavy["no:aksload"] == set()
