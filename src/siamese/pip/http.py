"""``http_get_json(Url, ?Json)``: JSON from an allow-listed web API, mid-proof.

One :class:`HttpData` per process owns a pooled ``httpx.AsyncClient`` (connection limits,
keep-alive), the data cache and the circuit breakers; the server builds it at startup and
closes it at shutdown. A fetch that is refused, fails, times out, is too large or is not a
2xx JSON answer makes the goal fail and notes why (:func:`siamese.engine.note`):
the decision is a deny that names the URL and the cause, and it is not cached — a flaky
upstream can cost an allow, never grant one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpcore
import httpx
import orjson

from ..engine import Builtin, custom, from_json, mark_volatile, note
from ..engine.compat import Term, Unificator
from .breaker import Breakers, CircuitBreaker
from .cache import DataCache, freshness
from .guard import Allowlist, GuardedBackend, Refused, Resolver
from .jsonpath import JSON_PATH_BUILTINS

__all__ = ["FetchError", "HttpData"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOTE_URL_CHARS = 200


class FetchError(Exception):
    """A fetch that produced no data. ``upstream``: the host's fault (counts against its
    circuit breaker) rather than the answer's (too large, not JSON, a 4xx)."""

    def __init__(self, reason: str, *, upstream: bool = False) -> None:
        super().__init__(reason)
        self.upstream = upstream


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}"


