"""Which contract a test uses: a built-in name, `module:Name` or `path/to/file.py:Name`.

A user contract is any object with `encode(rows) -> bytes` and `decode(status, headers, body) ->
list[float]` (see `contracts.base.Contract`); when `Name` is a class it is instantiated with no
arguments. Its `name` defaults to the spec and its `content_type` to `application/json`. The
same spec is loaded in the pytest process (collection, pre-flight) and in the Locust child, so
a path is resolved against `base_dir` (the test file's folder, like `locustfile=`) before it is
handed to the child.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_aksload.contracts.azureml import AzureMLContract
from pytest_aksload.contracts.base import Contract, ContractError, bounded
from pytest_aksload.contracts.mlflow import AzureMLMlflowContract, MlflowContract
from pytest_aksload.contracts.open_inference import OpenInferenceContract
from pytest_aksload.defaults import DEFAULT_CONTRACT as DEFAULT_CONTRACT

BUILTIN_CONTRACTS: dict[str, Callable[[], Contract]] = {
    "azureml": AzureMLContract,
    "mlflow": MlflowContract,
    "azureml-mlflow": AzureMLMlflowContract,
    "open-inference": OpenInferenceContract,
}

ACCEPTED_FORMS = f"a built-in name ({', '.join(BUILTIN_CONTRACTS)}), 'module:Name' or 'path/to/file.py:Name'"


def load_contract(spec: str, base_dir: Path | str = ".") -> Contract:
    """The contract `spec` names, ready to use; `ContractError` (one line naming `spec` and the
    accepted forms, no traceback) when it is unknown or broken."""
    if not isinstance(spec, str) or not spec.strip():
        raise ContractError(f"contract must be {ACCEPTED_FORMS}, not {spec!r}", kind="usage")
    spec = spec.strip()
    if spec in BUILTIN_CONTRACTS:
        return BUILTIN_CONTRACTS[spec]()
    where, sep, attribute = spec.rpartition(":")
    if not sep or not where or not attribute.isidentifier():
        raise ContractError(f"unknown contract {spec!r}; expected {ACCEPTED_FORMS}", kind="usage")
    module = _import(spec, where, Path(base_dir))
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise _broken(spec, f"{where} has no {attribute!r}") from None
    try:
        contract = found() if isinstance(found, type) else found
    except Exception as exc:
        raise _broken(spec, f"{attribute}() failed: {_describe(exc)}") from None
    missing = [method for method in ("encode", "decode") if not callable(getattr(contract, method, None))]
    if missing:
        raise _broken(spec, f"{attribute} has no {' or '.join(missing)} method")
    return UserContract(contract, spec)


class UserContract:
    """A user's contract object seen through the `Contract` protocol: its `name` (else the spec)
    and `content_type` (else JSON), its own `encode` and `decode`."""

    def __init__(self, contract: Any, spec: str) -> None:
        self.contract = contract
        name = getattr(contract, "name", None)
        content_type = getattr(contract, "content_type", None)
        self.name = name if isinstance(name, str) and name else spec
        self.content_type = content_type if isinstance(content_type, str) and content_type else "application/json"
        self.encode = contract.encode
        self.decode = contract.decode


def resolve_spec(spec: str, base_dir: Path | str) -> str:
    """`spec` with a relative file path made absolute against `base_dir`, for the child process."""
    where, sep, attribute = spec.rpartition(":")
    if sep and _is_path(where) and not Path(where).is_absolute():
        return f"{(Path(base_dir) / where).resolve()}:{attribute}"
    return spec


def _import(spec: str, where: str, base_dir: Path) -> Any:
    try:
        if not _is_path(where):
            return importlib.import_module(where)
        file = (base_dir / where).expanduser().resolve()
        if not file.is_file():
            raise _broken(spec, f"no file {str(file)!r}")
        # One module per file, named after its path, so two contracts named alike do not collide.
        name = f"_aksload_contract_{hashlib.sha1(str(file).encode()).hexdigest()[:12]}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, file)
        if module_spec is None or module_spec.loader is None:
            raise _broken(spec, f"{str(file)!r} is not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except ContractError:
        raise
    except Exception as exc:  # the user's module failed to import: its error, without the traceback
        raise _broken(spec, f"importing {where!r} failed: {_describe(exc)}") from None


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _broken(spec: str, problem: str) -> ContractError:
    return ContractError(f"contract {spec!r}: {problem}; expected {ACCEPTED_FORMS}", kind="usage")


def _describe(exc: BaseException) -> str:
    message = bounded(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
