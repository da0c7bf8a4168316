"""Contracts: how sample rows become a request body and a response becomes predictions.

Built-ins (`BUILTIN_CONTRACTS`): `azureml` (the default), `mlflow`, `azureml-mlflow`,
`open-inference`; a user contract is loaded from `module:Name` or `path/to/file.py:Name` by
`load_contract`. `encode_batches` encodes a run's bodies once; `decode_predictions` is the one
call that turns a response into predictions (status kinds, count and number checks);
`pytest_aksload.stats.correctness` tallies them against expectations.
Stdlib only: the Locust child imports this package.
"""

from pytest_aksload.contracts.base import Contract, ContractError, dump_json
from pytest_aksload.contracts.batches import EncodedBatch, encode_batches
from pytest_aksload.contracts.decoding import decode_predictions
from pytest_aksload.contracts.loader import BUILTIN_CONTRACTS, DEFAULT_CONTRACT, load_contract, resolve_spec
from pytest_aksload.contracts.status import DEPLOYMENT_HEADER, FAILURE_KINDS, check_routing, failure_kind_of_status

__all__ = [
    "BUILTIN_CONTRACTS",
    "DEFAULT_CONTRACT",
    "DEPLOYMENT_HEADER",
    "FAILURE_KINDS",
    "Contract",
    "ContractError",
    "EncodedBatch",
    "check_routing",
    "decode_predictions",
    "dump_json",
    "encode_batches",
    "failure_kind_of_status",
    "load_contract",
    "resolve_spec",
]
