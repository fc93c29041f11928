"""The data cache: hits and expiry on the injected clock, Cache-Control, and one fetch for
concurrent identical requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from siamese.pip import DataCache, HttpData, freshness

from .conftest import Clock
from .upstream import Server


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        (None, 60.0),
        ("public", 60.0),
        ("max-age=5", 5.0),
        ("public, max-age=7200", 3600.0),  # capped
        ("max-age=10, s-maxage=20", 20.0),  # a shared cache reads s-maxage
        ('max-age="30"', 30.0),
        ("max-age=0", None),
        ("max-age=soon", None),
        ("no-store", None),
        ("No-Cache, max-age=60", None),
    ],
)
def test_freshness(header: str | None, ttl: float | None) -> None:
    assert freshness(header, 60.0, 3600.0) == ttl


async def test_hit_then_expiry_on_the_injected_clock(
    upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    h = make_http([upstream.url("/counter")], cache_ttl=30.0)
    assert (await h.get_json(upstream.url("/counter")))[0] == {"hits": 1}
    clock.advance(29.9)
    assert (await h.get_json(upstream.url("/counter")))[0] == {"hits": 1}  # cached
    clock.advance(0.2)
    assert (await h.get_json(upstream.url("/counter")))[0] == {"hits": 2}  # expired
    assert upstream.hits["/counter"] == 2
    assert h.cache.stats()["hits"] == 1


async def test_max_age_sets_the_lifetime(
    upstream: Server, make_http: Callable[..., HttpData], clock: Clock
) -> None:
    h = make_http([upstream.url("/counter")], cache_ttl=600.0)
    url = upstream.url("/counter?cc=max-age%3D5")
    assert (await h.get_json(url))[0] == {"hits": 1}
    clock.advance(4.9)
    assert (await h.get_json(url)) == ({"hits": 1}, True)
    clock.advance(0.2)  # 5.1 s: past max-age, though well within the default 600 s
    assert (await h.get_json(url))[0] == {"hits": 2}


@pytest.mark.parametrize("cc", ["no-store", "no-cache", "max-age%3D0"])
async def test_no_store_is_not_kept(
    upstream: Server, make_http: Callable[..., HttpData], cc: str
) -> None:
    h = make_http([upstream.url("/counter")])
    url = upstream.url(f"/counter?cc={cc}")
    assert await h.get_json(url) == ({"hits": 1}, False)
    assert await h.get_json(url) == ({"hits": 2}, False)
    assert h.cache.size == 0


async def test_failures_are_not_cached(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    upstream.json("/flaky", {"e": 1}, status=503)
    h = make_http([upstream.url("/flaky")])
    for _ in range(2):
        with pytest.raises(Exception, match="HTTP 503"):
            await h.get_json(upstream.url("/flaky"))
    upstream.json("/flaky", {"ok": 1})
    assert (await h.get_json(upstream.url("/flaky")))[0] == {"ok": 1}
    assert upstream.hits["/flaky"] == 3


async def test_concurrent_identical_requests_make_one_fetch(
    upstream: Server, make_http: Callable[..., HttpData]
) -> None:
    h = make_http([upstream.url("/gate")])
    tasks = [asyncio.create_task(h.get_json(upstream.url("/gate"))) for _ in range(20)]
    # hold the answer until the first request is in: every other caller is waiting by then
    assert await asyncio.to_thread(upstream.arrived.wait, 5)
    upstream.release.set()
    results = await asyncio.gather(*tasks)
    assert all(value == {"gate": "open"} for value, _ in results)
    assert upstream.hits["/gate"] == 1
    stats = h.cache.stats()
    assert (stats["misses"], stats["coalesced"]) == (1, 19)


async def test_a_caller_that_gives_up_does_not_cancel_the_fetch_for_the_others() -> None:
    cache = DataCache(10)
    release = asyncio.Event()
    calls = 0

    async def fetch() -> tuple[object, float | None]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"v": 1}, 10.0

    first = asyncio.create_task(cache.get_or_fetch("k", fetch))
    second = asyncio.create_task(cache.get_or_fetch("k", fetch))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == ({"v": 1}, True)
    assert first.cancelled() and calls == 1
    assert cache.get("k") == {"v": 1}


async def test_a_disabled_cache_keeps_nothing_but_still_coalesces() -> None:
    cache = DataCache(0)
    release = asyncio.Event()

    async def fetch() -> tuple[object, float | None]:
        await release.wait()
        return "v", 10.0

    tasks = [asyncio.create_task(cache.get_or_fetch("k", fetch)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [("v", False)] * 3
    assert cache.coalesced == 2 and cache.size == 0
