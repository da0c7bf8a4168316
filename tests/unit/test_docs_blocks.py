"""The docs cannot rot: what can be checked without running anything (tests/live/test_docs_gates.py
collects and runs the gates). Every Python block compiles, every YAML block parses, every ini/toml
block names only keys the plugin or pytest knows, every `--aks-…` flag a page shows exists, the
Reference's tables list exactly the options and marker arguments the code defines, and the README
stays short and points into the docs."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

import pytest
import yaml
from docs_blocks import DOCS, README, REPO, all_blocks, configs, gates, pages

import pytest_aksload.plugin
from pytest_aksload.config.options import OPTIONS
from pytest_aksload.config.profile import ACCEPTED_ARGUMENTS

REFERENCE = DOCS / "reference.md"
# pytest's own ini keys a docs config may set besides the plugin's (the live test runs them with
# --strict-config, which knows the full list).
PYTEST_INI_KEYS = {"addopts", "testpaths", "markers", "junit_family", "xfail_strict", "filterwarnings"}
_FLAG = re.compile(r"--(?:aks|aml)-[a-z-]+[a-z]")


def _blocks(lang: str) -> list:
    return [b for b in all_blocks() if b.lang == lang and b.not_tested is None]


def test_the_docs_have_the_blocks_a_reader_copies_and_every_exception_says_why() -> None:
    blocks = all_blocks()
    skipped = [b for b in blocks if b.not_tested is not None]
    # Counted, so a page that turns its blocks off cannot go unnoticed.
    print(f"{len(blocks)} blocks, {len(gates())} gates, {len(configs())} configs, {len(skipped)} not tested")
    assert len(gates()) >= 15, [b.where for b in gates()]
    assert {b.page for b in gates()} >= {
        "README.md",
        "docs/getting-started.md",
        "docs/writing-gates.md",
        "docs/contracts.md",
    }
    assert all(b.not_tested.strip() for b in skipped)
    assert len(skipped) <= 2, [f"{b.where}: {b.not_tested}" for b in skipped]


@pytest.mark.parametrize("block", _blocks("python"), ids=lambda b: b.where)
def test_python_blocks_compile(block) -> None:
    compile(block.text, block.where, "exec")


@pytest.mark.parametrize("block", _blocks("yaml"), ids=lambda b: b.where)
def test_yaml_blocks_parse(block) -> None:
    documents = [doc for doc in yaml.safe_load_all(block.text) if doc is not None]
    assert documents and all(isinstance(doc, dict) for doc in documents), block.where


@pytest.mark.parametrize("block", _blocks("ini"), ids=lambda b: b.where)
def test_ini_blocks_set_only_known_keys(block) -> None:
    parser = configparser.ConfigParser()
    parser.read_string(block.text)
    sections = [s for s in parser.sections() if s in ("pytest", "tool:pytest")]
    assert sections, f"{block.where}: no [pytest] or [tool:pytest] section"
    plugin_keys = {option.name for option in OPTIONS}
    for section in sections:
        unknown = set(parser[section]) - plugin_keys - PYTEST_INI_KEYS
        assert not unknown, f"{block.where}: unknown ini keys {sorted(unknown)}"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
@pytest.mark.parametrize("block", _blocks("toml"), ids=lambda b: b.where)
def test_toml_blocks_set_only_known_keys(block) -> None:
    import tomllib

    table = tomllib.loads(block.text)["tool"]["pytest"]["ini_options"]
    unknown = set(table) - {option.name for option in OPTIONS} - PYTEST_INI_KEYS
    assert not unknown, f"{block.where}: unknown ini keys {sorted(unknown)}"
    assert all(isinstance(value, str) for value in table.values()), "pytest reads plugin ini keys as strings"


def test_every_flag_the_docs_show_exists() -> None:
    flags = {option.flag for option in OPTIONS if option.cli}
    unknown = {
        f"{path.relative_to(REPO)}: {flag}"
        for path in pages()
        for flag in _FLAG.findall(path.read_text(encoding="utf-8"))
        if flag not in flags
    }
    assert not unknown, sorted(unknown)


def _table_rows(page: str, header: str) -> list[str]:
    """The first cells of the Markdown table whose header row starts with `header`."""
    table = page[page.index(header) :].split("\n\n", 1)[0]
    return [row.split(" | ")[0].removeprefix("| ") for row in table.splitlines()[2:]]


def test_the_reference_lists_every_option_with_its_ini_key_and_default() -> None:
    page = REFERENCE.read_text(encoding="utf-8")
    table = page[page.index("| option / ini key |") :].split("\n\n", 1)[0]
    rows = {}
    for row in table.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        rows[cells[0]] = cells[-1]
    expected = {}
    for option in OPTIONS:
        if option.cli:
            flag = option.flag + (f" {option.metavar}" if option.metavar else "")
            expected[f"`{flag}` / `{option.name}`"] = option
        else:
            expected[f"ini `{option.name}`"] = option
    assert set(rows) == set(expected), (sorted(set(expected) - set(rows)), sorted(set(rows) - set(expected)))
    for first, option in expected.items():
        if option.default is None:
            continue
        shown = f"{option.default:g}" if isinstance(option.default, (int, float)) else option.default
        assert shown in rows[first], f"{first}: default {option.default!r} not in {rows[first]!r}"


def test_the_reference_lists_every_marker_argument() -> None:
    page = REFERENCE.read_text(encoding="utf-8")
    names = [cell.strip("`").split("=")[0] for cell in _table_rows(page, "| marker argument |")]
    assert sorted(names) == sorted(ACCEPTED_ARGUMENTS)


def _plugin_fixtures() -> set[str]:
    """The public fixtures plugin.py defines (a leading underscore marks the plugin's own plumbing)."""
    tree = ast.parse(Path(pytest_aksload.plugin.__file__).read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and not node.name.startswith("_")
        and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
    }


def test_the_fixtures_table_lists_every_fixture() -> None:
    page = (DOCS / "writing-gates.md").read_text(encoding="utf-8")
    table = page[page.index("| fixture |") :].split("\n\n", 1)[0]
    rows = {row.split(" | ")[0].removeprefix("| ").strip("`"): row for row in table.splitlines()[2:]}
    # The one fixture a user defines for the plugin to read.
    assert "| yours |" in rows.pop("aks_expected_predictions")
    assert set(rows) == _plugin_fixtures()


def test_the_ci_page_shows_the_tested_azure_pipelines_recipe() -> None:
    recipe = (REPO / "examples" / "ci" / "azure-pipelines.yml").read_text(encoding="utf-8")
    shown = [b for b in all_blocks() if b.page == "docs/ci.md" and b.lang == "yaml"]
    assert any(b.text == recipe for b in shown), "docs/ci.md does not include examples/ci/azure-pipelines.yml"
    assert '--8<-- "examples/ci/azure-pipelines.yml"' in (DOCS / "ci.md").read_text(encoding="utf-8")


def test_the_readme_is_short_and_links_into_the_docs() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < 12_000
    links = re.findall(r"\]\((docs/[\w/.-]+\.md)(?:#([\w-]+))?\)", text)
    assert {"docs/getting-started.md", "docs/reference.md", "docs/troubleshooting.md"} <= {page for page, _ in links}
    missing = [page for page, _ in links if not (REPO / page).is_file()]
    assert not missing, missing
    # The README is not built by MkDocs, so its anchors are checked here, slugged as the site does.
    slugify = pytest.importorskip("markdown.extensions.toc").slugify
    for page, anchor in links:
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (REPO / page).read_text(encoding="utf-8"), re.M)
            assert anchor in {slugify(h.replace("`", ""), "-") for h in headings}, f"{page}#{anchor}"
