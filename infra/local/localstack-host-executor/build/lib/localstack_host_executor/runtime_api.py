"""The Lambda Runtime API (version 2018-06-01), served to one bootstrap process.

A bootstrap asks for work with ``GET /2018-06-01/runtime/invocation/next``,
which blocks until there is an invocation, and answers it with
``POST .../invocation/{id}/response`` or ``.../error``; a runtime that fails
before its first request reports ``POST /2018-06-01/runtime/init/error``
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).

One server serves one process: when the process goes away its server is
closed with it, so a request left blocked by a dead process can never take an
invocation meant for its successor.
"""

from __future__ import annotations

import json
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str = ""
    # Resolved with (is_error, body) when the runtime answers.
    result: Future = field(default_factory=Future)


class RuntimeApi:
    def __init__(self) -> None:
        self._queue: queue.Queue[Invocation] = queue.Queue()
        self._in_flight: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        # Set by the runtime's first request for work: its init is done.
        self.ready = threading.Event()
        self.init_error: bytes | None = None
        self.init_failed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """The value of AWS_LAMBDA_RUNTIME_API: host:port."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Closes the server; invocations not answered yet fail."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            pending = list(self._in_flight.values())
            self._in_flight.clear()
        while True:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for invocation in pending:
            if not invocation.result.done():
                invocation.result.set_exception(RuntimeError("the runtime went away"))

    def submit(self, invocation: Invocation) -> None:
        self._queue.put(invocation)

    # -- used by the request handler --

    def take(self) -> Invocation | None:
        """Blocks until an invocation is queued; None once the server stops."""
        while not self._stopped.is_set():
            try:
                invocation = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:
                self._in_flight[invocation.request_id] = invocation
            return invocation
        return None

    def answer(self, request_id: str, is_error: bool, body: bytes) -> bool:
        with self._lock:
            invocation = self._in_flight.pop(request_id, None)
        if invocation is None or invocation.result.done():
            return False
        invocation.result.set_result((is_error, body))
        return True

    def fail_init(self, body: bytes) -> None:
        self.init_error = body
        self.init_failed.set()


def _handler_for(api: RuntimeApi):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the Rust runtime client expects.
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404, b'{"errorMessage":"not found"}')
                return
            api.ready.set()
            invocation = api.take()
            if invocation is None:
                self.close_connection = True
                self._reply(500, b'{"errorMessage":"shutting down"}')
                return
            self._reply(
                200,
                invocation.payload,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                },
            )

        def do_POST(self):  # noqa: N802
            body = self._body()
            path = self.path
            if path == f"{PREFIX}/init/error":
                api.fail_init(body or _error_body(self.headers, "Runtime.InitError"))
                self._reply(202, b'{"status":"OK"}')
                return
            parts = path[len(PREFIX) :].strip("/").split("/") if path.startswith(PREFIX) else []
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                is_error = parts[2] == "error"
                if is_error and not body:
                    body = _error_body(self.headers, "Runtime.Unknown")
                if api.answer(parts[1], is_error, body):
                    self._reply(202, b'{"status":"OK"}')
                else:
                    self._reply(400, b'{"errorMessage":"no such invocation in flight"}')
                return
            self._reply(404, b'{"errorMessage":"not found"}')

    return Handler


def _error_body(headers, default_type: str) -> bytes:
    error_type = headers.get("Lambda-Runtime-Function-Error-Type") or default_type
    return json.dumps({"errorType": error_type, "errorMessage": error_type}).encode()
