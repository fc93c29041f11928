"""The one middleware: echo ``X-Request-ID`` and turn any escaped exception into JSON.

Pure ASGI (no ``BaseHTTPMiddleware``): it wraps ``send`` and nothing else, so it costs a
function call per message.
"""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("siamese.server")

__all__ = ["RequestIdMiddleware"]

_ERROR_BODY = orjson.dumps({"error": {"status": 500, "message": "internal error"}})


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value
                break
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if request_id is not None:
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"x-request-id", request_id),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # the response is under way: the server can only drop the connection
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_ERROR_BODY)).encode()),
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": _ERROR_BODY})
