"""Keep load tests from overlapping in time, even under pytest-xdist, and record what ran beside them.

Two load generators on one machine halve each other's CPU, and both measure the other's noise;
`--dist loadgroup` only keeps tests on one worker, it does not stop them overlapping with other
workers' tests. So every load test holds a cross-process file lock (package `filelock`) while it
sends traffic, in a directory all workers of the session share: the controller's basetemp, which
pytest-xdist makes the parent of every worker's basetemp.

Other (non-load) tests still compete for the CPU; they are not blocked, but each xdist worker
marks the test it is running in the same directory, and a load test lists the other tests it saw
running while it held the lock (`GatedResult.overlapping_tests`), so a report can say when a
measurement was disturbed. A load test withdraws its own mark while it queues for the lock and
once its load is done, so queued and finishing load tests are not counted as disturbances.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock
import pytest

LOCK_NAME = "load.lock"
RUNNING_DIR = "running"
# A session's load tests queue for the lock; one that waited this long gives up (ERROR), so a
# hung neighbour cannot hang CI. Generous: a queue of long gates is legitimate.
LOCK_WAIT_S = 3600.0
WATCH_EVERY_S = 0.2


class SerialWaitTimeout(Exception):
    """The lock was not free within LOCK_WAIT_S."""


def shared_dir(config: pytest.Config) -> Path:
    """The directory every process of this pytest session shares (created on demand)."""
    basetemp = Path(config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    # An xdist worker's basetemp is <controller basetemp>/<worker id>.
    root = basetemp.parent if hasattr(config, "workerinput") else basetemp
    directory = root / "aksload-serial"
    (directory / RUNNING_DIR).mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def running(directory: Path, nodeid: str) -> Iterator[None]:
    """Mark `nodeid` as running in this process (one test at a time per process) during the block."""
    marker = directory / RUNNING_DIR / f"{os.getpid()}"
    marker.write_text(nodeid, encoding="utf-8")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


class LoadSlot:
    """The session's load lock, held from `acquire()` to `release()` (idempotent), while watching
    the running markers: `overlapping_tests` lists (sorted) the other processes' tests seen meanwhile."""

    def __init__(self, directory: Path, wait_s: float = LOCK_WAIT_S) -> None:
        self._directory = directory
        self._lock = filelock.FileLock(str(directory / LOCK_NAME))
        self._wait_s = wait_s
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="aksload-overlap-watch", daemon=True)

    @property
    def overlapping_tests(self) -> list[str]:
        return sorted(self._seen)

    def acquire(self) -> None:
        """Wait (at most `wait_s`) until no other load test of the session runs; SerialWaitTimeout if not."""
        # A load test queued for the lock is idle, not a disturbance: hide its marker meanwhile.
        nodeid = self._park()
        try:
            self._lock.acquire(timeout=self._wait_s)
        except filelock.Timeout:
            raise SerialWaitTimeout(
                f"waited {self._wait_s:g}s for another load test of this session to finish "
                f"(load tests run one at a time; lock {self._lock.lock_file})"
            ) from None
        if nodeid is not None:
            self._marker.write_text(nodeid, encoding="utf-8")
        self._watcher.start()

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        self._stop.set()
        self._watcher.join(WATCH_EVERY_S * 10)
        self._look()
        # The rest of this test (body, SLO verdicts) is light: the next load should not count it.
        self._park()
        self._lock.release()

    @property
    def _marker(self) -> Path:
        return self._directory / RUNNING_DIR / f"{os.getpid()}"

    def _park(self) -> str | None:
        """Withdraw this process's running marker (under xdist); its test id, or None without one."""
        try:
            nodeid = self._marker.read_text(encoding="utf-8")
        except OSError:
            return None
        self._marker.unlink(missing_ok=True)
        return nodeid

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_EVERY_S):
            self._look()

    def _look(self) -> None:
        own = str(os.getpid())
        try:
            markers = [path for path in (self._directory / RUNNING_DIR).iterdir() if path.name != own]
        except OSError:
            return
        for marker in markers:
            try:
                nodeid = marker.read_text(encoding="utf-8")
            except OSError:
                continue  # that test finished between listing and reading
            if nodeid:  # empty while being written
                self._seen.add(nodeid)
