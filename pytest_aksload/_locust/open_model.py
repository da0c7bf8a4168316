"""Open-model load (child process only): requests arrive on a schedule, whatever the service does.

Locust's users are a closed model: a user sends its next request only after the previous one
returned, so when the service slows down the load generator slows down with it and the
requests that *would* have been sent during a stall are never measured (coordinated omission).
Here a scheduler greenlet produces intended send times at `RunSettings.rate` per second
(`RunSettings.arrivals`: evenly spaced "constant", or "poisson" with exponential gaps) and hands
each to an idle user, most recently idle first, so only as many users (and connections) are
busy as the service needs; a time with no idle user waits in a backlog for the next one to
free up. The recorder measures each request from its intended time (the latency a client
arriving then would have seen) and keeps the latency from the actual send as `uncorrected`.

The user pool is sized by the parent (rate x request timeout, bounded): users wait for a time
inside Locust's `wait_time`, so at the end of the run idle users stop at once. Schedule
health goes into the result's `schedule`: `intended` (times produced), `sent`, `late` (sent
more than LATE_S after the intended time), `max_lag_ms`, `backlogged` (times that found no
idle user), `missed` (times still in that backlog when the run ended) and `pool` (users).
"""

from __future__ import annotations

import random
import time
from collections import deque

import gevent
from gevent.event import AsyncResult
from locust import events

from pytest_aksload import child, protocol
from pytest_aksload._locust import locustfile as base
from pytest_aksload._locust import wiring
from pytest_aksload._locust.wiring import INTENDED_KEY

LATE_S = 0.02  # a request sent later than this after its time counts as off schedule


class Schedule:
    """Intended send times for this process, handed to idle users (LIFO)."""

    def __init__(self) -> None:
        self._idle: list[AsyncResult] = []
        self._backlog: deque[float] = deque()
        self._greenlet: gevent.Greenlet | None = None
        self.pool = 0

    def join(self) -> None:
        """A user joins the pool; the first one starts the clock (the master, with no users, never does)."""
        self.pool += 1
        _count("pool", 1)
        if self._greenlet is None:
            settings = child.context().settings
            if settings.rate is None:
                raise RuntimeError(f"{protocol.ENV_RATE} is not set: the open-model user runs only with rate=")
            self._greenlet = gevent.spawn(self._run, settings.rate, settings.arrivals == "poisson")

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            # Only the backlog: a time handed to a user the stop then ended is an artefact of
            # the cut, not of the schedule (so `intended` may exceed `sent` by a few).
            _count("missed", len(self._backlog))
            self._backlog.clear()

    def acquire(self) -> float:
        """Block until this user is given a time to send at; returns it (epoch seconds)."""
        if self._backlog:
            intended = self._backlog.popleft()
        else:
            waiter = AsyncResult()
            self._idle.append(waiter)
            intended = waiter.get()
        return intended

    def sending(self, intended: float) -> None:
        """A user is sending the request meant for `intended` now: count how late it is."""
        lag = time.time() - intended
        _count("sent", 1)
        if lag > LATE_S:
            _count("late", 1)
        _count("max_lag_ms", round(lag * 1000.0, 3), maximum=True)

    def _run(self, rate: float, poisson: bool) -> None:
        epoch0, mono0 = time.time(), time.monotonic()
        offset, n = 0.0, 0
        while True:
            now = time.monotonic() - mono0
            while offset <= now:  # every due time at once: a late wake-up must not lower the rate
                self._dispatch(epoch0 + offset)
                n += 1
                offset = offset + random.expovariate(rate) if poisson else n / rate
            gevent.sleep(offset - now)

    def _dispatch(self, intended: float) -> None:
        _count("intended", 1)
        if self._idle:
            self._idle.pop().set(intended)
        else:
            self._backlog.append(intended)
            _count("backlogged", 1)


def _count(key: str, value: float, maximum: bool = False) -> None:
    recorder = wiring.session().recorder
    if recorder.schedule is None:
        recorder.schedule = dict.fromkeys(("intended", "sent", "late", "max_lag_ms", "backlogged", "missed", "pool"), 0)
    old = recorder.schedule.get(key, 0)
    recorder.schedule[key] = max(old, value) if maximum else old + value


SCHEDULE = Schedule()
events.test_stop.add_listener(lambda **_kw: SCHEDULE.stop())


class OpenModelUser(base.ScoringUser):
    """Sends the packaged request at the times the schedule gives it, never on its own."""

    def on_start(self) -> None:
        super().on_start()
        self._intended: float | None = None
        SCHEDULE.join()

    def wait_time(self) -> float:
        # Waiting for a time happens here, where Locust can stop an idle user at once.
        self._intended = SCHEDULE.acquire()
        return 0.0

    def post_row(self, context: dict | None = None) -> None:
        intended, self._intended = self._intended, None
        if intended is not None:  # the first task runs before any wait: nothing scheduled yet
            SCHEDULE.sending(intended)
            super().post_row({INTENDED_KEY: intended})
