"""The local service's front (`local/front.py`) against a fake scoring server on 127.0.0.1 whose
answers the test releases by event: the in-flight count, 429 exactly above the ceiling, per
deployment, 408 at the timeout while the worker still scores, and the HTTP it relays."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable

import pytest

from pytest_aksload.local.front import Front, FrontConfig

BODY = b'{"int00": 1}'
ANSWER = b'{"result": 0.5}'


class Upstream:
    """A scoring server that holds every request until `release()`: a worker busy scoring."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.released = asyncio.Event()
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
        )
        self.received.append(head + await reader.readexactly(length))
        await self.released.wait()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
            + str(len(ANSWER)).encode()
            + b"\r\n\r\n"
            + ANSWER
        )
        await writer.drain()
        writer.close()


def request(path: str = "/score", headers: dict[str, str] | None = None, body: bytes = BODY) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:-2])}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


class Client:
    """One keep-alive connection to the front."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def __aenter__(self) -> Client:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ask(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        await self.send(data)
        return await asyncio.wait_for(read_response(self.reader), 10)


def run(
    test: Callable[[Front, Upstream, int], Awaitable[None]],
    ceiling: int | None = 2,
    timeout_s: float = 30.0,
    deployments: tuple[str, ...] = (),
) -> None:
    async def main() -> None:
        upstream = Upstream()
        upstream_server = await upstream.start()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        front = Front(FrontConfig(upstream.port, timeout_s, ceiling, deployments, "2 × max_concurrent 1 × 1 instance"))
        serving = asyncio.ensure_future(front.serve(listener))
        try:
            await asyncio.wait_for(test(front, upstream, listener.getsockname()[1]), 20)
        finally:
            upstream.released.set()
            serving.cancel()
            upstream_server.close()

    asyncio.run(main())


async def until(condition: Callable[[], bool]) -> None:
    """Wait, bounded, for something the front's event loop does."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 5 s")


def test_429_exactly_above_the_ceiling_and_in_flight_counted_until_answered() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        async with Client(port) as one, Client(port) as two, Client(port) as three:
            await one.send(request())
            await two.send(request())
            await until(lambda: len(upstream.received) == 2)
            assert front.state()["in_flight"] == 2
            started = time.monotonic()
            status, _headers, body = await three.ask(request())
            assert status == 429 and time.monotonic() - started < 1  # at once, not after a worker frees
            assert "at most 2 in flight (2 × max_concurrent 1 × 1 instance)" in json.loads(body)["message"]
            assert front.state()["in_flight"] == 2 and front.state()["throttled"] == 1
            assert len(upstream.received) == 2  # the refused request never reached a worker
            upstream.released.set()
            assert (await read_response(one.reader))[0] == (await read_response(two.reader))[0] == 200
            assert front.state()["in_flight"] == 0
            # The refused client's connection goes on, and now there is room.
            status, headers, body = await three.ask(request())
            assert (status, body, headers["connection"]) == (200, ANSWER, "keep-alive")

    run(test)


def test_the_count_starts_with_the_head_so_a_held_body_holds_its_place() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        upstream.released.set()
        async with Client(port) as one, Client(port) as two, Client(port) as three:
            head, body = request().split(b"\r\n\r\n")
            await one.send(head + b"\r\n\r\n")
            await two.send(head + b"\r\n\r\n")
            await until(lambda: front.state()["in_flight"] == 2)
            assert (await three.ask(request()))[0] == 429
            await one.send(body)  # released by the client: answered, and its place is free again
            assert (await read_response(one.reader))[0] == 200
            assert (await three.ask(request()))[0] == 200
            await two.send(body)
            assert (await read_response(two.reader))[0] == 200

    run(test)


def test_the_ceiling_is_per_deployment() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        blue = {"azureml-model-deployment": "blue"}
        async with Client(port) as one, Client(port) as two, Client(port) as three, Client(port) as four:
            await one.send(request())  # no header: the first deployment, blue
            await two.send(request(headers=blue))
            await until(lambda: front.state()["in_flight"] == 2)
            assert front.state()["in_flight_by_deployment"] == {"blue": 2}
            assert (await three.ask(request(headers=blue)))[0] == 429
            await three.send(request(headers={"azureml-model-deployment": "green"}))  # green has its own room
            await four.send(request(headers={"azureml-model-deployment": "nope"}))  # no deployment: score.py's 404
            await until(lambda: len(upstream.received) == 4)
            assert front.state()["in_flight_by_deployment"] == {"blue": 2, "green": 1}
            upstream.released.set()
            for client in (one, two, three, four):
                assert (await read_response(client.reader))[0] == 200

    run(test, deployments=("blue", "green"))


def test_408_at_the_timeout_while_the_worker_still_scores() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        async with Client(port) as client:
            started = time.monotonic()
            await client.send(request())
            await until(lambda: len(upstream.received) == 1)
            assert front.state()["in_flight"] == 1  # counted until answered
            status, headers, body = await asyncio.wait_for(read_response(client.reader), 5)
            elapsed = time.monotonic() - started
            assert status == 408 and 0.3 <= elapsed < 3, elapsed
            assert "request timeout of 0.3 s" in json.loads(body)["message"]
            assert headers["connection"] == "close"
            assert front.state()["in_flight"] == 0 and front.state()["timed_out"] == 1
            assert not upstream.released.is_set()  # the worker never answered: the front did, at the timeout

    run(test, timeout_s=0.3)


def test_without_a_ceiling_nothing_is_refused() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        clients = [Client(port) for _ in range(10)]
        for client in clients:
            await client.__aenter__()
            await client.send(request())
        await until(lambda: front.state()["in_flight"] == 10)
        upstream.released.set()
        for client in clients:
            assert (await read_response(client.reader))[0] == 200
            await client.__aexit__()
        assert front.state()["throttled"] == 0

    run(test, ceiling=None)


def test_relays_the_request_and_speaks_http_with_the_client() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        upstream.released.set()
        async with Client(port) as client:
            headers = {"Authorization": "Bearer k", "Expect": "100-continue", "Connection": "keep-alive"}
            head, body = request(headers=headers).split(b"\r\n\r\n")
            await client.send(head + b"\r\n\r\n")
            assert await client.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.send(body)
            assert (await read_response(client.reader))[:3:2] == (200, ANSWER)
            forwarded = upstream.received[0]
            assert b"Authorization: Bearer k\r\n" in forwarded and forwarded.endswith(b"\r\n\r\n" + BODY)
            assert b"Expect" not in forwarded and b"Connection: close\r\n" in forwarded
            assert (await client.ask(request("/aksload/front", body=b"")))[0] == 200
            status, headers_, _ = await client.ask(request(headers={"Transfer-Encoding": "chunked"}))
            assert (status, headers_["connection"]) == (411, "close")

    run(test)


def test_a_gone_scoring_server_is_a_502() -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        front._config = FrontConfig(_closed_port(), 5.0)
        async with Client(port) as client:
            status, _headers, body = await client.ask(request())
            assert status == 502 and "did not answer" in json.loads(body)["message"]
            assert front.state()["in_flight"] == 0

    run(test)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "head",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /score HTTP/1.1\r\nno colon\r\n\r\n",
        b"POST /score HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_a_malformed_head_is_a_400(head: bytes) -> None:
    async def test(front: Front, upstream: Upstream, port: int) -> None:
        async with Client(port) as client:
            assert (await client.ask(head))[0] == 400

    run(test)
