"""One response to predictions, whatever the contract: the call pre-flight and the child make.

`decode_predictions` checks the status first (any status but 200 fails with its kind, so a
user contract cannot count a 500 as a prediction), then lets the contract decode the body,
then holds the result to the rules every contract shares: a list of finite numbers, one per
row sent. A user contract that raises something other than `ContractError` fails the request
with that error's type and message (never a traceback: the message lands in reports).
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_aksload.contracts.base import Contract, ContractError, bounded, check_count, is_finite_number, reason
from pytest_aksload.contracts.status import check_status


def decode_predictions(
    contract: Contract, status: int, headers: Mapping[str, str], body: bytes, rows: int
) -> list[float]:
    """The `rows` predictions in `body`, or `ContractError` with a one-line reason and its kind."""
    check_status(status, headers, body)
    try:
        predictions = contract.decode(status, headers, body)
    except ContractError as exc:
        exc.reason = bounded(exc.reason)
        raise
    except Exception as exc:
        raise ContractError(reason(f"contract {contract.name} failed", f"{type(exc).__name__}: {exc}")) from None
    if not isinstance(predictions, (list, tuple)):
        raise ContractError(reason(f"contract {contract.name} returned no list", repr(predictions)))
    for value in predictions:
        if not is_finite_number(value):
            raise ContractError(reason("prediction is not a number", repr(value)))
    return check_count([float(value) for value in predictions], rows)
