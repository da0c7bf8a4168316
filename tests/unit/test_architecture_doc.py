"""docs/architecture.md is the map of the package: every module is on it, and nothing on it is gone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest_aksload

PACKAGE = Path(pytest_aksload.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"


def _modules() -> set[str]:
    """Module paths relative to the package; a subpackage's empty `__init__.py` is not a module of its own."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    }


def _listed(doc: str) -> set[str]:
    """Every module the doc's table names: `config/units.py` in a row's first cell, and the files a
    folder's row names in its text (`local/` rows list `service.py`, ...)."""
    listed = set()
    for row in re.findall(r"^\| `([^`]+)` \|(.*)\|$", doc, re.M):
        first, rest = row
        if first.endswith(".py"):
            listed.add(first)
        elif first.endswith("/"):
            listed.update(f"{first}{name}" for name in re.findall(r"`([\w]+\.py)`", rest))
    return listed


def test_every_module_is_on_the_map_and_nothing_on_it_is_gone() -> None:
    doc = DOC.read_text(encoding="utf-8")
    modules = _modules()
    listed = _listed(doc)
    unlisted = modules - listed
    assert not unlisted, f"modules missing from docs/architecture.md: {sorted(unlisted)}"
    gone = {m for m in listed if m not in modules}
    assert not gone, f"docs/architecture.md lists modules that do not exist: {sorted(gone)}"
