"""The recorder's per-request path in-process: `ChildSession.on_request` -> `Recorder.record`.

    python bench/recorder_path.py [--requests 200000] [--reps 5]

No Locust run and no network: the listener Locust calls for every request is called directly,
with the arguments Locust passes, on a recorder that measures from time zero. `plain`: a failed-
free request with no predictions; `predictions`: each answer's rows and predictions checked
against the sample's expectations (the same answer again and again, as a deterministic model
gives: counted, tallied once per window). Prints the minimum over `--reps` of the CPU time per
request in µs (process time: time stolen by other processes on a shared host is not counted).
"""

from __future__ import annotations

import argparse
import time

from pytest_aksload import child
from pytest_aksload._locust.wiring import ChildSession
from pytest_aksload.contracts.failures import describe_exception
from pytest_aksload.protocol import SampleRows
from pytest_aksload.stats.recording import Recorder

SAMPLE = SampleRows(rows=[{"x": row} for row in range(20)], expected=[0.5] * 20, labels=None)


def per_request_us(requests: int, predictions: bool) -> float:
    recorder = Recorder(
        warmup_s=0.0,
        window_s=1.0,
        describe_failure=describe_exception,
        tolerance=1e-6,
        sample=SAMPLE if predictions else None,
    )
    recorder.start()
    session = object.__new__(ChildSession)  # only its listener: no Locust environment needed
    session.recorder = recorder
    on_request = session.on_request
    contexts = [{child.PREDICTIONS_KEY: ((row,), [0.5])} if predictions else {} for row in range(20)]
    started = time.time()
    before = time.process_time()
    for number in range(requests):
        on_request(
            "POST", "/score", 12.345, start_time=started, response=None, context=contexts[number % 20],
            response_length=10, url=None,
        )  # fmt: skip
    return (time.process_time() - before) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    for case in ("plain", "predictions"):
        best = min(per_request_us(args.requests, case == "predictions") for _ in range(args.reps))
        print(f"{case:12} {best:.3f} µs per request (min of {args.reps} x {args.requests:,})")


if __name__ == "__main__":
    main()
