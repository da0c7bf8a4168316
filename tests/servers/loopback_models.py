"""A loopback model server on 127.0.0.1 that misbehaves the ways that matter to a gate.

It scores rows with a fixed function (`score(row)`), so a test knows every right answer, and
speaks the `azureml` or `mlflow` contract. Knobs, each one failure a gate must catch:

- `offset`: every prediction is off by it (a wrong model version);
- `thread_unsafe`: the model keeps the batch being scored in one shared buffer, as a model that
  is not thread-safe does: alone it answers right, but a request that overlaps another gets the
  other's predictions (`overlapped` counts the answers that were corrupted);
- `deployment`: the `azureml-model-deployment` header it answers with (a traffic rule that
  routes to the wrong deployment);
- `statuses`: status codes answered in turn before scoring (`200` scores), with Azure ML's
  headers for 424 (`ms-azureml-model-error-statuscode`, `-reason`).

Usable without pytest: `with LoopbackModel(...) as server: server.url`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def score(row: Mapping[str, Any]) -> float:
    """The right answer for `row`: a probability fixed by the row's content."""
    digest = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class LoopbackModel:
    """See the module docstring; `contract` is `azureml` or `mlflow`."""

    def __init__(
        self,
        contract: str = "azureml",
        offset: float = 0.0,
        thread_unsafe: bool = False,
        hold_s: float = 0.0,
        deployment: str | None = None,
        statuses: Sequence[int] = (),
    ) -> None:
        if contract not in ("azureml", "mlflow"):
            raise ValueError(f"contract must be 'azureml' or 'mlflow', not {contract!r}")
        self.contract, self.offset, self.thread_unsafe, self.hold_s = contract, offset, thread_unsafe, hold_s
        self.deployment = deployment
        self._statuses = itertools.cycle(statuses) if statuses else None
        self._lock = threading.Lock()
        self._shared_batch: list[Mapping[str, Any]] = []
        self._in_flight = 0
        self.overlapped = 0
        self.requests = 0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        # A short poll interval: shutdown() waits for it, and tests start many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/score"

    def __enter__(self) -> LoopbackModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _rows(self, body: Any) -> list[Mapping[str, Any]]:
        if self.contract == "mlflow":
            split = body["dataframe_split"]
            return [dict(zip(split["columns"], values, strict=True)) for values in split["data"]]
        return [body] if isinstance(body, dict) else list(body)

    def _answer(self, predictions: list[float]) -> bytes:
        if self.contract == "mlflow":
            return json.dumps({"predictions": predictions}).encode()
        return json.dumps({"result": predictions[0] if len(predictions) == 1 else predictions}).encode()

    def _predict(self, rows: list[Mapping[str, Any]]) -> list[float]:
        if not self.thread_unsafe:
            return [min(1.0, score(row) + self.offset) for row in rows]
        with self._lock:
            self._in_flight += 1
            self._shared_batch = rows  # the model's one input buffer
        time.sleep(self.hold_s)
        with self._lock:
            overlapped = self._shared_batch is not rows
            self.overlapped += overlapped
            batch = self._shared_batch
            self._in_flight -= 1
        # Another request replaced the buffer: answer with its predictions, as many as asked.
        return [min(1.0, score(batch[i % len(batch)]) + self.offset) for i in range(len(rows))]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, each answer waits ~40 ms for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                with model._lock:
                    model.requests += 1
                    status = next(model._statuses) if model._statuses else 200
                headers = {"Content-Type": "application/json"}
                if model.deployment:
                    headers["azureml-model-deployment"] = model.deployment
                if status == 424:
                    headers["ms-azureml-model-error-statuscode"] = "500"
                    headers["ms-azureml-model-error-reason"] = "model_error"
                answer = model._answer(model._predict(model._rows(body))) if status == 200 else b"upstream error"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler
