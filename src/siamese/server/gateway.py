"""An HTTP request seen by a gateway, as a decision request (SPEC §5).

S = the verified bearer token's ``sub`` (or ``anonymous``), A = the original method,
R = the original path, decoded and normalised exactly once, without its query; the
policy reads the rest with ``input("request.host" | "request.query.<name>" |
"request.headers.<name>", ?v)`` and ``input("claims.<name>", ?v)``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..decision.models import Request
from .auth import TokenError, TokenVerifier, bearer_token
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = ["ANONYMOUS", "GatewayCall", "normalise_path", "safe_header_value", "split_uri"]

ANONYMOUS = "anonymous"
MAX_QUERY_FIELDS = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_METHOD = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$")
# Never passed to the input: credentials (the claims of a verified token are there instead).
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


def normalise_path(raw_path: str) -> str:
    """Percent-decode a raw path once, then resolve ``.``, ``..`` and empty segments
    (RFC 3986 §5.2.4). A path that climbs above the root is refused (400)."""
    if not raw_path.startswith("/"):
        raise ApiError(
            400, f"the original URI must be a path starting with '/': {raw_path[:100]!r}"
        )
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "the original path is not UTF-8 once percent-decoded") from None
    if _CONTROL.search(path):
        raise ApiError(400, "the original path holds a control character")
    segments: list[str] = []
    parts = path.split("/")
    for seg in parts:
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if not segments:
                raise ApiError(400, "the original path climbs above the root ('..')")
            segments.pop()
            continue
        segments.append(seg)
    out = "/" + "/".join(segments)
    if segments and parts[-1] in ("", ".", ".."):
        out += "/"
    return out


def split_uri(raw: str) -> tuple[str, dict[str, str]]:
    """A raw request URI (``/path?query``, or absolute) as (normalised path, query) with the
    first value of each query parameter."""
    raw = raw.partition("#")[0] or "/"
    if "://" in raw.split("?", 1)[0]:
        parts = urlsplit(raw)
        raw_path, raw_query = parts.path or "/", parts.query
    else:
        raw_path, _, raw_query = raw.partition("?")
    path = normalise_path(raw_path)
    query: dict[str, str] = {}
    if raw_query:
        try:
            pairs = parse_qsl(raw_query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise ApiError(
                400, f"the original query has more than {MAX_QUERY_FIELDS} parameters"
            ) from None
        for name, value in pairs:
            query.setdefault(name, value)
    return path, query


def safe_header_value(value: str) -> str:
    """A value that can go out in a header: printable ASCII, else percent-encoded."""
    if all(" " <= c <= "~" for c in value):
        return value
    return quote(value, safe="".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%"))


class GatewayCall:
    """Turns the parts of a gateway callout into a decision request.

    Without a verifier (no key configured), bearer tokens cannot be checked: the subject is
    ``anonymous``, the least privileged one, and a warning is logged once.
    """

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier
        self._warned = False

    def subject(self, authorization: str | None) -> tuple[str, dict[str, Any] | None]:
        """(subject, claims) from an ``Authorization`` header; :class:`TokenError` for a bad
        bearer token."""
        token = bearer_token(authorization)
        if token is None:
            return ANONYMOUS, None
        if self.verifier is None:
            if not self._warned:
                self._warned = True
                log.warning(
                    "a gateway callout carries a bearer token but no token key is "
                    "configured (SIAMESE_JWT_*): its subject is 'anonymous'"
                )
            return ANONYMOUS, None
        if not token:
            raise TokenError("empty bearer token")
        claims = self.verifier.verify(token)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("the token has no 'sub' claim")
        return sub, claims

    @staticmethod
    def method(value: str) -> str:
        if not _METHOD.match(value):
            raise ApiError(400, f"invalid original method {value[:40]!r}")
        return value.upper()

    def request(
        self,
        *,
        method: str,
        path: str,
        query: dict[str, str],
        host: str,
        headers: Iterable[tuple[str, str]],
        subject: str,
        claims: dict[str, Any] | None,
    ) -> Request:
        http = {
            "method": method,
            "path": path,
            "host": host,
            "query": query,
            "headers": {k: v for k, v in headers if k not in _SECRET_HEADERS},
        }
        body = {
            "subject": {"type": "user", "id": subject},
            "action": {"name": method},
            "resource": {"type": "http", "id": path},
        }
        return Request.from_authzen(body, claims=claims, http=http)


def first(value: Any) -> Any:
    """The first of repeated values (``["a", "b"]`` → ``"a"``), as Kong sends them."""
    if isinstance(value, list):
        return value[0] if value else ""
    return value


def header_pairs(headers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Headers of a JSON input (values may be lists) as lower-case (name, str) pairs."""
    out = []
    for k, v in headers.items():
        v = first(v)
        if isinstance(v, str):
            out.append((k.lower(), v))
    return out
