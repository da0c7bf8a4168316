"""The gates and configs the docs show work as shown (the blocks come from tests/docs_blocks.py).

Every gate of docs/**/*.md and the README is collected by a real inner pytest next to the contract
and conftest files the pages show: collection validates every marker argument, SLO string and
contract, so a block with a wrong objective or argument fails here. Every ini/toml block is loaded
as a project's configuration with `--strict-config`: an unknown key or a value the plugin refuses
fails. And the Getting-started gate runs, unchanged, against the embedded local service.
"""

from __future__ import annotations

import json
import re

import pytest
from docs_blocks import DOCS, configs, gates, write_gate_project


def test_every_gate_in_the_docs_is_collected_with_valid_arguments(pytester: pytest.Pytester) -> None:
    written = write_gate_project(pytester.path, gates())
    run = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider", *written, timeout=120)
    output = run.stdout.str()
    assert run.ret == 0, output
    for name, block in written.items():
        assert f"{name}::test_" in output, f"{block.where} ({name}) collected no test:\n{output}"


@pytest.mark.parametrize("block", configs(), ids=lambda b: b.where)
def test_every_config_in_the_docs_is_accepted(pytester: pytest.Pytester, block) -> None:
    if block.lang == "toml":
        pytester.makefile(".toml", pyproject=block.text)
    elif "[tool:pytest]" in block.text:
        pytester.makefile(".cfg", setup=block.text)
    else:
        pytester.makefile(".ini", tox=block.text)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    run = pytester.runpytest_subprocess("--strict-config", "-p", "no:cacheprovider", timeout=120)
    assert run.ret == 0, run.stdout.str() + run.stderr.str()
    run.assert_outcomes(passed=1)


def test_the_getting_started_gate_passes_against_the_local_service(pytester: pytest.Pytester) -> None:
    pytest.importorskip("azureml_inference_server_http")
    pytest.importorskip("lightgbm")
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    first = [block for block in gates() if block.page == "docs/getting-started.md"]
    assert len(first) == 1, [block.where for block in first]
    # Alone, as the page has it: the contracts page's conftest would bring expectations of its own.
    write_gate_project(pytester.path, first, support=False)
    # The page's own command, as a reader types it.
    assert "pytest gates --aks-local" in page
    run = pytester.runpytest_subprocess(
        "gates", "--aks-local", "--aks-report", "report", "-p", "no:cacheprovider", timeout=180
    )
    run.assert_outcomes(passed=1)
    # Each objective the page names was judged, and met.
    (test,) = json.loads((pytester.path / "report" / "summary.json").read_text())["tests"]
    named = re.findall(r'"([a-z0-9_.]+ [<>=]+ [^"]+)"', first[0].text)
    assert [(slo["objective"], slo["verdict"]) for slo in test["slos"]] == [(o, "PASS") for o in named]
