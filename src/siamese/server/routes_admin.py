"""Operating the server: liveness, readiness, the serving policy set, metrics, the API schema."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .asgi import Call, Reply
from .context import Context
from .metrics import CONTENT_TYPE_LATEST
from .openapi import openapi_document
from .responses import JSONResponse

__all__ = ["health_body", "routes"]


def health_body(ctx: Context) -> dict[str, Any]:
    """Liveness with the state of the background work; ``degraded`` says what is wrong."""
    store = ctx.store
    problems: list[str] = []
    if store.get() is None:
        problems.append("no policy set is loaded")
    if store.last_error is not None:
        problems.append("the latest policy reload failed")
    watcher: dict[str, Any] = {"enabled": ctx.watcher is not None}
    if ctx.watcher is not None:
        watcher["state"] = ctx.watcher.state
        if ctx.watcher.error:
            watcher["error"] = ctx.watcher.error
        if ctx.watcher.state != "running":
            problems.append(f"the policy watcher is {ctx.watcher.state}")
    services: dict[str, Any] = {}
    for name, service in ctx.services.items():
        status = getattr(service, "status", None)
        services[name] = status() if callable(status) else {"state": service.state}
        if service.state not in ("ok", "running"):
            problems.append(f"{name} is {service.state}")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "services": services,
        "policy": {
            "loaded": store.get() is not None,
            "revision": store.revision,
            "last_error": store.last_error,
        },
        "watcher": watcher,
    }


def routes(ctx: Context) -> list[Route]:
    store = ctx.store

    async def health(request: Request) -> Response:
        return JSONResponse(health_body(ctx))

    async def ready(request: Request) -> Response:
        if store.get() is None:
            return JSONResponse(
                {
                    "ready": False,
                    "reason": "no policy set is loaded",
                    "last_error": store.last_error,
                },
                503,
                headers={"Retry-After": "1"},
            )
        return JSONResponse({"ready": True, "revision": store.revision})

    async def policies(call: Call) -> Reply:
        ctx.admit(call)
        current = store.get()
        return (
            200,
            {
                "root": store.root,
                "revision": store.revision,
                "files": list(current.files) if current is not None else [],
                "tests": list(current.tests) if current is not None else [],
                "loaded_at": store.loaded_at,
                "last_error": store.last_error,
                "last_error_at": store.last_error_at,
                "reloads": store.reloads,
                "failures": store.failures,
                "attempts": store.attempts,
                "watcher": ctx.watcher.state if ctx.watcher is not None else "disabled",
                "shadow": ctx.shadow.status() if ctx.shadow is not None else None,
            },
            [],
        )

    async def metrics(request: Request) -> Response:
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/v1/policies", ctx.endpoint("policies", policies), methods=["GET"], name="policies"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
        Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
    ]
