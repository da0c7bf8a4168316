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
environment; they get the run from the master over the same Locust connection. Every worker, local
or remote, first proves it holds the worker token (`pytest_aksload.worker_auth`: HELLO, CHALLENGE,
PROOF); until then the master acknowledges its connection and nothing else: it is no Locust client
(no spawn message, which names the host), gets no run config, and whatever it sends besides the
handshake is dropped. A proven worker gets `protocol.run_config_message` (sample rows with their
expectations, settings and the auth headers) sealed for it, then refreshed headers as sealed
`protocol.MSG_HEADERS`; its reports (`REPORT_KEY` in Locust's stats message) and its final delta
are sealed too, and one that fails to open is dropped and counted (`Master.rejected_reports`, the
result's `generator.rejected_reports`, which ERRORs the test). The secret thus never appears in a
worker's command line or environment, nor in clear on the wire.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import msgpack
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from pytest_aksload import child, protocol, worker_auth
from pytest_aksload.child import ChildContext
from pytest_aksload.protocol import (
    MSG_CHALLENGE,
    MSG_CONFIG,
    MSG_FINAL,
    MSG_HEADERS,
    MSG_HELLO,
    MSG_PROOF,
    REPORT_KEY,
    ProtocolError,
)
from pytest_aksload.redact import SECRETS
from pytest_aksload.stats.recording import Recorder
from pytest_aksload.worker_auth import AuthError, Channel

logger = logging.getLogger("pytest_aksload.distributed")

FINAL_MARGIN_S = 5.0
# A master answers each worker heartbeat (one a second); Locust's own worker waits 60 s before it
# gives up on a silent master, loading the endpoint all along. Locust's master marks a worker
# missing after 3 missed heartbeats; a worker gives its master 5.
MASTER_SILENCE_S = 5.0
# A worker that has no run this long after its hello gives up (a master of another kind, or one
# that refused it and could not say so).
CONFIG_WAIT_S = 30.0


def role(environment: Any) -> str:
    """ "master", "worker" or "local" (a plain single-process run)."""
    runner = getattr(environment, "runner", None)
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return "worker"
    return "local"


def _token() -> str:
    token = os.environ.get(protocol.ENV_WORKER_TOKEN, "")
    if not token:
        raise RuntimeError(f"{protocol.ENV_WORKER_TOKEN} is not set: a distributed run needs its worker token")
    SECRETS.remember(token)
    return token


def _pack(delta: dict[str, Any]) -> bytes:
    return msgpack.packb(delta, use_bin_type=True)


def _unpack(data: bytes) -> dict[str, Any]:
    return msgpack.unpackb(data, raw=False)


def attach_worker(environment: Any, hooks: Any, recorder: Recorder, configured: Callable[[], None]) -> None:
    """Prove the token to the master, take the run it sends (sealed) and ship the recorder's
    deltas to it, sealed."""
    runner = environment.runner
    handshake = worker_auth.WorkerHandshake(_token(), runner.client_id)
    channel: Channel | None = None
    got_run = gevent.event.Event()

    def refuse(problem: str) -> None:
        logger.error("%s; quitting", problem)
        gevent.spawn(runner.quit)  # not from inside the message loop that quitting kills

    def on_challenge(msg: Any, **_kwargs: Any) -> None:
        nonlocal channel
        try:
            proof, channel = handshake.answer(msg.data)
        except AuthError as error:
            return refuse(f"the master's challenge is unusable: {error}")
        runner.send_message(MSG_PROOF, proof)

    def opened(kind: str, envelope: Any) -> Any:
        if channel is None:
            raise AuthError(f"{kind} before the handshake")
        return json.loads(channel.open(kind, envelope))

    def on_config(msg: Any, **_kwargs: Any) -> None:
        try:
            settings, headers, sample = protocol.read_run_config(opened("config", msg.data))
        except (AuthError, ProtocolError, ValueError) as error:
            return refuse(f"the master's run config is unusable ({error}): is it holding another worker token?")
        if not child.context().configured:  # local worker processes know the run already
            child.set_context(ChildContext(settings, headers, sample))
            configured()
        got_run.set()

    def on_headers(msg: Any, **_kwargs: Any) -> None:
        try:
            message = opened("headers", msg.data)
            headers = protocol.checked_headers(message.get("headers"), "refreshed headers are not an object of strings")
        except (AuthError, ProtocolError, ValueError, AttributeError) as error:
            return refuse(f"the master's header refresh is unusable ({error})")
        child.context().replace_auth_headers(headers)

    # Reports only once the master proved itself too (its config opened): a refused worker has nothing to say.
    def on_report(data: dict[str, Any], **_kwargs: Any) -> None:
        if recorder.running and channel is not None and got_run.is_set():
            data[REPORT_KEY] = channel.seal("report", _pack(recorder.drain()))

    def on_test_stop(**_kwargs: Any) -> None:
        recorder.stop()
        if channel is not None and got_run.is_set():
            runner.send_message(MSG_FINAL, channel.seal("final", _pack(recorder.drain(final=True))))

    def on_quitting(**_kwargs: Any) -> None:
        if not got_run.is_set():
            logger.error(
                "the master sent no run: it refused this worker (is %s the master's?) or went away",
                worker_auth.WORKER_TOKEN_ENV,
            )
        home = os.environ.get(protocol.ENV_WORKER_HOME)
        if home:  # aksload-worker's empty working directory (it exec'd into this process)
            shutil.rmtree(home, ignore_errors=True)

    def give_up_without_run() -> None:
        if not got_run.wait(CONFIG_WAIT_S):
            refuse(f"no run from the master within {CONFIG_WAIT_S:g}s of connecting")

    hooks.report_to_master.add_listener(on_report)
    hooks.test_stop.add_listener(on_test_stop)
    hooks.quitting.add_listener(on_quitting)
    gevent.spawn(_quit_when_master_is_silent, runner)  # lifeline of a remote worker: its master's heartbeats
    gevent.spawn(give_up_without_run)
    runner.register_message(MSG_CHALLENGE, on_challenge)
    runner.register_message(MSG_CONFIG, on_config)
    runner.register_message(MSG_HEADERS, on_headers)
    runner.send_message(MSG_HELLO, handshake.hello())


def _quit_when_master_is_silent(runner: Any) -> None:
    """A master killed with its gate says nothing: stop loading its endpoint soon after."""
    while True:
        gevent.sleep(1.0)
        last = getattr(runner, "last_heartbeat_timestamp", None)
        if last is not None and time.time() - last > MASTER_SILENCE_S:
            logger.error("no heartbeat from the master for %gs: it is gone; quitting", MASTER_SILENCE_S)
            runner.quit()
            return


class Master:
    """The master's side: admits only workers that prove the token, merges their sealed reports,
    drops (and counts) any report that fails its check, and ends the run after `run_time_s`."""

    def __init__(self, environment: Any, hooks: Any, recorder: Recorder, run_time_s: float) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.recorder = recorder
        self.run_time_s = run_time_s
        self.auth = worker_auth.MasterAuth(_token())
        self.rejected_reports = 0
        self._versions: dict[str, Any] = {}  # a waiting worker's Locust version, from its client_ready
        self._finished = False
        self._locust_handle = self.runner.handle_message
        self.runner.handle_message = self._handle
        for early in list(self.runner.clients):  # connected before this gate existed: must prove too
            del self.runner.clients[early]
        hooks.worker_report.add_listener(self._on_worker_report)
        hooks.test_start.add_listener(lambda **_kw: gevent.spawn_later(self.run_time_s, self.finish))
        self.runner.register_message(MSG_HELLO, self._on_hello)
        self.runner.register_message(MSG_PROOF, self._on_proof)
        self.runner.register_message(MSG_FINAL, self._on_final)

    # --- the gate in front of Locust's own message handling ------------------------------------------
    def _handle(self, client_id: str, msg: Any) -> None:
        if msg.node_id != client_id:  # a message naming another worker than the connection it came on
            logger.debug("dropped %s message naming another worker", msg.type)
        elif client_id in self.auth.channels or msg.type in (MSG_HELLO, MSG_PROOF):
            self._locust_handle(client_id, msg)
        elif msg.type == "client_ready":
            # Locust's worker waits for this before it fires `init`, where it starts the handshake;
            # Locust itself learns of the worker only once it proved the token (`_on_proof`).
            self._versions[client_id] = msg.data
            self.runner.send_message("ack", None, client_id=client_id)
        elif msg.type == MSG_FINAL or (msg.type == "stats" and isinstance(msg.data, dict) and REPORT_KEY in msg.data):
            self._reject(client_id, "it never proved the worker token")
        # Anything else of an unproven worker (heartbeats, a locustfile request, Locust's own stats) goes unanswered.

    def _on_hello(self, msg: Any, **_kwargs: Any) -> None:
        try:
            challenge = self.auth.challenge(msg.node_id, msg.data)
        except AuthError as error:
            return self._refuse(msg.node_id, error)
        self.runner.send_message(MSG_CHALLENGE, challenge, client_id=msg.node_id)

    def _on_proof(self, msg: Any, **_kwargs: Any) -> None:
        worker = msg.node_id
        try:
            channel = self.auth.verify(worker, msg.data)
        except AuthError as error:
            return self._refuse(worker, error)
        expected = getattr(self.environment.parsed_options, "expect_workers", 1) or 1
        run = child.context()
        config = protocol.run_config_message(run.settings, run.auth_headers(), run.sample, expected)
        # Before Locust knows the worker, so the run reaches it before any spawn message.
        self.runner.send_message(MSG_CONFIG, channel.seal("config", json.dumps(config).encode()), client_id=worker)
        self._locust_handle(worker, Message("client_ready", self._versions.pop(worker, -1), worker))

    def _refuse(self, worker: str, error: Exception) -> None:
        logger.warning("refused a worker: %s", error)
        self.runner.send_message("quit", None, client_id=worker)

    # --- reports -----------------------------------------------------------------------------------------
    def _opened(self, worker: str, kind: str, envelope: Any) -> dict[str, Any] | None:
        channel = self.auth.channels.get(worker)
        try:
            if channel is None:
                raise AuthError("it never proved the worker token")
            return _unpack(channel.open(kind, envelope))
        except AuthError as error:
            self._reject(worker, str(error))
        except ValueError as error:  # msgpack's errors; sealed by a token holder: never expected
            self._reject(worker, f"unreadable {kind} ({error})")
        return None

    def _reject(self, worker: str, why: str) -> None:
        self.rejected_reports += 1
        logger.warning("dropped a report from worker %s: %s", worker, why)

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        if REPORT_KEY in data and (delta := self._opened(client_id, "report", data[REPORT_KEY])) is not None:
            self.recorder.merge(client_id, delta)

    def _on_final(self, msg: Any, **_kwargs: Any) -> None:
        if (delta := self._opened(msg.node_id, "final", msg.data)) is not None:
            self.recorder.merge(msg.node_id, delta)

    # --- run control -------------------------------------------------------------------------------------
    def forward_headers(self) -> None:
        """Send the refreshed auth headers to every worker, sealed for each."""
        message = json.dumps({"headers": child.context().auth_headers()}).encode()
        for client in list(self.runner.clients.all):
            channel = self.auth.channels.get(client.id)
            if channel is not None:
                self.runner.send_message(MSG_HEADERS, channel.seal("headers", message), client_id=client.id)

    def finish(self) -> None:
        """End the run: tell the workers to quit, wait (bounded) for each one's final delta, quit."""
        if self._finished:  # the run time and an early stop may both come
            return
        self._finished = True
        runner, recorder = self.runner, self.recorder
        workers = [client.id for client in runner.clients.all]
        for worker in workers:
            runner.send_message("quit", None, client_id=worker)
        deadline = time.monotonic() + self.environment.stop_timeout + FINAL_MARGIN_S
        while not recorder.workers_reported.issuperset(workers) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        missing = len(set(workers) - recorder.workers_reported)
        if missing:
            logger.warning("%d worker(s) sent no final report; their last seconds are missing", missing)
        runner.quit()


def attach_master(environment: Any, hooks: Any, recorder: Recorder, run_time_s: float) -> Master:
    """Gate the workers, merge their reports, end the run after `run_time_s` (`Master`)."""
    return Master(environment, hooks, recorder, run_time_s)
