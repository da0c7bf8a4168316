"""Gunicorn settings for the embedded local service; `LocalService` loads this file.

azmlinfsrv runs gunicorn in its own process and passes ``-b 0.0.0.0:<port>`` on gunicorn's
command line, which outranks any config file, and it has no option for the host. Gunicorn's
documented way in from outside is ``GUNICORN_CMD_ARGS="--config <this file>"``; the server hooks
below then run inside the gunicorn master (the "arbiter"):

- ``on_starting`` runs before the arbiter creates its listening sockets, so rewriting ``bind``
  there makes every TCP listener (scoring port, and the health port if one was configured)
  loopback-only;
- ``when_ready`` starts a watchdog that shuts the server down once the process that started it
  is gone (a SIGKILLed pytest cannot run any cleanup), so the server cannot outlive its parent;
  ``on_exit`` then removes the server's temp dir, which that parent can no longer do;
- ``when_ready`` and ``post_worker_init`` log the lines ``LocalService`` waits for before it
  calls the server ready.

Gunicorn ignores names it does not know, so settings from newer gunicorn versions are harmless
on older ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from typing import Any

LOOPBACK = "127.0.0.1"
PARENT_PID_ENV = "AKSLOAD_LOCAL_PARENT_PID"
WORKDIR_ENV = "AKSLOAD_LOCAL_WORKDIR"
WATCHDOG_INTERVAL_S = 0.25

_orphaned = threading.Event()

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


def on_starting(server: Any) -> None:
    binds = list(dict.fromkeys(_loopback(address) for address in server.cfg.bind))
    server.cfg.set("bind", binds)
    server.log.info("aksload: listening on %s only", ", ".join(binds))


def when_ready(server: Any) -> None:
    # Gunicorn calls this only after creating every listening socket; LocalService waits for
    # this line before it trusts an answer on the port.
    server.log.info("aksload: bound %s", ", ".join(server.cfg.bind))
    parent = int(os.environ.get(PARENT_PID_ENV, "0") or 0)
    if not parent:
        return

    main_thread = threading.get_ident()  # hooks run in the arbiter's main thread

    def watch() -> None:
        # The arbiter is a direct child of the starter: when the starter dies the arbiter is
        # re-parented, so getppid() changes (no pid-reuse race, unlike polling the parent's pid).
        while os.getppid() == parent:
            time.sleep(WATCHDOG_INTERVAL_S)
        server.log.info("aksload: parent process %d is gone, shutting down", parent)
        _orphaned.set()
        # At the main thread: a process-wide signal may be delivered to this thread, and the
        # arbiter would then notice it only at its next one-second wake-up.
        signal.pthread_kill(main_thread, signal.SIGTERM)

    threading.Thread(target=watch, name="aksload-parent-watchdog", daemon=True).start()


def post_worker_init(worker: Any) -> None:
    # After the app, hence score.py's init(), has loaded: LocalService counts these lines so a
    # load test does not begin while some workers are still booting.
    worker.log.info("aksload: worker %d ready", worker.pid)


def on_exit(server: Any) -> None:
    # Normally LocalService.stop() deletes the temp dir (cwd + log) after reading what it needs;
    # a dead parent cannot, so the server tidies up after itself.
    workdir = os.environ.get(WORKDIR_ENV)
    if _orphaned.is_set() and workdir and os.path.basename(workdir).startswith("aksload-local-"):
        shutil.rmtree(workdir, ignore_errors=True)
