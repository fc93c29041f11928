"""Why a decision could not be got from the server: one exception class per cause.

A client call that fails answers a deny (or an empty search, or an always-denied plan) with
one of these attached as ``error``; with ``raise_errors=True`` it raises it instead."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ClientError",
    "ConnectionFailed",
    "InvalidRequest",
    "MalformedAnswer",
    "RequestRejected",
    "ServerError",
    "Timeout",
]


class ClientError(Exception):
    """A decision, search or plan the client could not get. ``status`` is the HTTP status
    of the answer that refused it (None when there was no answer), ``message`` says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r})"


class ConnectionFailed(ClientError):
    """No answer: the server could not be reached, or it dropped the connection before
    answering, on every attempt."""


class Timeout(ClientError):
    """No answer in time: connecting, sending or waiting for the answer took too long."""


class AuthenticationError(ClientError):
    """401 or 403: the server refused the client's credential (the API key or the bearer
    token), or it may not call this endpoint."""


class RequestRejected(ClientError):
    """Another 4xx: the server refused the request itself (a malformed body, a limit, a plan
    it cannot make, the rate limit); the server's message says which."""


class ServerError(ClientError):
    """A 5xx: the server failed, or had no policy set loaded, and did not recover within the
    retries."""


class MalformedAnswer(ClientError):
    """An answer the client cannot read as the endpoint's: not JSON, or not its shape (a
    ``decision`` that is not a JSON boolean, a missing field, an HTML error page...)."""


class InvalidRequest(ClientError, ValueError):
    """A request that cannot be sent: its body is not JSON (a NaN, a value JSON has no
    type for)."""
