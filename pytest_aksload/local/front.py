"""The front of the embedded local service when it plays a managed online endpoint.

Azure ML's front end answers for a deployment before its instances see a request: HTTP 429 at
once while ``2 × max_concurrent_requests_per_instance × instance_count`` requests are in flight,
and HTTP 408 when a request is not answered within ``request_timeout_ms`` (the instance goes on
scoring it; its late answer goes nowhere). azmlinfsrv's gunicorn sync workers can do neither: a
request waiting for a worker sits in the kernel's accept queue, where no worker sees it, and a
worker that is scoring answers nothing else. So this small asyncio proxy sits in front of them,
in a process of its own, on the scoring port; the workers listen on another loopback port behind it.

- A request is in flight from the moment its head has arrived until its answer is written,
  counted per deployment (the ``azureml-model-deployment`` header; none: the first deployment),
  as Azure's ceiling is per deployment. A request beyond the ceiling is answered 429 at once,
  without waiting for its body; the body is then read and dropped, so the connection stays usable.
- Every admitted request goes to the workers at once; those no worker can take yet wait in the
  accept queue, as in an Azure instance, whose single azmlinfsrv worker scores one at a time.
- 408 at the timeout, counted from the head's arrival, whatever the worker is doing.
- ``GET /aksload/front`` answers the counts (in flight, throttled, timed out) as JSON, for tests
  and for a user who wants to see the endpoint from the inside.

The gunicorn master starts it (``gunicorn_conf.py``) with the listening socket of the scoring port,
which the master bound on 127.0.0.1, and its settings in ``AKSLOAD_SERVER_FRONT``. It dies with the
master (``lifeline.hold``) and brings the master down when it fails itself: a service without its
front refuses every connection, better to stop and say so. Without a ceiling or a timeout it does not
run at all: the workers take the scoring port as before, at no cost.

Standard library only, plus ``lifeline``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import traceback
from collections import Counter
from dataclasses import dataclass

from pytest_aksload import lifeline
from pytest_aksload.local.service import FRONT_ENV

STATE_PATH = b"/aksload/front"
READY_LOG_MARK = "aksload: front ready"
DEPLOYMENT_HEADER = b"azureml-model-deployment"
HEAD_LIMIT = 64 * 1024
# A kept-alive connection that sends no new request for this long is closed, so idle clients
# cannot pile up for ever.
IDLE_S = 120.0
# Headers about one hop: the front speaks keep-alive with clients and one request per connection
# with the workers (gunicorn's sync workers close every connection after one answer anyway).
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"expect", b"te", b"upgrade", b"proxy-connection"})
_REASONS = {408: b"Request Timeout", 411: b"Length Required", 429: b"Too Many Requests", 502: b"Bad Gateway"}


@dataclass(frozen=True)
class FrontConfig:
    """What the front enforces. `ceiling` None: no 429; `deployments` empty: one unnamed deployment."""

    upstream_port: int
    timeout_s: float
    ceiling: int | None = None
    deployments: tuple[str, ...] = ()
    ceiling_reason: str = ""  # how the ceiling was computed, quoted in the 429's message


@dataclass
class _Request:
    line: bytes  # the request line
    header_lines: list[bytes]
    headers: dict[bytes, bytes]  # lower-case names
    keep_alive: bool
    length: int


class Front:
    """The proxy: per-deployment in-flight counts, 429 over the ceiling, 408 at the timeout."""

    def __init__(self, config: FrontConfig) -> None:
        self._config = config
        self._first = config.deployments[0] if config.deployments else ""
        self._names = frozenset(config.deployments)
        self.in_flight: Counter[str] = Counter()
        self.answered: Counter[int] = Counter()  # statuses the front gave itself

    async def serve(self, listener: socket.socket) -> None:
        server = await asyncio.start_server(self._connection, sock=listener, limit=HEAD_LIMIT)
        print(f"{READY_LOG_MARK} on {listener.getsockname()[0]}:{listener.getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    def state(self) -> dict[str, object]:
        return {
            "in_flight": sum(self.in_flight.values()),
            "in_flight_by_deployment": {name: count for name, count in self.in_flight.items() if name and count},
            "ceiling": self._config.ceiling,
            "request_timeout_s": self._config.timeout_s,
            "throttled": self.answered[429],
            "timed_out": self.answered[408],
        }

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                idle = loop.call_later(IDLE_S, writer.transport.abort)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                finally:
                    idle.cancel()
                if not await self._exchange(head, reader, writer):
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _exchange(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection may carry another."""
        request = _parse(head)
        if request is None:
            _answer(writer, 400, "malformed HTTP request head", keep_alive=False)
            return False
        if request.length < 0:
            _answer(writer, 411, "send the body with a Content-Length header", keep_alive=False)
            return False
        if request.line.split(b" ", 2)[1] == STATE_PATH:
            _answer(writer, 200, self.state(), keep_alive=request.keep_alive)
            return await _skip_body(request, reader, writer)
        deployment = self._deployment(request.headers.get(DEPLOYMENT_HEADER, b""))
        ceiling = self._config.ceiling
        if ceiling is not None and deployment is not None and self.in_flight[deployment] >= ceiling:
            self.answered[429] += 1
            _answer(writer, 429, self._throttled_message(), keep_alive=request.keep_alive)
            return await _skip_body(request, reader, writer)
        key = deployment or ""
        self.in_flight[key] += 1
        try:
            response = await asyncio.wait_for(self._forward(request, reader, writer), self._config.timeout_s)
        except asyncio.TimeoutError:
            self.answered[408] += 1
            message = f"request timed out: no answer within the request timeout of {self._config.timeout_s:g} s"
            _answer(writer, 408, message, keep_alive=False)
            return False
        except OSError as error:  # the workers are gone (the service is stopping) or refused
            _answer(writer, 502, f"the scoring server did not answer: {error}", keep_alive=False)
            return False
        finally:
            self.in_flight[key] -= 1
        writer.write(response.data)
        await writer.drain()
        return response.keep_alive

    def _deployment(self, header: bytes) -> str | None:
        """The deployment a request counts against; None for a name that is none (its 404 comes from score.py)."""
        name = header.strip().decode("latin-1")
        if not name or not self._names:
            return self._first
        return name if name in self._names else None

    def _throttled_message(self) -> str:
        reason = f" ({self._config.ceiling_reason})" if self._config.ceiling_reason else ""
        return (
            f"too many requests: this deployment takes at most {self._config.ceiling} in flight{reason}; "
            "retry later, add instances or raise max_concurrent"
        )

    async def _forward(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Response:
        if request.headers.get(b"expect", b"").lower() == b"100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(request.length)
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._config.upstream_port)
        try:
            kept = [line for line in request.header_lines if _name(line) not in _HOP_BY_HOP]
            upstream_writer.write(b"\r\n".join([request.line, *kept, b"Connection: close", b"", body]))
            data = await upstream_reader.read()  # the worker closes the connection after its answer
        finally:
            upstream_writer.close()
        return _relay(data, request.keep_alive)


