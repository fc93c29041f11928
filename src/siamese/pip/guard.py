"""Which URLs and addresses the policy built-ins may reach.

Two checks, both needed:

- on the URL, before anything is sent: the scheme is http or https, there are no
  credentials in it, no ``.``/``..`` path segment hides in percent-encoding, and it falls
  under one of the operator's allowed URL prefixes (``SIAMESE_HTTP_ALLOW``);
- on every address the host resolves to, at the moment of connecting (a network backend
  under httpx's connection pool): link-local, cloud metadata, unspecified and multicast
  addresses are refused unless an allowlist entry names that host itself. Checking where
  the socket is opened, and connecting to the address that was checked, means a DNS
  answer cannot send a fetch elsewhere after the check (DNS rebinding).

Loopback and private addresses are allowed when the allowlist names them: internal
services are what policies consult.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpcore
import httpx

__all__ = [
    "Allowlist",
    "GuardedBackend",
    "Prefix",
    "Refused",
    "Resolver",
    "address_problem",
    "path_problem",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# hosts and addresses of cloud instance metadata services (credentials live there)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_MEMO_SIZE = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Refused(Exception):
    """A fetch the operator's rules forbid (never retried, never held against the host)."""


def address_problem(ip: IPAddress) -> str | None:
    """Why a connection to ``ip`` is refused unless explicitly allowed, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    return None


def _host_problem(host: str) -> str | None:
    if host.rstrip(".") in METADATA_HOSTS:
        return "a cloud metadata host"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address_problem(ip)


_DECODINGS = 3  # how many times a path is decoded in search of a hidden separator


def path_problem(raw_path: str) -> str | None:
    """Why a URL path could be read two ways, or None.

    The allowlist decides on the path as sent; a web server (or a proxy in front of it)
    may percent-decode it once or twice more and then resolve dot-segments, landing
    outside the allowed prefix (``/api/..%2f..%2fadmin``). So a path is refused if any of
    its decodings holds a backslash, a control character, a dot-segment (also ``..;``,
    which some servers read as ``..``), or a slash that the raw path did not have.
    """
    slashes = raw_path.count("/")
    current = raw_path
    for n in range(_DECODINGS + 1):
        if "\\" in current:
            return "backslashes in the path are not allowed"
        if _CONTROL.search(current):
            return "control characters in the path are not allowed"
        if any(seg.split(";", 1)[0] in (".", "..") for seg in current.split("/")):
            return "dot segments in the path are not allowed"
        if current.count("/") != slashes:
            return "encoded slashes in the path are not allowed"
        if n == _DECODINGS or "%" not in current:
            break
        current = unquote(current, errors="surrogateescape")
    return None


def _port(url: httpx.URL) -> int:
    return url.port or DEFAULT_PORTS[url.scheme]


def _path(url: httpx.URL) -> str:
    return url.raw_path.split(b"?", 1)[0].decode("ascii")


@dataclass(frozen=True)
class Prefix:
    """One allowed URL prefix: scheme, host and port exactly, the path by whole segments
    (``/api`` allows ``/api`` and ``/api/x`` but not ``/apix``)."""

    text: str
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, text: str) -> Prefix:
        try:
            url = httpx.URL(text.strip())
        except (httpx.InvalidURL, TypeError) as e:
            raise ValueError(f"SIAMESE_HTTP_ALLOW: {text!r} is not a URL: {e}") from None
        if url.scheme not in DEFAULT_PORTS or not url.host:
            raise ValueError(
                f"SIAMESE_HTTP_ALLOW: {text!r} is not an http:// or https:// URL prefix with a host"
            )
        if url.userinfo:
            raise ValueError(f"SIAMESE_HTTP_ALLOW: {text!r} must not contain credentials")
        if url.query or url.fragment:
            raise ValueError(f"SIAMESE_HTTP_ALLOW: {text!r} must not have a query or fragment")
        return cls(text.strip(), url.scheme, url.host, _port(url), _path(url) or "/")

    def matches(self, url: httpx.URL) -> bool:
        if url.scheme != self.scheme or url.host != self.host or _port(url) != self.port:
            return False
        path = _path(url) or "/"
        p = self.path
        if p.endswith("/"):
            return path.startswith(p)
        return path == p or path.startswith(p + "/")


class Allowlist:
    """The operator's allowed URL prefixes. Empty: every fetch is refused."""

    def __init__(self, prefixes: Iterable[str] = ()) -> None:
        self.prefixes = tuple(Prefix.parse(p) for p in prefixes if p.strip())
        # hosts that an entry names although they are link-local or metadata: the operator
        # asked for them, so the address check lets them through
        self.explicit = frozenset(p.host for p in self.prefixes if _host_problem(p.host))
        self._memo: dict[str, httpx.URL | str] = {}  # URL → parsed, or why it is refused

    def __bool__(self) -> bool:
        return bool(self.prefixes)

    def check(self, url: str | httpx.URL) -> httpx.URL:
        """The URL, parsed, if it may be fetched; raises :class:`Refused` otherwise."""
        if isinstance(url, httpx.URL):
            return self._check(url)
        # the verdict on a string is memoised: parsing a URL costs more than the rest of a
        # decision whose data is cached
        verdict = self._memo.get(url)
        if verdict is None:
            try:
                verdict = self._check(url)
            except Refused as e:
                verdict = str(e)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[url] = verdict
        if isinstance(verdict, str):
            raise Refused(verdict)
        return verdict

    def _check(self, url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as e:
            raise Refused(f"invalid URL ({e})") from None
        if not parsed.scheme:
            raise Refused("not an absolute URL")
        if parsed.scheme not in DEFAULT_PORTS:
            raise Refused(f"scheme '{parsed.scheme}' is not allowed (http and https only)")
        if not parsed.host:
            raise Refused("the URL has no host")
        if parsed.userinfo:
            raise Refused("credentials in URLs are not allowed")
        problem = path_problem(_path(parsed))
        if problem is not None:
            raise Refused(problem)
        if not self.prefixes:
            raise Refused("external data is off (SIAMESE_HTTP_ALLOW is empty)")
        if not any(p.matches(parsed) for p in self.prefixes):
            raise Refused("not in SIAMESE_HTTP_ALLOW")
        # a host that resolves to a forbidden address is refused when connecting
        return parsed.copy_with(fragment=None) if parsed.fragment else parsed


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order (no duplicates)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, checking every address before it connects to it.

    It resolves the host itself, refuses the connection if any address is forbidden (a
    name that mixes public and metadata addresses is not trusted), and connects to the
    checked address; TLS still verifies the certificate against the URL's host name.
    """

    def __init__(
        self,
        explicit: frozenset[str] = frozenset(),
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.explicit = explicit
        self.resolver = resolver or resolve
        self.inner = inner or httpcore.AnyIOBackend()
        self.connections = 0  # sockets opened (the pool reuses them between fetches)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host in self.explicit:
            addresses = [host] if _is_ip(host) else await self.resolver(host, port)
        else:
            addresses = await self.resolver(host, port)
            for a in addresses:
                problem = address_problem(ipaddress.ip_address(a.split("%", 1)[0]))
                if problem is not None:
                    shown = host if host == a else f"{host} resolves to {a}, which"
                    raise Refused(f"{shown} is {problem}")
        if not addresses:
            raise httpcore.ConnectError(f"{host}: no address")
        error: Exception | None = None
        for a in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    a, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
                continue
            self.connections += 1
            return stream
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - the client never asks for one
        raise Refused("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
