"""The allowlist of URL prefixes and the address check made when connecting."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import httpcore
import pytest

from siamese.pip import Allowlist, HttpData, Refused, address_problem
from siamese.pip.guard import GuardedBackend, Prefix

from .upstream import Server


def test_prefixes_match_whole_segments_and_exact_origins() -> None:
    allow = Allowlist(["https://api.example.com/v1", "http://127.0.0.1:8080/data/"])
    ok = [
        "https://api.example.com/v1",
        "https://api.example.com/v1/users?id=3",
        "https://API.example.com:443/v1/x",
        "http://127.0.0.1:8080/data/x.json",
    ]
    for url in ok:
        allow.check(url)
    refused = [
        "https://api.example.com/v1x",  # not a whole segment
        "https://api.example.com/v2",
        "http://api.example.com/v1",  # another scheme
        "https://api.example.com:8443/v1",  # another port
        "https://api.example.com.evil.test/v1",  # a longer host
        "http://127.0.0.1:8080/data",  # the prefix ends with '/'
        "http://127.0.0.1:8081/data/x",
    ]
    for url in refused:
        with pytest.raises(Refused, match="not in SIAMESE_HTTP_ALLOW"):
            allow.check(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:8080/data/", "scheme 'gopher' is not allowed"),
        ("http://user:pw@127.0.0.1:8080/data/x", "credentials"),
        ("http://127.0.0.1:8080@evil.test/data/x", "credentials"),
        ("http://127.0.0.1:8080/data/%2e%2e/admin", "dot segments"),
        ("http://127.0.0.1:8080/data/%2E./admin", "dot segments"),
        ("http://127.0.0.1:8080/data/a%2fb", "encoded slashes"),
        ("http://127.0.0.1:8080/data/a%252Fb", "encoded slashes"),
        ("http://127.0.0.1:8080/data/a%5cb", "backslashes"),
        ("http://127.0.0.1:8080/data/a%00b", "control characters"),
        ("http://127.0.0.1:8080/data/a%c2%85b", "control characters"),
        ("http://127.0.0.1:8080/data/..;/admin", "dot segments"),
        ("not a url at all", "not an absolute URL"),
        ("//127.0.0.1:8080/data/", "not an absolute URL"),
    ],
)
def test_refusals_before_anything_is_sent(url: str, message: str) -> None:
    with pytest.raises(Refused, match=message):
        Allowlist(["http://127.0.0.1:8080/data/"]).check(url)


def test_literal_dot_segments_are_resolved_before_matching() -> None:
    allow = Allowlist(["http://127.0.0.1:8080/data/"])
    with pytest.raises(Refused, match="not in SIAMESE_HTTP_ALLOW"):
        allow.check("http://127.0.0.1:8080/data/../admin")


def test_an_empty_allowlist_refuses_everything() -> None:
    with pytest.raises(Refused, match="external data is off"):
        Allowlist([]).check("https://api.example.com/")
    assert not Allowlist(["", " "])


@pytest.mark.parametrize(
    "entry", ["api.example.com", "ftp://x/", "https://u:p@x/", "https://x/?q=1", "https:///x"]
)
def test_bad_allowlist_entries_are_rejected_at_startup(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"SIAMESE_HTTP_ALLOW: '{entry}'")):
        Prefix.parse(entry)


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.1.2", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("2001:db8::1", None),
    ],
)
def test_address_problems(ip: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(ip)) == problem


def resolver_to(*addresses: str) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_host_that_resolves_to_a_link_local_address_is_refused(
    make_http: Callable[..., HttpData],
) -> None:
    h = make_http(["http://internal.test/"], resolver=resolver_to("10.0.0.7", "169.254.10.10"))
    message = "internal.test resolves to 169.254.10.10, which is a link-local address"
    with pytest.raises(Refused, match=re.escape(message)):
        await h.get_json("http://internal.test/x")
    assert h.fetches == 1 and h.backend.connections == 0
    assert h.breakers.states() == {"http://internal.test": "closed"}  # not held against it


async def test_metadata_host_names_are_refused_unless_named(
    make_http: Callable[..., HttpData],
) -> None:
    h = make_http(["http://metadata.google.internal/"],
                  resolver=resolver_to("169.254.169.254"))
    # named in the allowlist: the address check lets it through (the connection itself
    # then fails here, there being no metadata service in the test machine)
    assert "metadata.google.internal" in h.allow.explicit
    h2 = make_http(["http://metadata-proxy.test/"], resolver=resolver_to("169.254.169.254"))
    with pytest.raises(Refused, match="cloud metadata address"):
        await h2.get_json("http://metadata-proxy.test/computeMetadata/v1/")


class Recorder(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        self.calls.append((host, port))
        raise httpcore.ConnectError("recorded")


async def test_the_backend_connects_to_the_address_it_checked() -> None:
    inner = Recorder()
    backend = GuardedBackend(frozenset(), resolver_to("10.0.0.1", "10.0.0.2"), inner)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("svc.test", 443)
    assert inner.calls == [("10.0.0.1", 443), ("10.0.0.2", 443)]  # never the name again
    explicit = GuardedBackend(frozenset({"169.254.169.254"}), resolver_to(), inner)
    with pytest.raises(httpcore.ConnectError):
        await explicit.connect_tcp("169.254.169.254", 80)
    assert inner.calls[-1] == ("169.254.169.254", 80)  # named by the operator: allowed


async def test_loopback_is_allowed_when_listed(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    upstream.json("/ok", {"ok": True})
    h = make_http([upstream.url("/ok")])
    value, _ = await h.get_json(upstream.url("/ok"))
    assert value == {"ok": True}
