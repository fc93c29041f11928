"""The one middleware: echo ``X-Request-ID`` and turn any escaped exception into JSON.

Pure ASGI (no ``BaseHTTPMiddleware``): it wraps ``send`` only for a request that sent an id
to echo, so most requests pay no call per message.
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
        if request_id is not None:
            send = _echoing(send, request_id)
        # ``send`` is wrapped only to echo an id: most requests pay no call per message
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_ERROR_BODY)).encode()),
                        ],
                    }
                )
            except Exception:
                # the response was under way (the server refuses a second start): it can
                # only drop the connection
                raise exc from None
            await send({"type": "http.response.body", "body": _ERROR_BODY})


def _echoing(send: Send, request_id: bytes) -> Send:
    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
        await send(message)

    return send_with_id
