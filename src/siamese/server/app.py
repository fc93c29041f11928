"""The Starlette app: :func:`create_app` from wired objects, :func:`build_app` wires them from
settings, :func:`app_from_environ` is uvicorn's factory for worker processes."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..decision.authorizer import Authorizer
from ..decision.redact import Redactor
from ..decision.service import DecisionService
from ..decision.shadow import ShadowRunner
from ..pip import HttpData
from ..policy.store import PolicyStore, ReloadResult
from ..policy.watcher import PolicyWatcher
from ..settings import Settings
from ..stack import DecisionStack, build_stack, redactor
from . import (
    routes_admin,
    routes_authzen,
    routes_cerbos,
    routes_gateway,
    routes_opa,
    routes_plan,
    routes_query,
)
from .asgi import Endpoint
from .auth import CallerAuth, TokenVerifier
from .context import AuditFn, Context, Service, no_audit
from .limits import RateLimiter
from .logs import configure_logging
from .metrics import Metrics
from .middleware import RequestIdMiddleware
from .responses import error_response

log = logging.getLogger("siamese.server")

__all__ = [
    "HttpDataService",
    "app_from_environ",
    "build_app",
    "create_app",
    "uvicorn_options",
]


def create_app(
    settings: Settings,
    store: PolicyStore,
    service: DecisionService,
    audit: AuditFn | None = None,
    *,
    watcher: PolicyWatcher | None = None,
    services: Mapping[str, Service] | None = None,
    http: HttpData | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    redact: Redactor | None = None,
    shadow: ShadowRunner | None = None,
) -> Starlette:
    """The HTTP app over a policy store and a decision service.

    ``audit(decision)`` is called with every decision before it is answered; it may return an
    awaitable of whether the decision was recorded, and one that was not is answered as a
    deny; if it raises, that request gets an error (never an allow). It is called with every
    query plan (a :class:`~siamese.audit.plan.PlanEvent`) too, and a plan it did not record
    is refused. ``watcher`` and the
    ``services`` (by name: the audit writer, say) start and stop with the app's lifespan, the
    services after the watcher and stopped after it, and their states show in ``/health``.
    ``http``: the client of the ``http_get_json`` built-in that the store's policies were
    given, if any: closed by the lifespan after the watcher stops (before the other
    services), its counters in ``/metrics`` and ``/health``.
    ``clock`` drives rate limits, ``wall_clock`` token expiry. ``redact`` finds the secrets
    of a request, kept out of the answers (the decision log's own, so that each request is
    scanned once; by default one for SIAMESE_AUDIT_REDACT).
    ``shadow``: a candidate policy set's runner, told of every answered decision (start and
    stop it as one of the ``services``); its status shows in ``/v1/policies`` and ``/metrics``.
    Raises ValueError when the settings name keys that cannot be loaded.
    """
    verifier = TokenVerifier.from_settings(settings, clock=wall_clock)
    callers = CallerAuth(settings.auth_mode, api_keys=settings.api_keys, verifier=verifier)
    admins = CallerAuth("api-key", api_keys=settings.admin_keys) if settings.admin_keys else None
    all_services = dict(services or {})
    if http is not None:
        # last: stopped first, so that the audit writer still flushes after it
        all_services["http_data"] = HttpDataService(http)
    limiter = (
        RateLimiter(settings.rate_limit, settings.burst, clock=clock)
        if settings.rate_limit > 0
        else None
    )
    ctx = Context(
        settings=settings,
        store=store,
        service=service,
        audit=audit or no_audit,
        watcher=watcher,
        metrics=Metrics(
            store,
            service,
            http=http.stats if http is not None else None,
            audit=_status_of(all_services.get("audit")),
            shadow=shadow.status if shadow is not None else None,
        ),
        callers=callers,
        verifier=verifier,
        limiter=limiter,
        services=all_services,
        admins=admins,
        redact=redact if redact is not None else redactor(settings),
        shadow=shadow,
    )
    if shadow is not None:
        ctx.listeners.append(shadow)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if store.attempts == 0:  # nobody loaded the policy set before serving
            await store.reload()
        started: list[Service] = []
        try:
            for service in ctx.services.values():
                await service.start()
                started.append(service)
            if watcher is not None:
                await watcher.start()
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            for service in reversed(started):  # the audit writer last: it flushes everything
                await service.stop()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, exc.detail, exc.headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal error")

    planning = routes_plan.Planning(ctx)
    console: list[BaseRoute] = []
    if settings.console_enabled:
        from ..console import console_routes

        console = console_routes(ctx)
    app = _App(
        routes=_hot_first(
            [
                *routes_authzen.routes(ctx),
                *routes_gateway.routes(ctx),
                *routes_opa.routes(ctx),
                *routes_admin.routes(ctx),
                *routes_query.routes(ctx),
                *routes_plan.routes(ctx, planning),
                *routes_cerbos.routes(ctx, planning),
                *console,
            ]
        ),
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.siamese = ctx
    return app


class _App(Starlette):
    """Starlette with a shortcut for the decision routes: a request whose path is exactly one
    of theirs, with one of their methods, goes straight to its endpoint (under the request
    id middleware, which also turns an escaped exception into JSON), not through the error
    middlewares and the router, which a decision route does not use (its Endpoint answers
    every error itself). Anything else, a path with a root path included, is routed as
    usual; the answers are the same either way (tests/server check both)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shortcuts: dict[tuple[str, str], ASGIApp] = {}
        for route in self.router.routes:
            if not isinstance(route, Route) or route.name not in _HOT:
                continue
            if not isinstance(route.app, Endpoint) or route.param_convertors:
                continue
            # a route for every method (forward-auth's) is kept under "*"
            for method in route.methods or ("*",):
                self.shortcuts[(method, route.path)] = RequestIdMiddleware(route.app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path = scope["path"]
            shortcut = self.shortcuts.get((scope["method"], path)) or self.shortcuts.get(
                ("*", path)
            )
            if shortcut is not None:
                scope["app"] = self
                await shortcut(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_HOT = ("evaluation", "forward_auth_path", "forward_auth", "evaluations", "opa_data")


def _hot_first(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Starlette tries routes in order: the decision routes go first (the paths do not
    overlap, so the order changes nothing else)."""
    rank = {name: i for i, name in enumerate(_HOT)}
    return sorted(routes, key=lambda r: rank.get(getattr(r, "name", ""), len(_HOT)))


def build_app(settings: Settings, audit: AuditFn | None = None) -> Starlette:
    """Wire the decision stack from settings (:func:`siamese.stack.build_stack`: the policy
    set is loaded once) and build the app. A policy set that fails to load is not fatal: the
    server starts unready (``/ready`` answers 503) and the watcher retries on the next change.
    Raises ValueError, naming the variable, for settings that cannot serve (a missing
    directory, a bad SIAMESE_HTTP_ALLOW entry, SIAMESE_BUILTINS that cannot be loaded)."""
    if settings.http_allow and settings.http_timeout_ms >= settings.timeout_ms:
        log.warning(
            "SIAMESE_HTTP_TIMEOUT_MS (%g) is not under SIAMESE_TIMEOUT_MS (%g): a slow host "
            "ends the decision on its timeout instead of failing its goal with a note",
            settings.http_timeout_ms,
            settings.timeout_ms,
        )
    stack = build_stack(settings, audit=audit is None)
    if stack.store.get() is None:
        log.error("no policy set is serving until %s loads", settings.policy_dir)
    _freeze_heap()
    stack.store.listeners.append(_refreeze_on_change)
    services: dict[str, Service] = {}
    if stack.audit_log is not None:
        audit, services["audit"] = stack.audit_log, stack.audit_log
    shadow = None
    if settings.shadow_policy_dir:
        shadow = _shadow(settings, stack, audit, services)
    return create_app(
        settings, stack.store, stack.service, audit, watcher=stack.watcher, services=services,
        http=stack.http, redact=stack.redact, shadow=shadow,
    )


def _shadow(
    settings: Settings, stack: DecisionStack, audit: AuditFn | None,
    services: dict[str, Service],
) -> ShadowRunner:
    """SIAMESE_SHADOW_POLICY_DIR: the candidate set, its own store (hot-reloaded like the
    serving one, with the same built-ins and limits), and the runner that compares; added to
    ``services`` after the decision log, so that they stop before it does."""
    directory = settings.shadow_policy_dir
    assert directory is not None
    if not os.path.isdir(directory):
        raise ValueError(f"SIAMESE_SHADOW_POLICY_DIR: {directory}: no such directory")
    store = PolicyStore(directory, builtins=stack.builtins)
    if not store.load_sync().ok:
        log.error("the shadow policy set does not load: nothing is compared until %s loads",
                  directory)
    if settings.reload:
        services["shadow_watcher"] = PolicyWatcher(store)
    runner = ShadowRunner(
        store.get, Authorizer(limits=settings.limits()), audit or no_audit,
        sample=settings.shadow_sample, queue_size=settings.shadow_queue, source=directory,
    )
    services["shadow"] = runner
    return runner


class HttpDataService:
    """The lifecycle of the ``http_get_json`` client as an app service: nothing to start,
    its pooled connections closed at shutdown; its counters in ``/health``."""

    def __init__(self, http: HttpData) -> None:
        self.http = http
        self.closed = False

    @property
    def state(self) -> str:
        return "closed" if self.closed else "ok"

    def status(self) -> dict[str, Any]:
        stats = self.http.stats()
        return {
            "state": self.state,
            "enabled": bool(self.http.allow),
            "fetches": stats["fetches"],
            "failures": stats["failures"],
            "refusals": stats["refusals"],
            "open_circuits": [h for h, s in stats["breakers"].items() if s != "closed"],
        }

    async def start(self) -> None:
        pass  # the client connects on the first fetch

    async def stop(self) -> None:
        await self.http.aclose()
        self.closed = True


def _freeze_heap() -> None:
    """Move everything alive now (the policy set above all) out of the garbage collector's
    sight: a full collection would otherwise walk it every few thousand requests, a pause
    of milliseconds that lands on the p99 latency."""
    gc.collect()
    gc.freeze()


def _refreeze_on_change(result: ReloadResult) -> None:
    # The old policy set was frozen with the rest: let the collector see it again, so that
    # it can be freed, then freeze the new one. One pause per reload, none per request.
    if result.changed:
        gc.unfreeze()
        _freeze_heap()


def app_from_environ() -> Starlette:
    """uvicorn's factory (``siamese.server.app:app_from_environ``) for worker processes: the
    settings come from SIAMESE_* variables, where ``siamese serve`` put its flags."""
    settings = Settings.from_environ(os.environ)
    configure_logging(settings.log_level, settings.log_format)
    return build_app(settings)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``siamese serve`` runs uvicorn (the HTTP benchmark serves its baseline the same way)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # logging is ours: see logs.configure_logging
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "server_header": False,
        # X-Forwarded-For names the client only when it comes from a configured proxy
        # (uvicorn would otherwise trust it from loopback, and any caller could pick the
        # address its rate limit is kept under)
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "timeout_graceful_shutdown": 10,
        **_tls_options(settings),
    }


def _tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's HTTPS options: a context factory whose contexts follow the files."""
    if not settings.tls_cert:
        return {}
    from .tls import ReloadingContexts

    for env, path in (
        ("SIAMESE_TLS_CERT", settings.tls_cert),
        ("SIAMESE_TLS_KEY", settings.tls_key),
        ("SIAMESE_TLS_CLIENT_CA", settings.tls_client_ca),
    ):
        if path and not os.path.isfile(path):
            raise ValueError(f"{env}: {path}: no such file")
    contexts = ReloadingContexts(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    return {"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key,
            "ssl_context_factory": contexts}


def _status_of(service: Any) -> Callable[[], Mapping[str, Any]] | None:
    """A service's status() for the metrics, when it has one (the decision log does)."""
    status = getattr(service, "status", None)
    return status if callable(status) else None
