"""A real HTTP scoring server on 127.0.0.1 for tests that drive a Locust child against it.

It behaves like a scoring endpoint (`POST <any path>` -> `{"result": p}`), with knobs a test
needs to know the truth of what a load generator should have measured: a per-request delay
taken in turn from a fixed list, failure injection every Nth request, and a log of what it
received (arrival time, applied delay, outcome, the Authorization header, the body).
Usable without pytest: `with ScoringServer(...) as server: server.url`.

For fault tests it also misbehaves on purpose: `outcomes` scripts the answer of each request
(throttling, auth expiry, malformed bodies, connection resets, hangs), `tls` serves https with a
certificate from `self_signed_certificate`, and `die()` kills it mid-run like a crashed pod.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when a load generator opens 20 connections at
    # once, and the kernel then retries the SYNs after a second: an artefact, not latency.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed TLS handshakes and resets are what fault tests provoke; no tracebacks on stderr


@dataclass(frozen=True)
class Received:
    """One request as the server handled it."""

    arrived_at: float  # epoch seconds, when its headers had been read
    path: str
    delay_s: float  # measured time the server slept before answering
    outcome: str  # "ok", "slow", or one of OUTCOMES
    authorization: str | None
    body: bytes
    client_port: int  # one per client connection: tells the load generator's users apart
    headers: dict[str, str] = field(default_factory=dict)  # every request header, as received


# What a request can be answered with (`ScoringServer(outcomes=...)`).
OUTCOMES = (
    "ok",
    "http500",  # HTTP 500 with a text body: the model crashed
    "error-string",  # HTTP 200 whose body is a JSON string: a scoring script returning str(exception)
    "malformed",  # HTTP 200 with a truncated JSON body
    "unauthorized",  # HTTP 401: the key expired or was rotated
    "forbidden",  # HTTP 403
    "throttle429",  # HTTP 429 with Retry-After: rate limited
    "throttle503",  # HTTP 503: no free replica
    "reset",  # the connection is reset (TCP RST) without an answer
    "hang",  # the request is read and never answered (until the server stops)
    "echo-auth",  # HTTP 401 quoting the Authorization header back, as some gateways do
)


class ScoringServer:
    """Threaded HTTP/1.1 (keep-alive) server answering like a scoring endpoint.

    * `delays_s`: the n-th scoring request (0-based, over all connections) sleeps
      `delays_s[n % len(delays_s)]` before answering; `delay_of`, a function of n giving its
      delay, replaces the list (e.g. to change the service's latency over time).
    * `fail_every`: every `fail_every`-th scoring request fails, alternately with HTTP 500 and
      with HTTP 200 carrying an error string (what the notebook's scoring script did).
    * `double_encode_every`: every such request answers the double-encoded form
      (`"{\\"result\\": p}"`), which is valid.
    * `outcomes`: a function of the request number n giving one of `OUTCOMES` (replaces `fail_every`);
      with `spare_preflight`, pre-flight requests (python-requests) are always answered "ok".
    * `tls`: `(certfile, keyfile)` to serve https (`host` is then `https://localhost:<port>`).
    * `slots`: at most this many requests are served at once (the delay is the service time in a
      slot; the rest queue), so the capacity is known: slots / delay requests per second. A long
      delay with `slots=1` stalls the whole service, like a stop-the-world pause.
    * `GET /health` answers `ok`; `/slow` sleeps `slow_s` (to provoke client timeouts).
    """

    def __init__(
        self,
        delays_s: Sequence[float] = (0.0,),
        *,
        fail_every: int = 0,
        double_encode_every: int = 0,
        slow_s: float = 2.0,
        outcomes: Callable[[int], str] | None = None,
        delay_of: Callable[[int], float] | None = None,
        spare_preflight: bool = False,
        slots: int = 0,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.delays_s = list(delays_s)
        self.fail_every = fail_every
        self.double_encode_every = double_encode_every
        self.slow_s = slow_s
        self.outcomes = outcomes
        self.delay_of = delay_of
        self.spare_preflight = spare_preflight
        self._slots = threading.Semaphore(slots) if slots else contextlib.nullcontext()
        self.tls = tls
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._scoring_count = 0
        self._stopping = threading.Event()  # releases "hang" handlers
        self._connections: set[socket.socket] = set()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            # Handshake in the handler thread: a client refusing the certificate must not stall accept().
            self._httpd.socket = context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scoring-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        if self.tls is not None:
            return f"https://localhost:{self.port}"  # the name the certificate is issued to
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.host}/score"

    def __enter__(self) -> ScoringServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def die(self) -> None:
        """Crash like a killed pod: stop listening (new connections are refused) and reset every open one."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            _reset(connection)

    def scoring_requests(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path not in ("/health", "/slow")]

    def _plan(self) -> tuple[float, str, bool]:
        """Delay, outcome and encoding of the next scoring request, decided under the lock."""
        with self._lock:
            n = self._scoring_count
            self._scoring_count += 1
        delay = self.delay_of(n) if self.delay_of is not None else self.delays_s[n % len(self.delays_s)]
        outcome = "ok"
        if self.outcomes is not None:
            outcome = self.outcomes(n)
        elif self.fail_every and n % self.fail_every == self.fail_every - 1:
            outcome = "http500" if (n // self.fail_every) % 2 == 0 else "error-string"
        double = bool(self.double_encode_every) and n % self.double_encode_every == 0
        return delay, outcome, double

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a load balancer in front of AKS

            def setup(self) -> None:
                if server.tls is not None:
                    self.request.do_handshake()
                with server._lock:
                    server._connections.add(self.request)
                super().setup()
                # Headers and body go out as two writes; with Nagle's algorithm the second
                # waits for the client's delayed ACK (~40 ms), which would swamp the delays.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.request)
                with contextlib.suppress(OSError):  # a reset or killed connection
                    super().finish()

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
                if server.spare_preflight and self.headers.get("User-Agent", "").startswith("python-requests"):
                    outcome = "ok"
                with server._slots:
                    slept = time.perf_counter()
                    time.sleep(delay)
                # The truth a client measurement is held to: the delay actually applied,
                # sleep overshoot included.
                self._record(body, time.perf_counter() - slept, outcome, arrived)
                if outcome == "http500":
                    self._send(500, b"Internal Server Error: model crashed", "text/plain")
                elif outcome == "malformed":
                    self._send(200, b'{"result": 0.')
                elif outcome in ("unauthorized", "forbidden"):
                    status = 401 if outcome == "unauthorized" else 403
                    self._send(status, b'{"error": "invalid or expired key"}')
                elif outcome == "echo-auth":
                    self._send(401, f"invalid credentials: {self.headers.get('Authorization')}".encode(), "text/plain")
                elif outcome == "throttle429":
                    self._send(429, b'{"error": "too many requests"}', extra={"Retry-After": "1"})
                elif outcome == "throttle503":
                    self._send(503, b"no healthy upstream", "text/plain")
                elif outcome == "reset":
                    self.close_connection = True
                    _reset(self.connection)
                elif outcome == "hang":
                    self.close_connection = True
                    server._stopping.wait()
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
                    headers=dict(self.headers),
                )
                with server._lock:
                    server.received.append(entry)

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str = "application/json",
                extra: dict[str, str] | None = None,
            ) -> None:
                try:
                    self.send_response(status)
                    for name, value in (extra or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test, end of run) or the server died

        return Handler


def on_the_threshold_cycle(threshold_s: float, seed: int = 11) -> list[float]:
    """100 delays a server answers with in turn: 95 under `threshold_s`, 5 over, shuffled. Exactly
    95 % of its requests are faster than the threshold, so its true p95 sits on it; and unlike
    random draws, any run of consecutive requests holds that share to within 5 requests."""
    rng = random.Random(seed)
    fast = [rng.uniform(0.2, 0.9) * threshold_s for _ in range(95)]
    slow = [rng.uniform(1.1, 2.0) * threshold_s for _ in range(5)]
    delays = fast + slow
    rng.shuffle(delays)
    return delays


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset(connection: socket.socket) -> None:
    """Abort a TCP connection with RST (SO_LINGER 0), as a crashing server or a proxy dropping it does."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    connection.close()


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """A fresh self-signed certificate for `localhost` and 127.0.0.1: (certfile, keyfile) PEM paths.

    The certificate is its own CA, so passing the certfile as a CA bundle makes a client trust it.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = f"{directory}/cert.pem", f"{directory}/key.pem"
    with open(certfile, "wb") as file:
        file.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return certfile, keyfile
