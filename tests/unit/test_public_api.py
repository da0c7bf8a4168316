"""The public API: the names users import from `pytest_aksload` (resolved on first use) and from the
three public submodules, each listed in its `__all__`, in the Reference's table, and nothing else
imported by what the docs and examples show."""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from pathlib import Path

import pytest

import pytest_aksload
from pytest_aksload.config.objectives import parse_slo

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_MODULES = ("pytest_aksload", "pytest_aksload.child", "pytest_aksload.contracts", "pytest_aksload.data.criteo")
# Imported by a page without being an API: docs/performance.md times how long loading the plugin takes.
NOT_AN_API = {"pytest_aksload.plugin"}

_IMPORT = re.compile(
    r"\bfrom\s+(?P<module>pytest_aksload(?:\.\w+)*)\s+import\s+(?P<names>\([^)]*\)|[\w ]+(?:,[ \t]*[\w ]+)*)"
    r"|\bimport\s+(?P<whole>pytest_aksload(?:\.\w+)*)"
)


def _documents() -> list[Path]:
    """What users read and copy: the README, the docs pages, the examples and the conftest to copy."""
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "conftest_example.py",
        *sorted((ROOT / "examples").rglob("*.py")),
    ]


def documented_imports(text: str) -> list[tuple[str, str | None]]:
    """`(module, name)` of each `from module import name` in `text` (code blocks, inline code,
    docstrings alike), `(module, None)` of each `import module`."""
    found: list[tuple[str, str | None]] = []
    for match in _IMPORT.finditer(text):
        if match["whole"]:
            found.append((match["whole"], None))
            continue
        for part in match["names"].strip("()").split(","):
            name = part.split(" as ")[0].strip()
            if name.isidentifier():
                found.append((match["module"], name))
    return found


def _public_table() -> dict[str, set[str]]:
    """The Reference's "Public API" table: module -> the names it lists."""
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text.split("\n## Public API\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for row in re.findall(r"^\| `(pytest_aksload[\w.]*)` \|.*\| (.*) \|$", section, flags=re.MULTILINE):
        module, names = row
        table[module] = set(re.findall(r"`(\w+)`", names))
    return table


def test_all_lists_exactly_the_exported_names() -> None:
    assert set(pytest_aksload.__all__) == {"__version__", *pytest_aksload._EXPORTS}
    assert len(pytest_aksload.__all__) == len(set(pytest_aksload.__all__))


@pytest.mark.parametrize("name", sorted(pytest_aksload._EXPORTS))
def test_each_public_name_is_the_object_its_module_defines(name: str) -> None:
    module = importlib.import_module(pytest_aksload._EXPORTS[name])
    assert getattr(pytest_aksload, name) is getattr(module, name)
    assert name in dir(pytest_aksload)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_exists_and_the_reference_lists_exactly_them(module_name: str) -> None:
    module = importlib.import_module(module_name)
    public = set(module.__all__)
    assert len(module.__all__) == len(public), f"{module_name}.__all__ repeats a name"
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
    assert _public_table().get(module_name) == public, f"docs/reference.md 'Public API', row {module_name}"


def test_the_reference_table_names_only_the_public_modules() -> None:
    assert set(_public_table()) == set(PUBLIC_MODULES)


def test_every_import_the_docs_and_examples_show_is_public() -> None:
    shown = 0
    for path in _documents():
        for module, name in documented_imports(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(ROOT)}: {module}" + (f" import {name}" if name else "")
            shown += 1
            if name is None:
                assert module in PUBLIC_MODULES or module in NOT_AN_API, where
            else:
                assert module in PUBLIC_MODULES, where
                public = importlib.import_module(module).__all__
                assert name in public or f"{module}.{name}" in PUBLIC_MODULES, where
    assert shown >= 5  # the reader finds the imports at all (custom locustfile, contracts, conftest)


ROOT_API, CONTRACTS, CRITEO = "pytest_aksload", "pytest_aksload.contracts", "pytest_aksload.data.criteo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from pytest_aksload import child\n\nclass User: ...", [(ROOT_API, "child")]),
        ("`from pytest_aksload import\nSlo, parse_slo, ...`", [(ROOT_API, "Slo"), (ROOT_API, "parse_slo")]),
        ("from pytest_aksload.contracts import (\n    ContractError,\n    dump_json,\n)",
         [(CONTRACTS, "ContractError"), (CONTRACTS, "dump_json")]),
        ("from pytest_aksload.data.criteo import payload_from_row as row  # the demo", [(CRITEO, "payload_from_row")]),
        ('python -c "import pytest_aksload.plugin, sys"', [("pytest_aksload.plugin", None)]),
        ("python -m pytest_aksload.local serve", []),
    ],
)  # fmt: skip
def test_the_scan_finds_imports_in_code_prose_and_commands(text: str, expected: list[tuple[str, str | None]]) -> None:
    assert documented_imports(text) == expected


def test_the_load_result_fixture_gives_a_public_type() -> None:
    """A test that annotates `load_result` imports its type from the root."""
    tree = ast.parse((ROOT / "pytest_aksload" / "plugin.py").read_text(encoding="utf-8"))
    fixture = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "load_result")
    assert isinstance(fixture.returns, ast.Name)
    returned = fixture.returns.id
    assert returned in pytest_aksload.__all__
    home = next(
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and any(alias.name == returned for alias in node.names)
    )
    assert getattr(pytest_aksload, returned) is getattr(importlib.import_module(str(home)), returned)


@pytest.mark.parametrize("name", ["load_sample", "payload_from_row"])
def test_a_criteo_helper_from_the_root_still_works_with_a_warning_naming_its_home(name: str) -> None:
    from pytest_aksload.data import criteo

    with pytest.warns(DeprecationWarning, match=rf"`from pytest_aksload\.data\.criteo import {name}`"):
        assert getattr(pytest_aksload, name) is getattr(criteo, name)
    assert name not in pytest_aksload.__all__ and name not in dir(pytest_aksload)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the moved names are not part of it
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
