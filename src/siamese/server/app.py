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
from starlette.routing import Route

from .. import policytest
from ..audit.log import AuditLog
from ..audit.sink import JsonlSink
from ..decision.authorizer import Authorizer
from ..decision.cache import DecisionCache
from ..decision.service import DecisionService
from ..policy.store import PolicyStore, ReloadResult
from ..policy.watcher import PolicyWatcher
from ..settings import Settings
from . import routes_admin, routes_authzen, routes_gateway, routes_opa
from .auth import CallerAuth, TokenVerifier
from .context import AuditFn, Context, Service, no_audit
from .limits import RateLimiter
from .logs import configure_logging
from .metrics import Metrics
from .middleware import RequestIdMiddleware
from .responses import error_response

log = logging.getLogger("siamese.server")

__all__ = ["app_from_environ", "build_app", "create_app", "uvicorn_options"]


def create_app(
    settings: Settings,
    store: PolicyStore,
    service: DecisionService,
    audit: AuditFn | None = None,
    *,
    watcher: PolicyWatcher | None = None,
    services: Mapping[str, Service] | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> Starlette:
    """The HTTP app over a policy store and a decision service.

    ``audit(decision)`` is called with every decision before it is answered; it may return an
    awaitable of whether the decision was recorded, and one that was not is answered as a
    deny; if it raises, that request gets an error (never an allow). ``watcher`` and the
    ``services`` (by name: the audit writer, say) start and stop with the app's lifespan, the
    services after the watcher and stopped after it, and their states show in ``/health``.
    ``clock`` drives rate limits, ``wall_clock`` token expiry.
    Raises ValueError when the settings name keys that cannot be loaded.
    """
    verifier = TokenVerifier.from_settings(settings, clock=wall_clock)
    callers = CallerAuth(settings.auth_mode, api_keys=settings.api_keys, verifier=verifier)
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
        metrics=Metrics(store, service),
        callers=callers,
        verifier=verifier,
        limiter=limiter,
        services=dict(services or {}),
    )

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

    app = Starlette(
        routes=_hot_first(
            [
                *routes_authzen.routes(ctx),
                *routes_gateway.routes(ctx),
                *routes_opa.routes(ctx),
                *routes_admin.routes(ctx),
            ]
        ),
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.siamese = ctx
    return app


_HOT = ("evaluation", "forward_auth_path", "forward_auth", "evaluations", "opa_data")


def _hot_first(routes: list[Route]) -> list[Route]:
    """Starlette tries routes in order: the decision routes go first (the paths do not
    overlap, so the order changes nothing else)."""
    rank = {name: i for i, name in enumerate(_HOT)}
    return sorted(routes, key=lambda r: rank.get(r.name, len(_HOT)))


def build_app(settings: Settings, audit: AuditFn | None = None) -> Starlette:
    """Wire the store, the decision service and the watcher from settings, load the policy
    set, and build the app. A policy set that fails to load is not fatal: the server starts
    unready (``/ready`` answers 503) and the watcher retries on the next change."""
    if not os.path.isdir(settings.policy_dir):
        raise ValueError(f"SIAMESE_POLICY_DIR: {settings.policy_dir}: no such directory")
    # SIAMESE_RELOAD_REQUIRE_TESTS: a set serves only if its *.test.yaml tests pass
    store = PolicyStore(
        settings.policy_dir, gate=policytest.gate if settings.reload_require_tests else None
    )
    first = store.load_sync()
    if not first.ok:
        log.error("no policy set is serving until %s loads", settings.policy_dir)
    cache = (
        DecisionCache(settings.cache_size, settings.cache_ttl) if settings.cache_enabled else None
    )
    if cache is not None:
        store.listeners.append(_clear_on_change(cache))
    _freeze_heap()
    store.listeners.append(_refreeze_on_change)
    service = DecisionService(store.get, Authorizer(limits=settings.limits()), cache)
    watcher = PolicyWatcher(store) if settings.reload else None
    services: dict[str, Service] = {}
    if audit is None and settings.audit_enabled:
        audit_log = AuditLog(JsonlSink(settings.audit_log), required=settings.audit_required)
        audit, services["audit"] = audit_log, audit_log
    return create_app(settings, store, service, audit, watcher=watcher, services=services)


def _clear_on_change(cache: DecisionCache) -> Callable[[ReloadResult], None]:
    # Entries are keyed by revision, so they are never served stale; this frees them early.
    def listener(result: ReloadResult) -> None:
        if result.changed:
            cache.clear()

    return listener


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
        "timeout_graceful_shutdown": 10,
    }
