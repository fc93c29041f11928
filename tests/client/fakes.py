"""Servers that are not Siamese, in threads on 127.0.0.1, for what a real server never
does: scripted answers (malformed ones, 503s, a connection closed before any answer), and
a socket that accepts and never answers. They record every request's headers and body.
Each listens once built: nothing waits for it to start."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

CLOSE = "close"  # a scripted step: read the request, then close without answering


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def json_answer(value: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, orjson.dumps(value), dict(headers))


def allow(revision: str = "r1", decision_id: str = "d-1") -> Answer:
    return json_answer({"decision": True, "context": {
        "id": decision_id, "decision_id": decision_id, "revision": revision,
        "reason_user": "allowed by rule fake", "reason_admin": {"kind": "allow", "proof": []}}})


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # lowercase names
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        step = self.server.next_step(Seen(self.path, {k.lower(): v for k, v in
                                                      self.headers.items()}, body))
        if step == CLOSE:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        assert isinstance(step, Answer)
        self.send_response(step.status)
        self.send_header("Content-Type", step.content_type)
        self.send_header("Content-Length", str(len(step.body)))
        for k, v in step.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(step.body)


class FakeServer(ThreadingHTTPServer):
    """Answers POSTs with ``script``'s steps in turn, then repeats ``then`` forever."""

    daemon_threads = True

    def __init__(self, *script: Answer | str, then: Answer | str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.then = then if then is not None else (script[-1] if script else allow())
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a size cap) is expected here

    def next_step(self, seen: Seen) -> Answer | str:
        with self.lock:
            self.seen.append(seen)
            return self.script.pop(0) if self.script else self.then

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def fake(*script: Answer | str, then: Answer | str | None = None) -> Iterator[FakeServer]:
    server = FakeServer(*script, then=then)
    server._thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent() -> Iterator[str]:
    """A socket that accepts connections and never answers: its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> str:
    """The URL of a loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
