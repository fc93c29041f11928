"""The decision routes speak ASGI directly: a :class:`Call` reads the request, an
:class:`Endpoint` sends the JSON answer. No Request or Response objects on the hot path: a
cached decision is a few microseconds of our code, and the framework's per-request objects
would cost as much again (see the README's performance section)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Receive, Scope, Send

from ..decision.jsonsafe import jsonable
from ..decision.models import RequestError
from ..decision.service import NotReady
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = ["ANY_PATH", "Call", "ClientGone", "Endpoint", "Headers", "Reply", "authzen_error"]

Headers = list[tuple[bytes, bytes]]
Reply = tuple[int, Any, Headers]  # status, JSON content, extra headers

_JSON = (b"content-type", b"application/json")


class _AnyPath(Convertor[str]):
    """Like Starlette's ``path``, but newlines too: a decoded path may hold any character,
    and such a request must reach its route (to be refused there with a 400), not a 404."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", _AnyPath())
ANY_PATH = "{path:anypath}"


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nothing to answer."""


class Call:
    """One HTTP request: the scope and the receive channel, read on demand."""

    __slots__ = ("receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive

    def header(self, name: bytes) -> str | None:
        """The first value of a header (``name`` in lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    def headers(self) -> dict[str, str]:
        """Every header by lower-case name; a repeated header keeps its first value."""
        out: dict[str, str] = {}
        for key, value in self.scope["headers"]:
            name = key.decode("latin-1")
            if name not in out:
                out[name] = value.decode("latin-1")
        return out

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    async def body(self, max_bytes: int) -> bytes:
        """The request body, refused with 413 as soon as it is known to exceed ``max_bytes``:
        from ``Content-Length`` before reading anything, else while counting the chunks."""
        declared = self.header(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise ApiError(400, f"invalid Content-Length {declared!r}") from None
            if size > max_bytes:
                raise ApiError(413, f"request body is larger than {max_bytes} bytes")
        body = b""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                body = body + chunk if body else chunk
                if len(body) > max_bytes:
                    raise ApiError(413, f"request body is larger than {max_bytes} bytes")
            if not message.get("more_body", False):
                return body


def authzen_error(status: int, message: str) -> Any:
    """``{"error": {"status", "message"}}``: the shape of a failed item of an AuthZEN batch."""
    return {"error": {"status": status, "message": message}}


ErrorBody = Callable[[int, str], Any]
Handler = Callable[[Call], Awaitable[Reply]]
Refused = Callable[[str, int], None]


class Endpoint:
    """A route's ASGI app: runs the handler and sends its reply as JSON. A failure is a JSON
    error: 4xx for the request's faults, 503 before a policy set is loaded, 500 (logged)
    for anything else; every one is counted by ``refused(endpoint, status)``."""

    def __init__(
        self, name: str, handler: Handler, refused: Refused, error_body: ErrorBody = authzen_error
    ) -> None:
        self.name = name
        self.handler = handler
        self.refused = refused
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, content, headers = await self.handler(Call(scope, receive))
        except ClientGone:
            return
        except ApiError as e:
            status, content = e.status, self.error_body(e.status, e.message)
            headers = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in e.headers.items()
            ]
            self.refused(self.name, status)
        except RequestError as e:
            status, content, headers = e.status, self.error_body(e.status, e.message), []
            self.refused(self.name, status)
        except NotReady as e:
            status, content, headers = 503, self.error_body(503, str(e)), [(b"retry-after", b"1")]
            self.refused(self.name, status)
        except Exception:
            log.exception("%s failed", self.name)
            status, content, headers = 500, self.error_body(500, "internal error"), []
            self.refused(self.name, status)
        await send_json(send, status, content, headers)


async def send_json(send: Send, status: int, content: Any, headers: Headers) -> None:
    try:
        body = orjson.dumps(content)
    except orjson.JSONEncodeError:  # a value a policy computed (a 100-digit product...)
        body = orjson.dumps(jsonable(content))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode()), _JSON, *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