@dataclass
class _Response:
    data: bytes
    keep_alive: bool


def _name(header_line: bytes) -> bytes:
    return header_line.partition(b":")[0].strip().lower()


def _parse(head: bytes) -> _Request | None:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        headers[name.strip().lower()] = value.strip()
    connection = headers.get(b"connection", b"").lower()
    keep_alive = b"close" not in connection if parts[2] == b"HTTP/1.1" else b"keep-alive" in connection
    if b"transfer-encoding" in headers:
        length = -1
    else:
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            return None
        if length < 0:
            return None
    return _Request(lines[0], lines[1:], headers, keep_alive, length)


def _relay(data: bytes, keep_alive: bool) -> _Response:
    """The worker's answer with the client connection's own Connection header."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        body = b'{"message": "the scoring server closed the connection without an answer"}'
        return _Response(_message_bytes(502, body, keep_alive=False), False)
    lines = data[:end].split(b"\r\n")
    names = {_name(line) for line in lines[1:]}
    # A body delimited by the end of the connection can only be relayed the same way.
    keep_alive = keep_alive and (b"content-length" in names or b"transfer-encoding" in names)
    kept = [line for line in lines[1:] if _name(line) not in _HOP_BY_HOP]
    connection = b"Connection: keep-alive" if keep_alive else b"Connection: close"
    return _Response(b"\r\n".join([lines[0], *kept, connection]) + data[end:], keep_alive)


async def _skip_body(request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Read and drop the body of a request answered without it (closing a socket with unread data
    resets it, and the client may lose the answer); whether the connection goes on."""
    if request.headers.get(b"expect", b"").lower() == b"100-continue":
        return False  # a client that waits for "100 Continue" sends no body after a final answer
    timer = asyncio.get_running_loop().call_later(IDLE_S, writer.transport.abort)
    try:
        await reader.readexactly(request.length)
    finally:
        timer.cancel()
    return request.keep_alive


def _answer(writer: asyncio.StreamWriter, status: int, message: object, *, keep_alive: bool) -> None:
    body = json.dumps(message if isinstance(message, dict) else {"message": message}).encode()
    writer.write(_message_bytes(status, body, keep_alive=keep_alive))


def _message_bytes(status: int, body: bytes, *, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} ".encode()
        + _REASONS.get(status, b"OK" if status == 200 else b"Bad Request")
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + (b"\r\nConnection: keep-alive\r\n\r\n" if keep_alive else b"\r\nConnection: close\r\n\r\n")
    )
    return head + body


def main() -> None:
    lifeline.hold()  # the gunicorn master started this process: die with it
    fields = json.loads(os.environ.pop(FRONT_ENV))
    listener = socket.socket(fileno=fields.pop("fd"))
    config = FrontConfig(**{**fields, "deployments": tuple(fields.get("deployments", ()))})
    try:
        asyncio.run(Front(config).serve(listener))
    except BaseException:
        traceback.print_exc()
        print("aksload: the front failed; stopping the local service", file=sys.stderr, flush=True)
        os.kill(os.getppid(), signal.SIGTERM)
        raise


if __name__ == "__main__":
    main()
