"""Fetching: redirects within the allowlist only, the timeout, the size cap, JSON and 2xx
only, and one pooled connection reused across fetches."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siamese.pip import FetchError, HttpData, Refused

from .upstream import Handler, Server


async def test_a_redirect_within_the_allowlist_is_followed(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    upstream.json("/data/target", {"here": True})
    h = make_http([upstream.url("/data/"), upstream.url("/redirect")])
    value, _ = await h.get_json(upstream.url("/redirect?to=/data/target"))
    assert value == {"here": True}
    assert upstream.hits["/redirect"] == 1 and upstream.hits["/data/target"] == 1


@pytest.mark.parametrize("status", ["301", "302", "303", "307", "308"])
async def test_a_redirect_out_of_the_allowlist_is_refused(
    upstream: Server, make_http: Callable[..., HttpData], status: str
) -> None:
    upstream.json("/elsewhere", {"secret": True})
    h = make_http([upstream.url("/redirect")])
    with pytest.raises(Refused, match="not in SIAMESE_HTTP_ALLOW"):
        await h.get_json(upstream.url(f"/redirect?status={status}&to=/elsewhere"))
    assert upstream.hits["/elsewhere"] == 0  # never asked


async def test_a_redirect_to_a_link_local_address_is_refused(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/redirect")])
    with pytest.raises(Refused, match="not in SIAMESE_HTTP_ALLOW"):
        await h.get_json(upstream.url("/redirect?to=http://169.254.169.254/latest/meta-data/"))
    with pytest.raises(Refused, match="scheme 'file' is not allowed"):
        await h.get_json(upstream.url("/redirect?to=file:///etc/passwd"))


async def test_redirects_are_bounded(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/redirect")], max_redirects=2)
    loop = "/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/redirect"
    with pytest.raises(FetchError, match="more than 2 redirects"):
        await h.get_json(upstream.url(loop))
    assert upstream.hits["/redirect"] == 3


async def test_a_slow_upstream_times_out(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/gate")], timeout=0.1)
    with pytest.raises(FetchError, match=r"timed out after 0\.1 s"):
        await h.get_json(upstream.url("/gate"))
    assert upstream.arrived.is_set()


async def test_the_size_cap_stops_reading_a_body_without_content_length(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/chunked")], max_bytes=10_000)
    with pytest.raises(FetchError, match="response larger than 10000 bytes"):
        await h.get_json(upstream.url("/chunked?bytes=5000000"))
    value, _ = await h.get_json(upstream.url("/chunked?bytes=100"))  # under the cap: fine
    assert value == {"pad": "x" * 100}


async def test_a_declared_oversized_body_is_refused_without_reading_it(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/lying")], max_bytes=10_000)
    with pytest.raises(FetchError, match="response larger than 10000 bytes"):
        await h.get_json(upstream.url("/lying"))


@pytest.mark.parametrize(
    ("status", "content_type", "message"),
    [
        (404, "application/json", "HTTP 404"),
        (500, "application/json", "HTTP 500"),
        (200, "text/html", r"not JSON \(content-type text/html\)"),
    ],
)
async def test_only_2xx_json_answers_succeed(
    upstream: Server, make_http: Callable[..., HttpData],
    status: int, content_type: str, message: str,
) -> None:
    upstream.json("/r", {"a": 1}, status=status, content_type=content_type)
    h = make_http([upstream.url("/r")])
    with pytest.raises(FetchError, match=message):
        await h.get_json(upstream.url("/r"))


async def test_a_body_that_is_not_json_fails(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    def broken(h: Handler, q: dict[str, list[str]]) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "3")
        h.end_headers()
        h.wfile.write(b"{x}")

    upstream.routes["/r"] = broken
    h = make_http([upstream.url("/r")])
    with pytest.raises(FetchError, match="invalid JSON"):
        await h.get_json(upstream.url("/r"))


async def test_json_media_types(upstream: Server, make_http: Callable[..., HttpData]) -> None:
    upstream.json("/a", [1, None], content_type="application/problem+json; charset=utf-8")
    h = make_http([upstream.base + "/"])
    value, _ = await h.get_json(upstream.url("/a"))
    assert value == (1, "null")  # JSON null is the atom null


async def test_one_pooled_connection_serves_many_fetches(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    for i in range(5):
        upstream.json(f"/item/{i}", {"i": i})
    h = make_http([upstream.url("/item/")], cache_size=0)
    for _ in range(2):
        for i in range(5):
            value, reusable = await h.get_json(upstream.url(f"/item/{i}"))
            assert value == {"i": i} and not reusable
    assert h.fetches == 10
    assert upstream.connections == 1 and h.backend.connections == 1


async def test_no_proxy_from_the_environment(
    upstream: Server, make_http: Callable[..., HttpData], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if used
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    upstream.json("/a", {"direct": True})
    h = make_http([upstream.url("/a")])
    assert (await h.get_json(upstream.url("/a")))[0] == {"direct": True}
