"""``ANY /v1/forward-auth[/{path}]``: the gateway callout (nginx ``auth_request``, Traefik
ForwardAuth, Envoy ``ext_authz`` HTTP service).

Where the original request comes from, first match wins:

* nginx: ``X-Original-Method`` and ``X-Original-URI`` (nginx itself always calls with GET);
* Traefik: ``X-Forwarded-Method``, ``X-Forwarded-Uri`` and ``X-Forwarded-Host``;
* Envoy (``path_prefix: /v1/forward-auth``): the callout's own method, and its raw path
  after the prefix, with its query string.

The answer is 200 (allow), 403 (deny, JSON reason) or 401 (bad token, with
``WWW-Authenticate``); a URI that cannot be normalised is a 400. Never a redirect and never
another status for a decision: nginx turns anything but 2xx/401/403 into a 500.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from starlette.routing import Route

from ..decision.models import Decision, RequestError
from ..decision.service import NotReady
from .asgi import ANY_PATH, Call, Headers, Reply
from .auth import TokenError, www_authenticate
from .context import Context
from .gateway import GatewayCall, safe_header_value, split_uri
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = ["PREFIX", "routes", "safe_response_headers"]

PREFIX = "/v1/forward-auth"
ENDPOINT = "forward_auth"

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_FORBIDDEN_HEADERS = frozenset(
    {
        # hop-by-hop (RFC 9110 §7.6.1) and framing: never the policy's to set
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "content-type",
        "host",
        "location",
        "set-cookie",
        "www-authenticate",
    }
)


def safe_response_headers(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The policy's ``response_header(Name, Value)`` pairs that are safe to send: a token
    name that is neither hop-by-hop, framing nor ours (``X-Siamese-*``), and a value
    without control characters. The others are dropped with a warning."""
    out = []
    for name, value in pairs:
        low = name.lower()
        if (
            not _HEADER_NAME.match(name)
            or low in _FORBIDDEN_HEADERS
            or low.startswith("x-siamese-")
            or any((c < " " and c != "\t") or c == "\x7f" or c > "\xff" for c in value)
        ):
            log.warning("response_header(%r, %r) dropped: not a safe header", name[:64], value[:64])
            continue
        out.append((name, value))
    return out


def routes(ctx: Context) -> list[Route]:
    gateway = GatewayCall(ctx.verifier)
    prefix_bytes = PREFIX.encode()
    refused = ctx.metrics.refused

    def deny(reason: str, decision_id: str | None = None, headers: Headers | None = None) -> Reply:
        body: dict[str, object] = {"decision": False, "reason": reason}
        if decision_id is not None:
            body["decision_id"] = decision_id
        return 403, body, headers or []

    def original_uri(call: Call, headers: dict[str, str]) -> str:
        uri = headers.get("x-original-uri")
        if uri is None:
            uri = headers.get("x-forwarded-uri")
        if uri is not None:
            return uri
        scope = call.scope
        raw = scope.get("raw_path")
        if raw and raw.startswith(prefix_bytes):
            path = raw[len(prefix_bytes) :].decode("latin-1")
        else:  # no raw path from this server: re-encode the decoded one, so it decodes once
            path = quote(scope["path"][len(PREFIX) :], safe="/")
        path = path or "/"
        query = scope.get("query_string", b"")
        if query:
            path += "?" + query.decode("latin-1")
        return path

    async def forward_auth(call: Call) -> Reply:
        headers = call.headers()
        try:
            method = gateway.method(
                headers.get("x-original-method") or headers.get("x-forwarded-method") or call.method
            )
            path, query = split_uri(original_uri(call, headers))
            subject, claims = gateway.subject(headers.get("authorization"))
        except TokenError as e:
            refused(ENDPOINT, 401)
            challenge = www_authenticate(str(e)).encode("latin-1")
            body = {"decision": False, "reason": f"invalid token: {e}"}
            return 401, body, [(b"www-authenticate", challenge)]
        except ApiError as e:
            refused(ENDPOINT, e.status)
            return e.status, {"decision": False, "reason": e.message}, []
        host = headers.get("x-forwarded-host") or headers.get("host") or ""
        try:
            if ctx.limiter is not None:
                ctx.limit(subject if claims is not None else f"ip:{call.client_host or 'unknown'}")
            decision_request = gateway.request(
                method=method,
                path=path,
                query=query,
                host=host,
                headers=headers.items(),
                subject=subject,
                claims=claims,
            )
            decision = await ctx.service.decide(decision_request, gateway=True)
            decision = await ctx.answered(decision, ENDPOINT)
        except ApiError as e:  # the rate limit: a deny, so that nginx does not answer 500
            refused(ENDPOINT, e.status)
            extra = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in e.headers.items()
            ]
            return deny(e.message, headers=extra)
        except RequestError as e:
            refused(ENDPOINT, 400)
            return 400, {"decision": False, "reason": e.message}, []
        except NotReady as e:
            refused(ENDPOINT, 403)
            return deny(f"denied: {e}")
        except Exception:
            log.exception("forward-auth failed")
            refused(ENDPOINT, 403)
            return deny("denied: internal error")
        return answer(decision, subject)

    def answer(decision: Decision, subject: str) -> Reply:
        outcome = decision.outcome
        if not outcome.allowed:
            return deny(ctx.shown(decision)[0], decision.decision_id)
        extra = [
            (b"x-siamese-decision-id", decision.decision_id.encode("latin-1")),
            (b"x-siamese-subject", safe_header_value(subject).encode("latin-1")),
        ]
        if outcome.response_headers:
            for name, value in safe_response_headers(outcome.response_headers):
                extra.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return 200, {"decision": True, "decision_id": decision.decision_id}, extra

    endpoint = ctx.endpoint(ENDPOINT, forward_auth)
    # no methods: every method routes here (Envoy calls with the client's own, whatever it is)
    return [
        Route(PREFIX, endpoint, name="forward_auth"),
        Route(PREFIX + "/" + ANY_PATH, endpoint, name="forward_auth_path"),
    ]
