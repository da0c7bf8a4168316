"""Processes the plugin starts die with the process that started them, whatever kills it.

A gate killed with SIGKILL (a CI runner's hard timeout, the OOM killer) runs no cleanup, so the
processes it started must notice by themselves: otherwise a Locust child keeps loading the
endpoint, with nobody watching, until its own run time ends. The starter puts its pid in the
child's environment (`parent_environment()`); the child calls `hold()` as early as it can:

- Linux: the kernel's parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`): no thread, no
  event loop, nothing in the child has to be responsive. Then the parent's pid is compared with
  the one the starter wrote, since the parent may have died before the signal was set;
- elsewhere: a thread polls `getppid()` every `POLL_S` (in a gevent-patched process that thread
  is a greenlet, so it runs on the event loop like everything else there).

The parent-death signal is cleared on fork, so `hold()` also arms every process forked later
(Locust's `--processes` workers) against the process that forked it. It fires when the *thread*
that started the child ends, not only the process: a starter must wait for its child in the
thread that started it (the runner does). `LocalService` may be started from any thread and
left running, so its server uses the thread-independent `watch()` instead.

Not end-of-file on the child's stdin pipe: the child protocol lets a parent close it mid-run,
and a process forked from the parent would keep its write end open. Remote Locust workers are
not ours: they quit when their master's heartbeats stop (`_locust/distributed.py`).

Standard library only: both the pytest process and the children import this module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PARENT_PID_ENV = "AKSLOAD_PARENT_PID"
# How often the portable fallback looks at its parent: the 2 s bound with room to shut down.
POLL_S = 0.25
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_parent: int | None = None  # the process this one lives and dies with, once held
_forking_pid = 0  # set just before a fork: the parent of the process the fork creates


def parent_environment() -> dict[str, str]:
    """The variables that tell a child started now which process it must not outlive."""
    return {PARENT_PID_ENV: str(os.getpid())}


def hold(parent: int | None = None) -> bool:
    """Make this process, and every process it forks from now on, die by SIGKILL once its parent is gone.

    `parent` None: the pid in `PARENT_PID_ENV` (removed from the environment, so nothing this
    process starts inherits a pid that is not its own parent's). Without either, e.g. a Locust
    worker started by hand on another machine, there is nothing to hold on to: returns False.
    Dies at once if the parent is already gone. A second call, or one in a forked child of a
    held process, changes nothing.
    """
    global _parent
    if parent is None:
        parent = _int_or_none(os.environ.pop(PARENT_PID_ENV, ""))
    if _parent is not None:
        return True
    if parent is None:
        return False
    _parent = parent
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    _arm()
    return True


def watch(parent: int, on_gone: Callable[[], None], interval_s: float = POLL_S) -> threading.Thread:
    """Call `on_gone` once, from a daemon thread, when `parent` is no longer this process's parent.

    Independent of which of the parent's threads started this process. The parent's pid is
    never probed directly (it may be reused); an orphan is re-parented, so `getppid()` changes.
    """

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        on_gone()

    thread = threading.Thread(target=poll, name="aksload-lifeline", daemon=True)
    thread.start()
    return thread


def _arm() -> None:
    parent = _parent
    assert parent is not None
    if not _set_parent_death_signal():
        owner = os.getpid()
        # A greenlet survives a fork (a thread does not): the copy in the child leaves the watch
        # to the child's own, which follows the child's parent.
        watch(parent, lambda: die() if os.getpid() == owner else None)
    if os.getppid() != parent:  # died before the signal was set: the kernel will not send it now
        die()


def _set_parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here: the pytest process, which only starts children, need not load it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl (a libc without it, a sandbox): poll instead
        return False


def _before_fork() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _parent
    _parent = _forking_pid
    _arm()


def die() -> None:
    """End this process with SIGKILL, now: whatever it was doing has no one to report to. A
    process-group leader (started with a session of its own) takes its group along, i.e. the
    processes it forked."""
    with contextlib.suppress(OSError):
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _int_or_none(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None
