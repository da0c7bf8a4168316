"""Code for the Locust child process only. The pytest process must never import the modules in
this package (`import locust` monkey-patches the whole process with gevent); this
`__init__` imports nothing so that the paths below can be resolved safely.

The child protocol (what the runner in the pytest process does, and what the child expects)
------------------------------------------------------------------------------------------

Command, run in a fresh temporary working directory (`cwd`), in a new process group::

    [sys.executable, "-m", "locust",
     "-f", f"{child.RECORDER_PATH},{locustfile}",  # recorder first; locustfile = the user's
                                                   # or child.DEFAULT_LOCUSTFILE_PATH
     "--headless",                      # no web UI, start at once
     "--host", target.host,             # scheme://host:port of the scoring URI
     "--users", str(users), "--spawn-rate", str(spawn_rate),
     "--run-time", f"{math.ceil(run_s)}s",   # the whole run; the warm-up is its first part
     "--stop-timeout", str(math.ceil(request_timeout_s) + 1),
     "--exit-code-on-error", "0",
     "--only-summary",
     "--loglevel", "WARNING"]
    (+ "--html", path  when a report directory is configured)

* `-f recorder,locustfile`: Locust merges the files; the recorder defines no User.
* `--run-time` takes whole seconds only (Locust's timespan parser); round up.
* `--stop-timeout`: at the end, users finish the request they have in flight instead of being
  killed. Killing them would drop exactly the slowest requests (a request is in flight at the
  stop in proportion to its latency) and bias p99 low. One request timeout bounds a request;
  the extra second lets one that times out right at the limit be reported before the kill.
  (A user that is waiting between requests is stopped at once, so this rarely costs time.)
* `--exit-code-on-error 0`: failed requests are data, so any non-zero exit means the child
  crashed (1: bad locustfile/arguments/our init, 2: an exception inside a listener or user).
* `--only-summary`: no periodic stats tables on stdout; our progress lines replace them.
* `--loglevel WARNING`: stderr keeps Locust's warnings and tracebacks (shown on a crash),
  not its INFO chatter. Do NOT pass `--skip-log-setup`: the root logger would then hold only
  the recorder's warning capture, and Locust's warnings and tracebacks would reach no stream.
* Never `--json`: it moves Locust's summary to stdout as one large JSON document.

Environment: the parent's, minus every `LOCUST_*` variable (Locust reads its options from them)
and with `HOME` (and `USERPROFILE` on Windows) pointing at the temporary working directory,
because Locust also reads `~/.locust.conf` and `./locust.conf`/`./pyproject.toml`. Plus:

=============================  ================================================================
`AKSLOAD_SCORING_URI`          full scoring URI (`child.scoring_path()` is its path + query)
`AKSLOAD_AUTH_HEADERS`         JSON object of request headers. SECRET: only ever in this env
                               var; never printed, logged or written by the child; masked
                               (`***`) in failure messages and captured warnings
`AKSLOAD_ROWS_FILE`            JSON file: non-empty list of request bodies (objects)
`AKSLOAD_RESULT_FILE`          where the recorder writes the result JSON at quit (atomically:
                               temp file in the same directory + `os.replace`)
`AKSLOAD_WARMUP_S`             float, default 0: requests that START before
                               `started_at + warmup` are left out of totals, endpoints and
                               errors, but are in the windows
`AKSLOAD_WINDOW_S`             float, default 1.0: timeline window length
`AKSLOAD_REQUEST_TIMEOUT_S`    float, default 30: FastHttpUser connection and network timeout
`AKSLOAD_WAIT_MIN_S/_MAX_S`    floats, default 1 / 2: `wait_time = between(min, max)`
`AKSLOAD_PROGRESS_S`           float, default 2: interval of progress lines
`AKSLOAD_CA_BUNDLE`            optional PEM file of CAs to trust for https (--aks-ca-bundle);
                               `_locust.tls.ssl_context_factory` reads it
`AKSLOAD_RATE`                 open model (marker rate=; locustfile `open_model.py`): requests
                               per second of this process (with --processes N: rate / N)
`AKSLOAD_ARRIVALS`             open model: "constant" (default) or "poisson"
`AKSLOAD_RUN_TIME_S`           distributed runs only, instead of `--run-time`: the master ends
                               the run itself (see `distributed.py`)
`AKSLOAD_ABORT_ON`             optional JSON list of abort_on rules ("failure_rate > 50% over
                               10s windows"); `pytest_aksload.verdicts.abort.AbortWatch` checks them as
                               each window closes and the recorder ends the run when one holds
`AKSLOAD_STREAM_WINDOWS`       "1": print each closed window on stdout (below), for a parent
                               that judges the run as it goes (--aks-inconclusive=extend)
`AKSLOAD_WINDOW_DETAIL`        "1" (warmup="auto"): each window also holds "endpoints" ({name:
                               {"requests", "failures", "histogram"}}) and "errors" (failure
                               groups), so a warm-up found after the run cuts those too
=============================  ================================================================

A window is closed when its time is up, whether or not a request completed in it. A distributed
master closes a window once every worker that sends windows has sent it (worker reports come
every 3 s, so it judges a few seconds behind).

stdin (must be a pipe, or /dev/null; never a TTY, which Locust polls for its own keys):
lines `{"headers": {...}}`, each replacing the auth headers for all later requests (token
refresh in a long run), and `{"stop": true}` (`child.STOP_LINE`): end the run now, exactly as
when its run time is up (users finish their in-flight requests; the result is complete). Read
non-blocking on gevent's event loop. EOF ends reading; malformed lines are ignored with a
warning that does not quote them.

stdout: lines `AKSLOAD-PROGRESS {json}` (`child.PROGRESS_PREFIX`) every `AKSLOAD_PROGRESS_S`
seconds after the test starts, with `elapsed_s` (since test start), `users` (running now),
`requests` and `failures` (completed so far, warm-up included), `rps` (completions per second
over the last ~5 s), `p95_ms` (measured part so far; null during warm-up) and `warmup` (bool).
With `AKSLOAD_STREAM_WINDOWS`, also lines `AKSLOAD-WINDOW {json}` (`child.WINDOW_PREFIX`), one
per closed window, in the result file's window form.
Everything else on stdout/stderr is Locust's own output (e.g. the final summary table), to be
shown to the user when the child crashes. The parent must drain both pipes continuously.

Distributed runs replace `--run-time` with `--processes N` (local workers), or with `--master
--expect-workers N --expect-workers-max-wait 120 --master-bind-host H --master-bind-port P`
(remote `aksload-worker`s, which get the settings, rows and headers from the master in a Locust
message: `distributed.py`). Only the master reads stdin, prints progress and writes the result.

Exit: after the run time and stop timeout, Locust fires `quitting` and the recorder writes the
result file (format in `pytest_aksload._locust.recorder`, parsed by `pytest_aksload.stats.result`).
A child stopped with SIGTERM still writes it, with `"complete": false`; one stopped by an
abort_on rule writes it with `"aborted": {"rule", "reason", "at_s"}`. No result file (and a
non-zero exit) means it crashed before the test started.
"""
