"""SIGTERM to pytest (a cancelled CI job) unwinds like Ctrl-C; a handler someone else installed is
kept; the previous handler comes back afterwards; a second SIGTERM kills at once. Real signals,
each scenario in a Python subprocess of its own (the test process has the plugin's handler)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest_aksload

# The package this test process imports (a worktree's, under PYTHONPATH), also in the subprocess.
PACKAGE_ROOT = str(Path(pytest_aksload.__file__).resolve().parents[1])

PRELUDE = """
import os, signal, sys, threading, time
from pytest_aksload.run.interrupts import SigtermAsInterrupt, TerminatedBySignal

def term():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(2)  # a signal is handled between bytecodes: it lands here, or the process dies here

handler = SigtermAsInterrupt()
"""


def scenario(code: str) -> subprocess.CompletedProcess[str]:
    source = PRELUDE + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=30, env=env)


def test_sigterm_raises_a_keyboard_interrupt_and_restores_the_default() -> None:
    done = scenario(
        """
        handler.install()
        try:
            term()
        except KeyboardInterrupt as interrupt:
            print(type(interrupt).__name__, interrupt)
        print("default again:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["TerminatedBySignal received signal SIGTERM", "default again: True"]


def test_a_second_sigterm_during_the_clean_up_kills_at_once() -> None:
    done = scenario(
        """
        handler.install()
        try:
            term()
        except TerminatedBySignal:
            print("cleaning up", flush=True)
            term()  # the CI runner loses patience
            print("survived the second SIGTERM", flush=True)
        """
    )
    assert done.returncode == -signal.SIGTERM
    assert done.stdout.splitlines() == ["cleaning up"]


def test_a_handler_installed_before_is_kept_and_called() -> None:
    done = scenario(
        """
        def theirs(signum, frame):
            print("their handler ran", flush=True)

        signal.signal(signal.SIGTERM, theirs)
        handler.install()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # their handler returns, so this sleep is not cut short
        handler.restore()
        print("still theirs:", signal.getsignal(signal.SIGTERM) is theirs)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["their handler ran", "still theirs: True"]


def test_restore_puts_back_the_default_but_keeps_a_handler_installed_after_ours() -> None:
    done = scenario(
        """
        handler.install()
        print("ours:", signal.getsignal(signal.SIGTERM) == handler._handle)
        handler.restore()
        print("default:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)

        handler.install()
        later = lambda signum, frame: None
        signal.signal(signal.SIGTERM, later)  # e.g. a test or another plugin, after the session started
        handler.restore()
        print("later kept:", signal.getsignal(signal.SIGTERM) is later)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ours: True", "default: True", "later kept: True"]


def test_install_outside_the_main_thread_changes_nothing() -> None:
    done = scenario(
        """
        worker = threading.Thread(target=handler.install)
        worker.start()
        worker.join()
        handler.restore()
        print("default:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["default: True"]
