"""A small JSON web service on 127.0.0.1, in a thread, for the tests to fetch from.

It listens as soon as it is built (the socket is bound and listening in the
constructor), so nothing waits for it to start. It counts TCP connections and requests
per path; ``gate`` routes hold their answer until the test sets ``release`` (and set
``arrived`` when the first request is in).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = Callable[["Handler", dict[str, list[str]]], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connections can be reused
    server: Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle and delayed ACKs
        # cost 40 ms per answer on a reused connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        with self.server.lock:
            self.server.hits[parts.path] += 1
        route = self.server.routes.get(parts.path)
        if route is None:
            self.send_json({"error": "not found"}, status=404)
            return
        route(self, parse_qs(parts.query))

    def send_json(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.connections = 0
        self.hits: Counter[str] = Counter()
        self.routes: dict[str, Route] = {}
        self.release = threading.Event()
        self.arrived = threading.Event()
        # a short poll interval: shutdown() waits for the loop to look at its flag
        self._thread = threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True)
        self._add_defaults()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that stopped reading (a size cap, a timeout) is expected here

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> Server:
        self._thread.start()
        return self

    def close(self) -> None:
        self.release.set()  # let held requests finish
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def json(self, path: str, body: Any, *, status: int = 200,
             headers: dict[str, str] | None = None,
             content_type: str = "application/json") -> None:
        """Serve ``body`` at ``path``."""
        self.routes[path] = lambda h, q: h.send_json(
            body, status=status, headers=headers, content_type=content_type
        )

    def _add_defaults(self) -> None:
        def redirect(h: Handler, q: dict[str, list[str]]) -> None:
            h.send_response(int(q.get("status", ["302"])[0]))
            h.send_header("Location", q["to"][0])
            h.send_header("Content-Length", "0")
            h.end_headers()

        def gate(h: Handler, q: dict[str, list[str]]) -> None:
            self.arrived.set()
            self.release.wait(10)
            h.send_json({"gate": "open"})

        def chunked(h: Handler, q: dict[str, list[str]]) -> None:
            # no Content-Length: the client only learns the size by reading
            size = int(q["bytes"][0])
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            body = b'{"pad": "' + b"x" * size + b'"}'
            try:
                for i in range(0, len(body), 65536):
                    piece = body[i:i + 65536]
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                h.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its cap

        def lying(h: Handler, q: dict[str, list[str]]) -> None:
            # declares a large body: refused on the header alone
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "50000000")
            h.end_headers()
            h.wfile.write(b"{}")
            h.close_connection = True

        def counter(h: Handler, q: dict[str, list[str]]) -> None:
            h.send_json({"hits": self.hits["/counter"]},
                        headers={"Cache-Control": q["cc"][0]} if "cc" in q else None)

        self.routes.update({
            "/redirect": redirect,
            "/gate": gate,
            "/chunked": chunked,
            "/lying": lying,
            "/counter": counter,
        })
