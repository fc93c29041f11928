"""Policy information points: external data that rules consult mid-proof.

- :class:`HttpData` — ``http_get_json(Url, ?Json)`` over one pooled client, with the
  operator's allowlist, a per-fetch timeout, a size cap, guarded redirects, a TTL data
  cache and a circuit breaker per host; and ``json_path(Json, Path, ?V)``.
- :func:`load_operator_builtins` — the operator's own async built-ins, from a module.

Nothing here is registered unless the server (or a caller) passes these built-ins to a
program: the engine alone reaches no network.
"""

from __future__ import annotations

from .breaker import Breakers, CircuitBreaker
from .cache import DataCache, freshness
from .guard import Allowlist, Refused, address_problem
from .http import FetchError, HttpData
from .jsonpath import JSON_PATH_BUILTINS
from .operator import OperatorBuiltinError, load_operator_builtins, operator_builtins

__all__ = [
    "JSON_PATH_BUILTINS",
    "Allowlist",
    "Breakers",
    "CircuitBreaker",
    "DataCache",
    "FetchError",
    "HttpData",
    "OperatorBuiltinError",
    "Refused",
    "address_problem",
    "freshness",
    "load_operator_builtins",
    "operator_builtins",
]
