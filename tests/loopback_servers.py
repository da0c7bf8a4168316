"""A real HTTP scoring server on 127.0.0.1 for tests that drive a Locust child against it.

It behaves like a scoring endpoint (`POST <any path>` -> `{"result": p}`), with knobs a test
needs to know the truth of what a load generator should have measured: a per-request delay
taken in turn from a fixed list, failure injection every Nth request, and a log of what it
received (arrival time, applied delay, outcome, the Authorization header, the body).
Usable without pytest: `with ScoringServer(...) as server: server.url`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when a load generator opens 20 connections at
    # once, and the kernel then retries the SYNs after a second: an artefact, not latency.
    request_queue_size = 128
    daemon_threads = True


@dataclass(frozen=True)
class Received:
    """One request as the server handled it."""

    arrived_at: float  # epoch seconds, when its headers had been read
    path: str
    delay_s: float  # measured time the server slept before answering
    outcome: str  # "ok", "http500", "error-string", "slow"
    authorization: str | None
    body: bytes
    client_port: int  # one per client connection: tells the load generator's users apart


class ScoringServer:
    """Threaded HTTP/1.1 (keep-alive) server answering like a scoring endpoint.

    * `delays_s`: the n-th scoring request (0-based, over all connections) sleeps
      `delays_s[n % len(delays_s)]` before answering.
    * `fail_every`: every `fail_every`-th scoring request fails, alternately with HTTP 500 and
      with HTTP 200 carrying an error string (what the notebook's scoring script did).
    * `double_encode_every`: every such request answers the double-encoded form
      (`"{\\"result\\": p}"`), which is valid.
    * `GET /health` answers `ok`; `/slow` sleeps `slow_s` (to provoke client timeouts).
    """

    def __init__(
        self,
        delays_s: Sequence[float] = (0.0,),
        *,
        fail_every: int = 0,
        double_encode_every: int = 0,
        slow_s: float = 2.0,
    ) -> None:
        self.delays_s = list(delays_s)
        self.fail_every = fail_every
        self.double_encode_every = double_encode_every
        self.slow_s = slow_s
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._scoring_count = 0
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scoring-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.host}/score"

    def __enter__(self) -> ScoringServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def scoring_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path not in ("/health", "/slow")]

    def _plan(self) -> tuple[float, str, bool]:
        """Delay, outcome and encoding of the next scoring request, decided under the lock."""
        with self._lock:
            n = self._scoring_count
            self._scoring_count += 1
        delay = self.delays_s[n % len(self.delays_s)]
        outcome = "ok"
        if self.fail_every and n % self.fail_every == self.fail_every - 1:
            outcome = "http500" if (n // self.fail_every) % 2 == 0 else "error-string"
        double = bool(self.double_encode_every) and n % self.double_encode_every == 0
        return delay, outcome, double

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a load balancer in front of AKS

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes; with Nagle's algorithm the second
                # waits for the client's delayed ACK (~40 ms), which would swamp the delays.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass  # keep test output clean

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self._record(b"", 0.0, "ok")
                self._send(200, b"ok", "text/plain")

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/slow":
                    self._record(body, server.slow_s, "slow", arrived)
                    time.sleep(server.slow_s)
                    self._send(200, b'{"result": 0.5}')
                    return
                delay, outcome, double = server._plan()
                slept = time.perf_counter()
                time.sleep(delay)
                # The truth a client measurement is held to: the delay actually applied,
                # sleep overshoot included.
                self._record(body, time.perf_counter() - slept, outcome, arrived)
                if outcome == "http500":
                    self._send(500, b"Internal Server Error: model crashed", "text/plain")
                elif outcome == "error-string":
                    # What a scoring script returning `str(exception)` produces: a JSON string.
                    self._send(200, json.dumps("Error: could not convert string to float: 'abc'").encode())
                else:
                    payload = json.dumps({"result": 0.25})
                    self._send(200, (json.dumps(payload) if double else payload).encode())

            def _record(self, body: bytes, delay: float, outcome: str, arrived: float | None = None) -> None:
                entry = Received(
                    arrived_at=arrived or time.time(),
                    path=self.path,
                    delay_s=delay,
                    outcome=outcome,
                    authorization=self.headers.get("Authorization"),
                    body=body,
                    client_port=self.client_address[1],
                )
                with server._lock:
                    server.received.append(entry)

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test, end of run)

        return Handler


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
