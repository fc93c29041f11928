"""The console's Starlette routes under ``/console``: every page passes the access checks,
renders a template, and carries the security headers; a refusal is a page of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..decision.models import RequestError
from ..decision.service import NotReady
from ..server.asgi import Call
from ..server.context import Context
from ..server.responses import ApiError, JSONResponse
from .access import ConsoleAccess
from .render import SECURITY_HEADERS, environment

log = logging.getLogger("siamese.console")

__all__ = ["Console", "Page", "console_routes"]

MAX_FORM_FIELDS = 1000


@dataclass
class Page:
    """What a console handler answers: a template, its values, and the HTTP status."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)
    status: int = 200


PageHandler = Callable[[Request], Awaitable[Page]]
JsonHandler = Callable[[Request], Awaitable[Any]]


class Console:
    """What the console's pages share: the server's wired objects, the access checks and
    the templates."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.access = ConsoleAccess(ctx)
        self.env: jinja2.Environment = environment()
        # edited policy text is built one set at a time (see sources.build)
        self.builds = asyncio.Semaphore(1)

    def render(self, request: Request, page: Page) -> HTMLResponse:
        refused = page.status in (401, 403, 429)
        values = {
            "title": "Console",
            # a caller refused learns nothing of the policy set
            "serving": None if refused else self.ctx.store.revision,
            "refused": refused,
            "key_required": self.access.key_required,
            "path": request.url.path,
            **page.values,
        }
        html = self.env.get_template(page.template).render(**values)
        return HTMLResponse(html, page.status)

    def page(self, handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        """A route endpoint that checks access, then renders what ``handler`` answers; an
        ApiError (or a request error, or no policy set) renders as an error page."""

        async def endpoint(request: Request) -> Response:
            try:
                self.access.check(request)
                return self.render(request, await handler(request))
            except ApiError as e:
                page = Page("key.html" if e.status == 401 else "error.html",
                            {"status": e.status, "message": e.message}, e.status)
                response = self.render(request, page)
                response.headers.update(e.headers)
                return response
            except (RequestError, NotReady) as e:
                status = e.status if isinstance(e, RequestError) else 503
                return self.render(request, Page("error.html",
                                                 {"status": status, "message": str(e)}, status))

        return endpoint

    def json(self, handler: JsonHandler) -> Callable[[Request], Awaitable[Response]]:
        """A route endpoint that checks access and answers JSON (errors as the API's)."""

        async def endpoint(request: Request) -> Response:
            try:
                self.access.check(request)
                return JSONResponse(await handler(request))
            except ApiError as e:
                return JSONResponse({"error": {"status": e.status, "message": e.message}},
                                    e.status, headers=e.headers)
            except RequestError as e:
                return JSONResponse({"error": {"status": e.status, "message": e.message}},
                                    e.status)

        return endpoint

    async def form(self, request: Request) -> dict[str, list[str]]:
        """A posted form (``application/x-www-form-urlencoded``), within the API's body limit
        (413), as UTF-8 text (400 otherwise)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise ApiError(415, "a console form is sent as application/x-www-form-urlencoded")
        body = await Call(request.scope, request.receive).body(self.ctx.settings.max_body_bytes)
        try:
            text = body.decode("utf-8")
            return parse_qs(text, keep_blank_values=True, strict_parsing=False,
                            max_num_fields=MAX_FORM_FIELDS, errors="strict")
        except UnicodeDecodeError:
            raise ApiError(400, "the form is not UTF-8 text") from None
        except ValueError as e:  # too many fields
            raise ApiError(400, f"the form cannot be read: {e}") from None


def field_of(form: dict[str, list[str]], name: str, default: str = "") -> str:
    """A form field's one value ('' when absent); 400 when it is sent twice."""
    values = form.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise ApiError(400, f"the form field {name!r} is sent more than once")
    return values[0]


class _Secured:
    """Adds the console's security headers to every response under the mount."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                         if k.encode() not in have]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_secured)


def console_routes(ctx: Context) -> list[BaseRoute]:
    """The ``/console`` mount: every page of the console and its static files."""
    from . import live, policies

    console = Console(ctx)
    routes: list[BaseRoute] = [
        Mount("/static", StaticFiles(packages=[("siamese.console", "static")]), name="static"),
    ]
    for module in (policies, live):
        routes.extend(module.routes(console))
    return [Mount("/console", app=_Secured(_router(routes)), name="console")]


def _router(routes: list[BaseRoute]) -> ASGIApp:
    from starlette.routing import Router

    return Router(routes)
