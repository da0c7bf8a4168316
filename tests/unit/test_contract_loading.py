"""`load_contract`: built-in names, `module:Name`, `path/to/file.py:Name` relative to the test
file's folder, and a one-line error (no traceback) naming the spec for anything broken."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_aksload.contracts import ContractError, decode_predictions, load_contract, resolve_spec

CONTRACT_SOURCE = '''
import json
from pytest_aksload.contracts import ContractError

class Scores:
    """Sends {"instances": rows}, reads {"scores": [...]}."""
    name = "scores"

    def encode(self, rows):
        return json.dumps({"instances": list(rows)}).encode()

    def decode(self, status, headers, body):
        data = json.loads(body)
        if "scores" not in data:
            raise ContractError("no scores in response")
        return data["scores"]

instance = Scores()
'''


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "my_contract.py").write_text(CONTRACT_SOURCE)
    return folder / "my_contract.py"


def test_builtin_names_load_fresh_instances() -> None:
    assert load_contract("mlflow").name == "mlflow"
    assert load_contract(" open-inference ") is not load_contract("open-inference")


def test_a_file_relative_to_the_test_folder(contract_file: Path) -> None:
    contract = load_contract("contracts/my_contract.py:Scores", base_dir=contract_file.parent.parent)
    assert contract.name == "scores" and contract.content_type == "application/json"
    assert json.loads(contract.encode([{"a": 1}])) == {"instances": [{"a": 1}]}
    assert decode_predictions(contract, 200, {}, b'{"scores": [0.5]}', rows=1) == [0.5]
    with pytest.raises(ContractError, match="^no scores in response$"):
        decode_predictions(contract, 200, {}, b"{}", rows=1)


def test_an_instance_and_an_absolute_path(contract_file: Path) -> None:
    contract = load_contract(f"{contract_file}:instance", base_dir="/nonexistent")
    assert contract.name == "scores"


def test_a_module_on_the_path_and_a_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "team_contracts.py").write_text(
        "class Plain:\n    def encode(self, rows):\n        return b'[]'\n"
        "    def decode(self, status, headers, body):\n        return [1.0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        contract = load_contract("team_contracts:Plain")
        assert contract.name == "team_contracts:Plain" and contract.content_type == "application/json"
    finally:
        sys.modules.pop("team_contracts", None)


def test_resolve_spec_makes_paths_absolute_for_the_child(contract_file: Path) -> None:
    base = contract_file.parent.parent
    assert resolve_spec("contracts/my_contract.py:Scores", base) == f"{contract_file}:Scores"
    assert resolve_spec("mlflow", base) == "mlflow"
    assert resolve_spec("team_contracts:Plain", base) == "team_contracts:Plain"


BROKEN = [
    ("unknown name", "tensorflow-serving", "unknown contract 'tensorflow-serving'"),
    ("empty", "", "contract must be"),
    ("missing file", "nowhere.py:C", "contract 'nowhere.py:C': no file '"),
    (
        "missing module",
        "no_such_module_xyz:C",
        "contract 'no_such_module_xyz:C': importing 'no_such_module_xyz' failed: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'",
    ),
    ("missing attribute", "contracts/my_contract.py:Nope", "contract 'contracts/my_contract.py:Nope': "),
    ("syntax error", "contracts/broken.py:C", "importing 'contracts/broken.py' failed: SyntaxError: "),
    ("raises on import", "contracts/raises.py:C", "importing 'contracts/raises.py' failed: RuntimeError: no GPU here"),
    ("no methods", "contracts/empty.py:C", "C has no encode or decode method"),
    ("constructor fails", "contracts/needs_args.py:C", "C() failed: TypeError: "),
    ("bad attribute name", "contracts/my_contract.py:1x", "unknown contract"),
]


@pytest.mark.parametrize(("spec", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_specs_are_one_line_errors_naming_the_spec(contract_file: Path, spec: str, message: str) -> None:
    folder = contract_file.parent
    (folder / "broken.py").write_text("class C(:\n")
    (folder / "raises.py").write_text("raise RuntimeError('no GPU here')\n")
    (folder / "empty.py").write_text("class C:\n    pass\n")
    (folder / "needs_args.py").write_text(
        "class C:\n    def __init__(self, url):\n        pass\n    def encode(self, rows): ...\n"
        "    def decode(self, s, h, b): ...\n"
    )
    with pytest.raises(ContractError) as info:
        load_contract(spec, base_dir=folder.parent)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text and "Traceback" not in text
    assert "a built-in name (azureml, mlflow, azureml-mlflow, open-inference)" in text
    assert info.value.kind == "usage"
