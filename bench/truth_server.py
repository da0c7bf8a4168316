"""A scoring server for bench/accuracy.py that times each request the way an access log would.

One asyncio event loop on one thread (no request threads queueing for the GIL behind each
other): a request is timed from the moment its last byte is read to the moment its response is
handed to the kernel, and that served time is the server-side truth a client-side percentile is
held to. The n-th request (over all connections, in arrival order) is answered after
`delays_s[n % len(delays_s)]`. HTTP/1.1 keep-alive, every request answered `{"result": 0.25}`.

    with TruthServer(delays_s=[0.3]) as server:
        ...load server.url...
        served = server.requests()  # [(arrived_at epoch s, served_s, delay_s), ...] in arrival order
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

BODY = b'{"result": 0.25}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class TruthServer:
    def __init__(self, delays_s: Sequence[float]) -> None:
        self._delays_s = list(delays_s)
        self._log: list[tuple[float, float, float]] = []
        self._count = 0
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="truth-server", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/score"

    def requests(self) -> list[tuple[float, float, float]]:
        """(arrival epoch s, served s, drawn delay s) of every answered request, in arrival order."""
        return sorted(self._log)

    def __enter__(self) -> TruthServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("truth server did not start")
        return self

    def __exit__(self, *_exc_info: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=256)
        )
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.close()

    def _next_delay(self) -> float:
        delay = self._delays_s[self._count % len(self._delays_s)]
        self._count += 1
        return delay


class _Connection(asyncio.Protocol):
    def __init__(self, server: TruthServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (head_end := self._buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return
            self._buffer = self._buffer[end:]
            arrived, started = time.time(), time.perf_counter()
            delay = self._server._next_delay()
            self._server._loop.call_later(delay, self._answer, arrived, started, delay)

    def _answer(self, arrived: float, started: float, delay: float) -> None:
        if self._transport.is_closing():
            return
        self._transport.write(RESPONSE)
        self._server._log.append((arrived, time.perf_counter() - started, delay))
