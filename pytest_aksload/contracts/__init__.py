"""Contracts: how sample rows become a request body and a response becomes predictions.

A contract of your own (docs/contracts.md) is any object with `encode(rows) -> bytes` and
`decode(status, headers, body) -> predictions` (the `Contract` protocol); it raises
`ContractError` for an answer it cannot read and may encode with `dump_json`.
`OpenInferenceContract(output=...)` reads a V2 prediction output of another name.
"""

# The rest is the plugin's own, imported from the package by its modules (hence noqa: F401; not
# in __all__): the built-ins (`BUILTIN_CONTRACTS`): `azureml` (the default), `mlflow`,
# `azureml-mlflow`, `open-inference`; a user contract is loaded from `module:Name` or
# `path/to/file.py:Name` by `load_contract`. `encode_batches` encodes a run's bodies once;
# `decode_predictions` is the one call that turns a response into predictions (status kinds,
# count and number checks); `pytest_aksload.stats.correctness` tallies them against expectations.
# Stdlib only: the Locust child imports this package.
from pytest_aksload.contracts.base import Contract, ContractError, dump_json
from pytest_aksload.contracts.batches import EncodedBatch, encode_batches  # noqa: F401
from pytest_aksload.contracts.decoding import decode_predictions  # noqa: F401
from pytest_aksload.contracts.loader import (  # noqa: F401
    BUILTIN_CONTRACTS,
    DEFAULT_CONTRACT,
    load_contract,
    resolve_spec,
)
from pytest_aksload.contracts.open_inference import OpenInferenceContract
from pytest_aksload.contracts.status import (  # noqa: F401
    DEPLOYMENT_HEADER,
    FAILURE_KINDS,
    check_routing,
    failure_kind_of_status,
)

__all__ = ["Contract", "ContractError", "OpenInferenceContract", "dump_json"]
