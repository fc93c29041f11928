"""JSON responses (orjson) and the error every route answers with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ApiError", "JSONResponse", "bounded_int", "error_response"]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """A request the server refuses: ``status`` and a message naming the problem."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``{"error": {"status": ..., "message": ...}}``: the shape of a failed item in an AuthZEN
    batch, used for every error of the decision API."""
    return JSONResponse({"error": {"status": status, "message": message}}, status, headers=headers)


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """A JSON integer from ``low`` to ``high`` (booleans are not integers here), else 400."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be an integer from {low} to {high}")
    return value
