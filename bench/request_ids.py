"""The cost of the request id on the per-request path, in-process: building a request's headers.

    python bench/request_ids.py [--requests 500000] [--reps 5]

No Locust run and no network: what the packaged user does per request before Locust sends it
(take the headers from `ChildContext`), followed by the copy Locust makes of them
(`headers = dict(headers)` in `FastHttpSession.request`), with realistic headers (content type,
accept, a bearer token). Cases:

* `no id`     the shared dict from a run without a run id (the same method call and branch: what the
              code before request ids cost, a method returning the shared dict);
* `in place`  `stamped_request_headers()`: the next id set in the shared dict (the packaged user);
* `copy`      `request_headers()`: a fresh dict with the next id (custom locustfiles, request plans);
* `failure`   reading a failed request's ids back from its request and answer (`request_ids_of`),
              paid per failed request only.

Prints the minimum over `--reps` of the CPU time per request in µs (process time).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from pytest_aksload.child import ChildContext, request_ids_of
from pytest_aksload.protocol import REQUEST_ID_HEADER, RunSettings, SampleRows
from pytest_aksload.redact import Redactor

HEADERS = {"Authorization": "Bearer " + "x" * 600}  # an Entra ID token's length


def _context(run_id: str) -> ChildContext:
    settings = RunSettings(scoring_uri="http://127.0.0.1/score", run_id=run_id)
    return ChildContext(settings, HEADERS, SampleRows([{"a": 1}]), redactor=Redactor())


class _Sent:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class _Failed:
    def __init__(self, headers: dict[str, str]) -> None:
        self.request = _Sent(headers)
        self.headers = {"Content-Type": "application/json", "x-request-id": "0f3c5a7e-srv"}


def _cases() -> dict[str, Callable[[], Any]]:
    with_id, without = _context("abcdefgh1234"), _context("")
    failed = _Failed({**with_id.request_headers(), REQUEST_ID_HEADER: "abcdefgh1234w0n1"})
    return {
        "no id": lambda: dict(without.stamped_request_headers()),
        "in place": lambda: dict(with_id.stamped_request_headers()),
        "copy": lambda: dict(with_id.request_headers()),
        "failure": lambda: request_ids_of(failed),
    }


def per_request_us(step: Callable[[], Any], requests: int) -> float:
    before = time.process_time()
    for _ in range(requests):
        step()
    return (time.process_time() - before) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    cases = _cases()
    best = {name: min(per_request_us(step, args.requests) for _ in range(args.reps)) for name, step in cases.items()}
    for name, us in best.items():
        extra = f" (+{us - best['no id']:.3f} µs)" if name in ("in place", "copy") else ""
        print(f"{name:10} {us:.3f} µs per request{extra} (min of {args.reps} x {args.requests:,})")


if __name__ == "__main__":
    main()
