"""A client of a remote Siamese server: :class:`Client` (sync, safe to share between
threads) and :class:`AsyncClient`, on httpx, for the AuthZEN evaluation, evaluations and
search endpoints and the query-plan endpoint.

==============  ===============================================================
``results``     Decision, SearchPage, Plan: read strictly from the answers
``errors``      ClientError and its kinds: why a decision could not be got
``core``        what both clients share without I/O: headers, retries, answers
``calls``       each method's endpoint, body and reader
``bodies``      AuthZEN bodies from ids or objects; their canonical JSON
``cache``       the optional client-side decision cache
``sync``        Client
``aio``         AsyncClient
==============  ===============================================================

Fail closed: only a well-formed answer with ``"decision": true`` is an allow; anything
else is a deny with ``error`` set (or, with ``raise_errors=True``, a raised ClientError).
It imports nothing of ``siamese.server``.
"""

from __future__ import annotations

from .aio import AsyncClient
from .cache import DecisionCache
from .errors import (
    AuthenticationError,
    ClientError,
    ConnectionFailed,
    InvalidRequest,
    MalformedAnswer,
    RequestRejected,
    ServerError,
    Timeout,
)
from .results import SEMANTICS, Decision, Plan, SearchPage
from .sync import Client

__all__ = [
    "SEMANTICS",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Decision",
    "DecisionCache",
    "InvalidRequest",
    "MalformedAnswer",
    "Plan",
    "RequestRejected",
    "SearchPage",
    "ServerError",
    "Timeout",
]
