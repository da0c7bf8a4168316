"""Distributed runs on Locust's own master/worker engine (child process only).

Each worker records into its own `Recorder`; every `report_to_master` (Locust's 3 s stats
message) carries what it recorded since the last one as encoded HDR histograms, and the
master's `worker_report` listener adds them bucket by bucket, so merged percentiles are
exactly those of all requests together. A worker's last delta goes in a custom message sent
from its `test_stop`, i.e. before it tells the master it has stopped, so the master has every
request by the time its own test stops.

The master ends the run itself (the runner passes no `--run-time` here): Locust's headless
`--run-time` quits the master 0.5 s after telling workers to quit, which loses the final
deltas of workers still waiting for in-flight requests. Here the master tells the workers to
quit, waits for each one's final delta (bounded: the stop timeout plus a margin), then quits.
(Not `runner.stop()`: a stopped worker sleeps a whole stop timeout before it reads its next
message, which would add that much to every run.)

Remote workers (`aksload-worker`, started on other machines) have no run settings in their
environment: a worker sends `protocol.MSG_HELLO`, the master answers with
`protocol.run_config_message` (sample rows with their expectations, settings and the auth headers) over the same Locust
connection; refreshed headers follow as `protocol.MSG_HEADERS`. The secret thus never appears
in a worker's command line or environment.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from pytest_aksload import child, protocol
from pytest_aksload.child import ChildContext
from pytest_aksload.protocol import MSG_CONFIG, MSG_FINAL, MSG_HEADERS, MSG_HELLO, REPORT_KEY
from pytest_aksload.stats.recording import Recorder

logger = logging.getLogger("pytest_aksload.distributed")

FINAL_MARGIN_S = 5.0
# A master answers each worker heartbeat (one a second); Locust's own worker waits 60 s before it
# gives up on a silent master, loading the endpoint all along. Locust's master marks a worker
# missing after 3 missed heartbeats; a worker gives its master 5.
MASTER_SILENCE_S = 5.0


def role(environment: Any) -> str:
    """ "master", "worker" or "local" (a plain single-process run)."""
    runner = getattr(environment, "runner", None)
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"


def attach_worker(environment: Any, hooks: Any, recorder: Recorder, configured: Callable[[], None]) -> None:
    """Ship the worker's recorder to the master; ask for the run's settings if it has none."""
    runner = environment.runner

    def on_report(data: dict[str, Any], **_kwargs: Any) -> None:
        if recorder.running:
            data[REPORT_KEY] = recorder.drain()

    def on_test_stop(**_kwargs: Any) -> None:
        recorder.stop()
        runner.send_message(MSG_FINAL, recorder.drain(final=True))

    def on_quitting(**_kwargs: Any) -> None:
        home = os.environ.get(protocol.ENV_WORKER_HOME)
        if home:  # aksload-worker's empty working directory (it exec'd into this process)
            shutil.rmtree(home, ignore_errors=True)

    hooks.report_to_master.add_listener(on_report)
    hooks.test_stop.add_listener(on_test_stop)
    hooks.quitting.add_listener(on_quitting)
    gevent.spawn(_quit_when_master_is_silent, runner)  # lifeline of a remote worker: its master's heartbeats
    runner.register_message(MSG_HEADERS, lambda msg, **_kw: child.context().replace_auth_headers(msg.data["headers"]))
    if not child.context().configured:

        def on_config(msg: Any, **_kwargs: Any) -> None:
            settings, headers, sample = protocol.read_run_config(msg.data)
            child.set_context(ChildContext(settings, headers, sample))
            configured()

        runner.register_message(MSG_CONFIG, on_config)
        runner.send_message(MSG_HELLO)


def _quit_when_master_is_silent(runner: Any) -> None:
    """A master killed with its gate says nothing: stop loading its endpoint soon after."""
    while True:
        gevent.sleep(1.0)
        last = getattr(runner, "last_heartbeat_timestamp", None)
        if last is not None and time.time() - last > MASTER_SILENCE_S:
            logger.error("no heartbeat from the master for %gs: it is gone; quitting", MASTER_SILENCE_S)
            runner.quit()
            return


def attach_master(
    environment: Any, hooks: Any, recorder: Recorder, run_time_s: float
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Merge worker reports, answer remote workers, end the run after `run_time_s`.

    Returns the function that forwards refreshed auth headers to every worker, and the one that
    ends the run early (an abort rule fired, or the parent has its verdict)."""
    runner = environment.runner

    def on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        if REPORT_KEY in data:
            recorder.merge(client_id, data[REPORT_KEY])

    def on_hello(msg: Any, **_kwargs: Any) -> None:
        expected = getattr(environment.parsed_options, "expect_workers", 1) or 1
        run = child.context()
        message = protocol.run_config_message(run.settings, run.auth_headers(), run.sample, expected)
        runner.send_message(MSG_CONFIG, message, client_id=msg.node_id)

    finished = False

    def finish() -> None:
        nonlocal finished
        if finished:  # the run time and an early stop may both come
            return
        finished = True
        workers = [client.id for client in runner.clients.all]
        for worker in workers:
            runner.send_message("quit", None, client_id=worker)
        deadline = time.monotonic() + environment.stop_timeout + FINAL_MARGIN_S
        while not recorder.workers_reported.issuperset(workers) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        missing = len(set(workers) - recorder.workers_reported)
        if missing:
            logger.warning("%d worker(s) sent no final report; their last seconds are missing", missing)
        runner.quit()

    def on_test_start(**_kwargs: Any) -> None:
        gevent.spawn_later(run_time_s, finish)

    hooks.worker_report.add_listener(on_worker_report)
    hooks.test_start.add_listener(on_test_start)
    runner.register_message(MSG_FINAL, lambda msg, **_kw: recorder.merge(msg.node_id, msg.data))
    runner.register_message(MSG_HELLO, on_hello)
    return lambda: runner.send_message(MSG_HEADERS, {"headers": child.context().auth_headers()}), finish
