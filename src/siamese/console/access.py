"""Who may use the console: the checks every console request passes before its page runs.

- With SIAMESE_ADMIN_KEYS set, every request carries one of them in ``X-API-Key`` (or
  ``Authorization: Bearer``), sent by the console's script from the browser's session
  storage: never a cookie, never in a URL. Failures count against the caller's address as
  the admin endpoints' do.
- Without admin keys the console is served only on a loopback address (see
  ``Settings.console_enabled``), and only to requests whose ``Host`` is a loopback name: a
  web page that re-points its own host name at 127.0.0.1 (DNS rebinding) is refused.
- A ``POST`` whose ``Origin`` is another site's is refused (cross-site request forgery).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import Request

from ..server.asgi import Call
from ..server.context import Context
from ..server.responses import ApiError

__all__ = ["ConsoleAccess", "loopback_name"]


def loopback_name(host: str) -> bool:
    """Whether a ``Host`` header (``name[:port]``) names this machine's loopback."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    if name is None:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _same_origin(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


class ConsoleAccess:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.key_required = bool(ctx.settings.admin_keys)

    def check(self, request: Request) -> None:
        """Raise an ApiError (401, 403 or 429) unless this request may use the console."""
        host = request.headers.get("host", "")
        if len(request.headers.getlist("host")) > 1:
            raise ApiError(400, "more than one Host header")
        if not self.key_required and not loopback_name(host):
            raise ApiError(
                403, "the console answers only at a loopback address (such as "
                "127.0.0.1) unless SIAMESE_ADMIN_KEYS is set"
            )
        if request.method not in ("GET", "HEAD"):
            origins = request.headers.getlist("origin")
            if len(origins) > 1 or (origins and not _same_origin(origins[0], host)):
                raise ApiError(403, "cross-site request refused: the Origin is not this console")
        call = Call(request.scope, request.receive)
        if self.key_required:
            self.ctx.admit_admin(call)
        else:
            self.ctx.limit("ip:" + (call.client_host or "unknown"))
