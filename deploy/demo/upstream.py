"""A demo upstream: answers every request with what it received, as JSON.

    python deploy/demo/upstream.py PORT
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({
            "method": self.command,
            "path": self.path,
            "subject": self.headers.get("X-Subject"),
            "decision_id": self.headers.get("X-Siamese-Decision-Id"),
            "role": self.headers.get("X-User-Role"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()
