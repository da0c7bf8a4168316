"""Gunicorn settings for the embedded local service; `LocalService` loads this file.

azmlinfsrv runs gunicorn in its own process and passes ``-b 0.0.0.0:<port>`` on gunicorn's
command line, which outranks any config file, and it has no option for the host. Gunicorn's
documented way in from outside is ``GUNICORN_CMD_ARGS="--config <this file>"``; the server hooks
below then run inside the gunicorn master (the "arbiter"):

- ``on_starting`` runs before the arbiter creates its listening sockets, so rewriting ``bind``
  there makes every TCP listener (scoring port, and the health port if one was configured)
  loopback-only;
- ``when_ready`` starts a watchdog (``lifeline.watch``) that ends the server once the process
  that started it is gone (a SIGKILLed pytest cannot run any cleanup): it removes the server's
  temp dir, which that parent can no longer do, and SIGKILLs the server's process group;
  ``post_fork`` ties each worker to the arbiter (``lifeline.hold``), so a worker does not outlive
  an arbiter killed outright (the OOM killer);
- ``when_ready`` and ``post_worker_init`` log the lines ``LocalService`` waits for before it
  calls the server ready;
- with ``AKSLOAD_SERVER_FRONT`` (a ceiling or a request timeout: ``front.py``), ``on_starting``
  binds the scoring port itself and moves the workers to a free loopback port behind it, and
  ``when_ready`` starts the front on that socket, before any worker is forked (so no worker
  inherits it), as a child of the master (so it is in the server's process group).

Gunicorn ignores names it does not know, so settings from newer gunicorn versions are harmless
on older ones.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from typing import Any

from pytest_aksload import lifeline
from pytest_aksload.local.service import FRONT_ENV, KEY_ENV

LOOPBACK = "127.0.0.1"
WORKDIR_ENV = "AKSLOAD_SERVER_WORKDIR"
# Shut down quickly: scoring requests take milliseconds, and stop() should not wait 30 s.
graceful_timeout = 3

# gunicorn >= 25 opens a control socket at a fixed per-user path by default; two local services
# (xdist workers) would fight over it, and nothing here needs it.
control_socket_disable = True

# The default format has %(u)s, the user name gunicorn decodes from an Authorization header;
# log nothing derived from that header.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


def _loopback(address: str) -> str:
    if address.startswith(("unix:", "fd://")):
        return address
    _host, _sep, port = address.rpartition(":")
    return f"{LOOPBACK}:{port}" if port.isdigit() else address


_front_listener: socket.socket | None = None  # the scoring port, while the master holds it for the front


def on_starting(server: Any) -> None:
    global _front_listener
    binds = list(dict.fromkeys(_loopback(address) for address in server.cfg.bind))
    if FRONT_ENV in os.environ:
        _front_listener = _listen(binds[0])
        binds[0] = f"{LOOPBACK}:0"  # the workers, behind the front
    server.cfg.set("bind", binds)
    server.log.info("aksload: listening on %s only", ", ".join(binds))


def _listen(address: str) -> socket.socket:
    port = int(address.rpartition(":")[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds its own
    try:
        listener.bind((LOOPBACK, port))
    except OSError as error:
        listener.close()
        # gunicorn's own words for a taken port, which LocalService looks for to pick another one.
        raise RuntimeError(f"Connection in use: {LOOPBACK}:{port} ({error.strerror})") from None
    listener.listen(2048)  # gunicorn's default backlog
    return listener


def when_ready(server: Any) -> None:
    # Gunicorn calls this only after creating every listening socket; LocalService waits for
    # this line before it trusts an answer on the port.
    if _front_listener is not None:
        _start_front(server)
    else:
        server.log.info("aksload: bound %s", ", ".join(server.cfg.bind))
    # Not lifeline.hold(): its parent-death signal fires when the *thread* that started the
    # server ends, and LocalService may be started from a thread that then goes away.
    parent = int(os.environ.pop(lifeline.PARENT_PID_ENV, "0") or 0)
    if not parent:
        return

    def orphaned() -> None:
        # At once, not gracefully: no one is left to answer, and a graceful stop takes ~2.5 s
        # (measured: azmlinfsrv's workers take that long to exit after their last request).
        server.log.info("aksload: parent process %d is gone, shutting down", parent)
        _remove_workdir()
        lifeline.die()

    lifeline.watch(parent, orphaned)


def _start_front(server: Any) -> None:
    global _front_listener
    assert _front_listener is not None
    upstream_port = server.LISTENERS[0].sock.getsockname()[1]
    fields = {**json.loads(os.environ.pop(FRONT_ENV)), "fd": _front_listener.fileno(), "upstream_port": upstream_port}
    # Not the key: the front only counts and relays; score.py checks it in the workers.
    env = {name: value for name, value in os.environ.items() if name != KEY_ENV}
    env.update({FRONT_ENV: json.dumps(fields), **lifeline.parent_environment()})
    front = subprocess.Popen(
        [sys.executable, "-m", "pytest_aksload.local.front"],
        env=env,
        stdin=subprocess.DEVNULL,
        pass_fds=(_front_listener.fileno(),),
    )
    host, port = _front_listener.getsockname()
    public = f"{host}:{port}"
    _front_listener.close()  # the front's now: a dead front must refuse connections, not queue them
    _front_listener = None
    server.log.info("aksload: bound %s (front pid %d; workers on %s:%d)", public, front.pid, LOOPBACK, upstream_port)


def post_fork(server: Any, worker: Any) -> None:
    lifeline.hold(worker.ppid)  # forked by the arbiter's main thread, which lives as long as the arbiter


def post_worker_init(worker: Any) -> None:
    # After the app, hence score.py's init(), has loaded: LocalService counts these lines so a
    # load test does not begin while some workers are still booting.
    worker.log.info("aksload: worker %d ready", worker.pid)


def _remove_workdir() -> None:
    workdir = os.environ.get(WORKDIR_ENV)
    if workdir and os.path.basename(workdir).startswith("aksload-local-"):
        shutil.rmtree(workdir, ignore_errors=True)
