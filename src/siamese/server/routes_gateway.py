"""``ANY /v1/forward-auth[/{path}]``: the gateway callout (nginx ``auth_request``, Traefik
ForwardAuth, Caddy ``forward_auth``, Envoy ``ext_authz`` HTTP service), SPEC §6.1.

``SIAMESE_GATEWAY`` says where the original request is (:func:`.gateway.original_request`):

* ``nginx``: ``X-Original-Method``, ``X-Original-URI`` and ``X-Original-Host`` (nginx itself
  always calls with GET);
* ``traefik``, ``caddy``: ``X-Forwarded-Method``, ``X-Forwarded-Uri`` and
  ``X-Forwarded-Host``;
* ``envoy`` (``path_prefix: /v1/forward-auth``): the callout's own method, its raw path after
  the prefix with its query string, and its Host;
* ``auto``: whichever of these the callout carries, refused when they disagree.

The answer is 200 (allow), 403 (an authenticated subject denied, or a refused callout, with
a JSON reason) or 401 with ``WWW-Authenticate: Bearer`` (a request without credentials that
is denied, or a bad token). Never another status and never a redirect: nginx turns anything
but 2xx/401/403 into a 500.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from starlette.routing import Route

from ..decision.models import Decision, RequestError
from ..decision.service import NotReady
from .asgi import ANY_PATH, Call, Headers, Reply
from .auth import TokenError, bearer_token, www_authenticate
from .context import Context
from .gateway import (
    CONVENTION_HEADERS,
    GatewayCall,
    Original,
    original_request,
    split_uri,
    subject_header_value,
)
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = ["PREFIX", "routes", "safe_response_headers"]

PREFIX = "/v1/forward-auth"
ENDPOINT = "forward_auth"
CHALLENGE = www_authenticate().encode("latin-1")
_CONVENTION_NAMES = {name.encode("latin-1"): name for name in CONVENTION_HEADERS}

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
    mode = ctx.settings.gateway
    prefix_bytes = PREFIX.encode()
    refused = ctx.metrics.refused

    def deny(reason: str, decision_id: str | None = None, headers: Headers | None = None) -> Reply:
        body: dict[str, object] = {"decision": False, "reason": reason}
        if decision_id is not None:
            body["decision_id"] = decision_id
        return 403, body, headers or []

    def convention_headers(call: Call) -> dict[str, list[str]]:
        """Every value of the headers that say what the original request is (ASGI names
        are lower-case bytes: compared as they are, only the few that match decoded)."""
        out: dict[str, list[str]] = {}
        for key, value in call.scope["headers"]:
            if key in _CONVENTION_NAMES:
                out.setdefault(_CONVENTION_NAMES[key], []).append(value.decode("latin-1"))
        return out

    def own(call: Call, headers: dict[str, str]) -> Original:
        """The callout's own method, raw path after the prefix (with its query; empty for the
        bare prefix) and Host: Envoy's convention."""
        scope = call.scope
        raw = scope.get("raw_path")
        if raw and raw.startswith(prefix_bytes):
            path = raw[len(prefix_bytes) :].decode("latin-1")
        else:  # no raw path from this server: re-encode the decoded one, so it decodes once
            path = quote(scope["path"][len(PREFIX) :], safe="/")
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            path += "?" + query
        return Original("envoy", call.method, path, headers.get("host", ""))

    def text(raw: str) -> str:
        """A header value (bytes read as latin-1) as the UTF-8 text it is."""
        try:
            return raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise ApiError(403, "the original URI is not UTF-8") from None

    def refusal(status: int, message: str, headers: Headers | None = None) -> Reply:
        refused(ENDPOINT, status)
        return deny(message, headers=headers)

    async def forward_auth(call: Call) -> Reply:
        headers = call.headers()
        authorization = headers.get("authorization")
        try:
            original = original_request(mode, convention_headers(call), own(call, headers))
            method = gateway.method(original.method)
            path, query = split_uri(text(original.uri))
            subject, claims = gateway.subject(authorization)
        except TokenError as e:
            refused(ENDPOINT, 401)
            challenge = www_authenticate(str(e)).encode("latin-1")
            body = {"decision": False, "reason": f"invalid token: {e}"}
            return 401, body, [(b"www-authenticate", challenge)]
        except ApiError as e:  # every refusal is a 403: nginx turns a 400 into a 500
            return refusal(403, e.message)
        try:
            if ctx.limiter is not None:
                ctx.limit(subject if claims is not None else f"ip:{call.client_host or 'unknown'}")
            decision_request = gateway.request(
                method=method,
                path=path,
                query=query,
                host=original.host,
                headers=headers.items(),
                subject=subject,
                claims=claims,
            )
            decision = await ctx.service.decide(decision_request, gateway=True)
            decision = await ctx.answered(decision, ENDPOINT)
        except ApiError as e:  # the rate limit: a deny, so that nginx does not answer 500
            extra = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in e.headers.items()
            ]
            return refusal(e.status, e.message, extra)
        except RequestError as e:  # an oversized path or subject: refused, never a 400
            return refusal(403, e.message)
        except NotReady as e:
            return refusal(403, f"denied: {e}")
        except Exception:
            log.exception("forward-auth failed")
            return refusal(403, "denied: internal error")
        return answer(decision, subject, bearer_token(authorization) is not None)

    def answer(decision: Decision, subject: str, credentials: bool) -> Reply:
        outcome = decision.outcome
        if not outcome.allowed:
            _, body, _ = deny(ctx.shown(decision)[0], decision.decision_id)
            if not credentials and not outcome.errors and outcome.limit is None:
                # the policy denies a request without credentials: RFC 6750 §3.1, a
                # challenge without an error code, so that the client logs in
                return 401, body, [(b"www-authenticate", CHALLENGE)]
            return 403, body, []
        extra = [
            (b"x-siamese-decision-id", decision.decision_id.encode("latin-1")),
            (b"x-siamese-subject", subject_header_value(subject).encode("latin-1")),
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
