"""An HTTP request seen by a gateway, as a decision request (SPEC §5, §6.1).

S = the verified bearer token's ``sub`` (or ``anonymous``), A = the original method,
R = the original path, percent-decoded exactly once, without its query; the policy reads
the rest with ``input("request.host" | "request.query.<name>" | "request.headers.<name>",
?v)`` and ``input("claims.<name>", ?v)``.

Which headers carry the original request is the operator's choice (``SIAMESE_GATEWAY``,
:func:`original_request`), and a path whose meaning depends on who decodes it is refused,
never guessed at (:func:`decode_path`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from ..decision.models import Request
from ..pip.guard import path_problem
from .auth import TokenError, TokenVerifier, bearer_token
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = [
    "ANONYMOUS",
    "CONVENTION_HEADERS",
    "MAX_METHOD_LENGTH",
    "MAX_QUERY_FIELDS",
    "GatewayCall",
    "Original",
    "decode_path",
    "original_request",
    "split_uri",
    "subject_header_value",
]

ANONYMOUS = "anonymous"
MAX_QUERY_FIELDS = 1000  # parameters of the original query
MAX_METHOD_LENGTH = 32  # characters of the original method (an HTTP token)
_METHOD = re.compile(rf"^[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,{MAX_METHOD_LENGTH}}}$")
# Never passed to the input: credentials (the claims of a verified token are there instead).
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})

# --- which headers carry the original request ----------------------------------------------

# (method, URI, host) header of each convention that travels in headers
_NGINX = ("x-original-method", "x-original-uri", "x-original-host")
_FORWARDED = ("x-forwarded-method", "x-forwarded-uri", "x-forwarded-host")
_CONVENTIONS = {"nginx": _NGINX, "forwarded": _FORWARDED}
_MODE_CONVENTION = {"nginx": "nginx", "traefik": "forwarded", "caddy": "forwarded"}
# the headers read more than once would be ambiguous: a repeated one is refused
CONVENTION_HEADERS = frozenset({*_NGINX, *_FORWARDED, "authorization"})


@dataclass(frozen=True, slots=True)
class Original:
    """The original request as one convention carries it: method, raw URI, host."""

    convention: str
    method: str
    uri: str
    host: str


def refused(message: str) -> ApiError:
    """A callout that is refused before the policy is consulted (403 at forward-auth)."""
    return ApiError(403, message)


def _carried(convention: str, headers: Mapping[str, Sequence[str]]) -> Original | None:
    """The original request in one convention's headers; None when it carries neither a
    method nor a URI (a host alone says nothing: gateways add ``X-Forwarded-Host`` freely)."""
    m, u, h = _CONVENTIONS[convention]
    method, uri = headers.get(m), headers.get(u)
    if method is None and uri is None:
        return None
    if method is None or uri is None:
        raise refused(
            f"the callout carries part of the {convention} headers: {m} and {u} go together"
        )
    host = headers.get(h)
    return Original(convention, method[0], uri[0], host[0] if host else "")


def original_request(mode: str, headers: Mapping[str, Sequence[str]], own: Original) -> Original:
    """The original request of a callout, read as ``SIAMESE_GATEWAY`` (``mode``) says.

    ``headers`` maps lower-case names to every value sent; ``own`` is the callout's own
    method, raw path after the prefix (empty for the bare prefix) and Host. ``nginx``,
    ``traefik`` and ``caddy`` read their headers only, ``envoy`` the callout itself; ``auto``
    reads every convention present and refuses them unless they agree. A refusal is an
    :class:`ApiError` (403)."""
    for name, got in headers.items():
        if len(got) > 1 and name in CONVENTION_HEADERS:
            raise refused(f"the callout repeats {name}")
    root = own if own.uri else Original(own.convention, own.method, "/", own.host)
    if mode == "envoy":
        return root
    if mode in _MODE_CONVENTION:
        found = _carried(_MODE_CONVENTION[mode], headers)
        if found is None:
            m, u, _ = _CONVENTIONS[_MODE_CONVENTION[mode]]
            raise refused(f"SIAMESE_GATEWAY={mode}: the callout carries no {m} and {u}")
        return found
    if mode != "auto":
        raise ValueError(f"unknown gateway mode {mode!r}")
    candidates = [c for c in (_carried(n, headers) for n in _CONVENTIONS) if c is not None]
    if own.uri:  # the callout carries a path of its own: Envoy's convention
        candidates.append(own)
    if not candidates:
        return root
    first = candidates[0]
    host = first.host
    for other in candidates[1:]:
        # a host one convention does not carry is no disagreement
        if (
            other.method.upper() != first.method.upper()
            or other.uri != first.uri
            or (host and other.host and other.host != host)
        ):
            raise refused(
                f"the {first.convention} and {other.convention} conventions disagree on the "
                "original request: set SIAMESE_GATEWAY to your gateway"
            )
        host = host or other.host
    return first if host == first.host else replace(first, host=host)


# --- the path the upstream will serve ----------------------------------------------------

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(r"%(2[fF]|5[cC])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
_DOTS = (".", "..")


def decode_path(raw_path: str) -> str:
    """The path a policy sees: the raw path percent-decoded exactly once, or a 400
    :class:`ApiError` when its meaning depends on who decodes it (SPEC §6.1).

    Refused: a path not starting with ``/``; a malformed escape; an encoded slash or
    backslash (``%2f``, ``%5c``), a backslash or a ``#``; bytes that are not UTF-8 once
    decoded; a C0 or C1 control character; a dot-segment, literal or encoded (``.``,
    ``..``, ``%2e%2e``, also with ``;parameters``, as Java servers read ``..;``); an empty
    segment inside the path (``//``, which some servers merge and others do not); and a
    segment that Unicode compatibility folding would turn into one of those (``．．``)."""
    if not raw_path.startswith("/"):
        raise ApiError(
            400, f"the original URI must be a path starting with '/': {raw_path[:100]!r}"
        )
    if "\\" in raw_path or "#" in raw_path:
        raise ApiError(400, "the original path holds a backslash or a '#'")
    if _BAD_ESCAPE.search(raw_path):
        raise ApiError(400, "the original path holds a malformed percent-escape")
    if _ENCODED_SLASH.search(raw_path):
        raise ApiError(400, "the original path holds an encoded slash or backslash (%2f, %5c)")
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "the original path is not UTF-8 once percent-decoded") from None
    if _CONTROL.search(path):
        raise ApiError(400, "the original path holds a control character")
    segments = path.split("/")[1:]
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == "" and i < last:
            raise ApiError(400, "the original path holds an empty segment ('//')")
        folded = unicodedata.normalize("NFKC", seg) if not seg.isascii() else seg
        if folded.partition(";")[0] in _DOTS:
            raise ApiError(400, "the original path holds a dot-segment ('.' or '..')")
        if folded is not seg and ("/" in folded or "\\" in folded or _CONTROL.search(folded)):
            raise ApiError(400, "the original path holds a character that folds to a slash")
    # An upstream behind another decoder (a proxy, then an application server) decodes the
    # path again: what a second decoding would turn into a separator is refused too
    # (/public/%252e%252e/admin is /public/%2e%2e/admin to us, /admin to the second).
    if "%" in path:
        problem = path_problem(path)
        if problem is not None:
            raise ApiError(400, f"the original path, decoded once more, is another path: {problem}")
    return path


def split_uri(raw: str) -> tuple[str, dict[str, str]]:
    """A raw request URI (``/path?query``, or absolute) as (decoded path, query) with the
    first value of each query parameter; a 400 :class:`ApiError` for a path that
    :func:`decode_path` refuses."""
    absolute = _ABSOLUTE.match(raw)
    if absolute:
        raw = raw[absolute.end() :]
        if not raw.startswith("/"):
            raw = "/" + raw
    raw_path, _, raw_query = raw.partition("?")
    path = decode_path(raw_path or "/")
    query: dict[str, str] = {}
    raw_query = raw_query.partition("#")[0]
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


# --- answers --------------------------------------------------------------------------------

# printable ASCII but '%' (the escape itself) and space (trimmed by header parsers)
_SUBJECT_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def subject_header_value(value: str) -> str:
    """``X-Siamese-Subject``: the subject's UTF-8 bytes, percent-encoded except printable
    ASCII other than ``%`` and space, so that it decodes once to exactly the subject
    (``adminé`` → ``admin%C3%A9``, ``admin%C3%A9`` → ``admin%25C3%25A9``)."""
    return quote(value, safe=_SUBJECT_SAFE)


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