class HttpData:
    """External data for policies: ``http_get_json`` and ``json_path``.

    ``allow``: URL prefixes that may be fetched (``SIAMESE_HTTP_ALLOW``); empty, every
    fetch is refused (the built-in still exists, so policies load everywhere).
    ``timeout``: seconds for a whole fetch, redirects and body included (keep it under
    the decision timeout, so that a slow host is named in the explanation).
    ``max_bytes``: the largest body read (decoded), whatever Content-Length says.
    ``cache_size``/``cache_ttl``/``max_ttl``: the data cache (0 entries: off); entries
    live ``max-age`` seconds when the response says so, else ``cache_ttl``.
    ``breaker_failures``/``breaker_cooldown``: the circuit breaker of each host (0: off).
    ``volatile``: decisions that used fetched data stay out of the decision cache (the
    data cache is where fetched data is reused, within the lifetime its source gave).
    ``clock`` drives the data cache and the breakers; ``resolver`` replaces DNS (tests);
    ``verify``: TLS verification (an ``ssl.SSLContext`` for a private CA).

    Use it from one event loop (the server's): the pool's connections belong to it.
    """

    def __init__(
        self,
        allow: Iterable[str] = (),
        *,
        timeout: float = 0.5,
        max_bytes: int = 1_000_000,
        max_redirects: int = 5,
        max_connections: int = 20,
        max_keepalive: int = 10,
        keepalive_expiry: float = 30.0,
        cache_size: int = 1024,
        cache_ttl: float = 60.0,
        max_ttl: float = 3600.0,
        breaker_failures: int = 5,
        breaker_cooldown: float = 30.0,
        volatile: bool = True,
        clock: Callable[[], float] = time.monotonic,
        resolver: Resolver | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        if timeout <= 0 or max_bytes <= 0 or max_redirects < 0:
            raise ValueError("timeout and max_bytes must be positive, max_redirects not negative")
        self.allow = Allowlist(allow)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.cache_ttl = cache_ttl
        self.max_ttl = max_ttl
        self.volatile = volatile
        self.cache = DataCache(cache_size, timer=clock)
        self.breakers = Breakers(breaker_failures, breaker_cooldown, clock)
        self.backend = GuardedBackend(self.allow.explicit, resolver)
        self.client = httpx.AsyncClient(
            transport=_transport(self.backend, max_connections, max_keepalive, keepalive_expiry,
                                 verify),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # followed here, each hop checked against the allowlist
            trust_env=False,  # no proxy or .netrc from the environment: the guard sees the socket
            headers={"Accept": "application/json", "User-Agent": "siamese"},
        )
        # requests beyond the pool's size wait here, in O(1), rather than in httpcore's
        # queue, which it rescans for every connection that frees up
        self._slots = asyncio.Semaphore(max_connections)
        self.fetches = 0  # requests sent (hops included)
        self.failures = 0  # fetches that ended in a FetchError
        self.refusals = 0  # fetches refused by the allowlist or the address check

    async def aclose(self) -> None:
        """Cancel the fetches under way and close the pooled connections."""
        self.cache.cancel()
        await self.client.aclose()

    # -- fetching --------------------------------------------------------------------------

    async def get_json(self, url: str) -> tuple[Any, bool]:
        """The JSON at ``url`` as a term (from the cache when fresh), and whether it may be
        kept (see :meth:`DataCache.get_or_fetch`). Raises :class:`Refused` or
        :class:`FetchError`."""
        try:
            target = self.allow.check(url)
        except Refused:
            self.refusals += 1
            raise
        return await self.cache.get_or_fetch(str(target), lambda: self._fetch(target))

    async def _fetch(self, url: httpx.URL) -> tuple[Any, float | None]:
        breaker: CircuitBreaker | None = None
        verdict = "release"  # what the current hop told about its host
        try:
            async with asyncio.timeout(self.timeout):
                for _ in range(self.max_redirects + 1):
                    breaker = self.breakers.get(_origin(url))
                    if not breaker.allow():
                        b, breaker = breaker, None
                        raise FetchError(b.describe())
                    verdict = "release"
                    try:
                        async with self._slots:
                            result = await self._hop(url)
                    except FetchError as e:
                        verdict = "failure" if e.upstream else "success"
                        raise
                    verdict = "success"
                    breaker.success()
                    breaker = None
                    if isinstance(result, httpx.URL):
                        url = self.allow.check(result)
                        continue
                    return result
                raise FetchError(f"more than {self.max_redirects} redirects")
        except TimeoutError:
            verdict = "failure"
            self.failures += 1
            raise FetchError(f"timed out after {self.timeout:g} s", upstream=True) from None
        except Refused:
            self.refusals += 1
            raise
        except FetchError:
            self.failures += 1
            raise
        finally:
            if breaker is not None:
                getattr(breaker, verdict)()

    async def _hop(self, url: httpx.URL) -> httpx.URL | tuple[Any, float | None]:
        """One request: the next URL of a redirect, or (the JSON as a term, its ttl)."""
        self.fetches += 1
        try:
            response = await self.client.send(self.client.build_request("GET", url), stream=True)
        except httpx.TransportError as e:
            raise self._transport_error(e) from None
        try:
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                try:
                    return url.join(response.headers["location"])
                except httpx.InvalidURL as e:
                    raise FetchError(f"bad redirect location ({e})") from None
            if status >= 500 or status == 429:
                raise FetchError(f"HTTP {status}", upstream=True)
            if not 200 <= status < 300:
                raise FetchError(f"HTTP {status}")
            ctype = response.headers.get("content-type", "")
            if not _is_json(ctype):
                raise FetchError(f"not JSON (content-type {ctype or 'missing'})")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(f"response larger than {self.max_bytes} bytes")
            body = await self._read(response)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                raise FetchError(f"invalid JSON ({e})") from None
            ttl = freshness(response.headers.get("cache-control"), self.cache_ttl, self.max_ttl)
            return from_json(data), ttl
        finally:
            await response.aclose()

    async def _read(self, response: httpx.Response) -> bytes:
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchError(f"response larger than {self.max_bytes} bytes")
        except httpx.DecodingError as e:
            raise FetchError(f"undecodable body ({e})") from None
        except httpx.TransportError as e:
            raise self._transport_error(e) from None
        return bytes(body)

    def _transport_error(self, e: httpx.TransportError) -> FetchError:
        if isinstance(e, httpx.TimeoutException):
            return FetchError(f"timed out after {self.timeout:g} s", upstream=True)
        return FetchError(f"connection failed ({type(e).__name__}: {e})", upstream=True)

    # -- the built-ins ---------------------------------------------------------------------

    async def http_get_json(self, goal: Term, bindings: dict[Any, Any]) -> AsyncIterator[Any]:
        """``http_get_json(Url, ?Json)`` in the original engine's built-in shape."""
        if len(goal.args) != 2:
            raise ValueError("http_get_json takes 2 arguments")
        url, out = goal.args
        if not isinstance(url, str):
            raise TypeError(f"http_get_json: the URL must be a string, got {url!r}")
        try:
            value, reusable = await self.get_json(url)
        except Refused as e:
            note(f"http_get_json: {_short(url)} refused: {e}")
            return
        except FetchError as e:
            note(f"http_get_json: {_short(url)} failed: {e}")
            return
        if not reusable and not self.volatile:
            # data its source said not to keep (no-store, max-age=0) must not live on in a
            # cached decision either
            mark_volatile()
        new = Unificator.unify(out, value, bindings)
        if new is not None:
            yield new

    def builtins(self) -> dict[str, Builtin]:
        """``http_get_json``, plus ``json_path`` (and its original name ``unify_json_path``)."""
        return {
            "http_get_json": custom(self.http_get_json, "http_get_json", volatile=self.volatile),
            **JSON_PATH_BUILTINS,
        }

    def stats(self) -> dict[str, Any]:
        return {
            "fetches": self.fetches,
            "failures": self.failures,
            "refusals": self.refusals,
            "connections": self.backend.connections,
            "cache": dict(self.cache.stats()),
            "breakers": self.breakers.states(),
        }


def _short(url: str) -> str:
    return url if len(url) <= _NOTE_URL_CHARS else url[:_NOTE_URL_CHARS] + "..."


def _transport(
    backend: GuardedBackend, max_connections: int, max_keepalive: int, keepalive_expiry: float,
    verify: bool | ssl.SSLContext,
) -> httpx.AsyncHTTPTransport:
    ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
    transport = httpx.AsyncHTTPTransport(
        verify=ssl_context, trust_env=False, retries=0,
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_keepalive,
                            keepalive_expiry=keepalive_expiry),
    )
    # httpx has no public way to give its transport a network backend; its pool is the one
    # attribute that holds it. Fail loudly if a new httpx moves it, rather than fetch unguarded.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("this httpx version keeps no connection pool in _pool: "
                           "cannot guard connections")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=keepalive_expiry,
        network_backend=backend,
    )
    return transport
