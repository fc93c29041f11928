"""Who may use the console, tried as an attacker would: without the admin key, with the
wrong one, with the key where it must not be read (a cookie, the URL), from a page that
re-points its host name at 127.0.0.1, and across sites; plus the key flow in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from siamese.settings import Settings, SettingsError
from tests.console.conftest import screenshot, serve
from tests.server.conftest import build

KEY = "console-admin-key-0123456789"
LOCAL = "http://127.0.0.1:8000"


def client(tmp_path: Path, base: str = LOCAL, **settings: Any) -> httpx.AsyncClient:
    h = build(tmp_path, **settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app), base_url=base)


async def test_open_on_loopback_without_admin_keys(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        r = await c.get("/console/policies")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "admin-all" in r.text
    # nothing but the console's own files may run, and no page may frame it
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "10.0.0.1", "", "[::1", "localhost@evil.example"])
async def test_a_page_that_rebinds_its_name_to_loopback_is_refused(
    tmp_path: Path, host: str
) -> None:
    async with client(tmp_path) as c:
        r = await c.get("/console/policies", headers={"host": host})
    assert r.status_code == 403 if host else r.status_code in (400, 403)
    assert "admin-all" not in r.text
    assert "serving <code>" not in r.text  # a refused caller learns no revision


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000",
                                  "LOCALHOST", "127.1.2.3"])
async def test_loopback_names_are_served(tmp_path: Path, host: str) -> None:
    async with client(tmp_path) as c:
        r = await c.get("/console/policies", headers={"host": host})
    assert r.status_code == 200


async def test_two_host_headers_are_refused(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        r = await c.get("/console/policies",
                        headers=[("host", "127.0.0.1"), ("host", "evil.example")])
    assert r.status_code in (400, 403)
    assert "admin-all" not in r.text


async def test_a_cross_site_post_is_refused(tmp_path: Path) -> None:
    async with client(tmp_path) as c:
        for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
            r = await c.post("/console/policies", headers={"origin": origin})
            # 403 from the checks, or 405 where the route takes no POST: never served
            assert r.status_code in (403, 405), origin


async def test_the_admin_key_is_required_when_admin_keys_are_set(tmp_path: Path) -> None:
    async with client(tmp_path, base="http://anything.example", admin_keys=(KEY,)) as c:
        bare = await c.get("/console/policies")
        assert bare.status_code == 401
        assert 'id="key-form"' in bare.text and "admin-all" not in bare.text
        assert "serving <code>" not in bare.text
        wrong = await c.get("/console/policies", headers={"x-api-key": "nope"})
        assert wrong.status_code == 401
        # never read from a cookie or from the URL
        cookie = await c.get("/console/policies",
                             headers={"cookie": f"x-api-key={KEY}; key={KEY}"})
        assert cookie.status_code == 401
        query = await c.get(f"/console/policies?key={KEY}&x-api-key={KEY}")
        assert query.status_code == 401
        ok = await c.get("/console/policies", headers={"x-api-key": KEY})
        assert ok.status_code == 200 and "admin-all" in ok.text
        bearer = await c.get("/console/policies", headers={"authorization": f"Bearer {KEY}"})
        assert bearer.status_code == 200
        # the static files hold no data and load without the key (a <script src> cannot
        # send a header)
        js = await c.get("/console/static/console.js")
        assert js.status_code == 200 and "sessionStorage" in js.text


async def test_a_decision_api_key_is_not_an_admin_key(tmp_path: Path) -> None:
    async with client(tmp_path, auth="api-key", api_keys=("caller-key",),
                      admin_keys=(KEY,)) as c:
        r = await c.get("/console/policies", headers={"x-api-key": "caller-key"})
    assert r.status_code == 403
    assert "admin-all" not in r.text


async def test_wrong_keys_are_rate_limited(tmp_path: Path) -> None:
    async with client(tmp_path, admin_keys=(KEY,), rate_limit=1.0, rate_burst=2) as c:
        codes = [(await c.get("/console/policies", headers={"x-api-key": f"guess{i}"}))
                 .status_code for i in range(5)]
        assert codes[-1] == 429
        # the address is refused before any key it sends is compared
        right = await c.get("/console/policies", headers={"x-api-key": KEY})
        assert right.status_code == 429


async def test_console_off_unless_asked_on_a_public_address(tmp_path: Path) -> None:
    async with client(tmp_path, host="0.0.0.0", auth="none") as c:
        assert (await c.get("/console/policies")).status_code == 404
    async with client(tmp_path / "off", console="off") as c:
        assert (await c.get("/console/policies")).status_code == 404
    async with client(tmp_path / "on", base="http://pdp.internal", host="0.0.0.0", auth="none",
                      console="on", admin_keys=(KEY,)) as c:
        assert (await c.get("/console/policies")).status_code == 401
        assert (await c.get("/console/policies", headers={"x-api-key": KEY})).status_code == 200


def test_console_on_a_public_address_needs_admin_keys() -> None:
    with pytest.raises(SettingsError, match=r"SIAMESE_CONSOLE=on.*SIAMESE_ADMIN_KEYS"):
        Settings.from_environ({"SIAMESE_HOST": "0.0.0.0", "SIAMESE_AUTH": "none",
                               "SIAMESE_CONSOLE": "on"})
    ok = Settings.from_environ({"SIAMESE_HOST": "0.0.0.0", "SIAMESE_AUTH": "none",
                                "SIAMESE_CONSOLE": "on", "SIAMESE_ADMIN_KEYS": KEY})
    assert ok.console_enabled
    assert not Settings.from_environ({"SIAMESE_HOST": "0.0.0.0", "SIAMESE_AUTH": "none"}) \
        .console_enabled
    with pytest.raises(SettingsError, match="SIAMESE_CONSOLE"):
        Settings.from_environ({"SIAMESE_CONSOLE": "maybe"})


def test_the_key_is_entered_once_and_kept_in_session_storage(
    page: Any, tmp_path: Path
) -> None:
    """In a real browser against a real process: the console refuses without the key, asks
    for it once, keeps it in this tab's session storage (no cookie, never in the URL), sends
    it with every page, survives a reload, and forgets a wrong key."""
    for served in serve(tmp_path, {"SIAMESE_ADMIN_KEYS": KEY}):
        page.goto(served.url + "/console/policies")
        assert page.locator("h1").inner_text() == "Admin key"
        assert page.locator("#revision").count() == 0
        screenshot(page, "console-key")
        page.fill("#admin-key", "wrong-key")
        page.click("#key-form button")
        page.wait_for_selector("#key-form")
        assert page.evaluate("sessionStorage.length") == 0  # a refused key is forgotten

        page.fill("#admin-key", KEY)
        page.click("#key-form button")
        page.wait_for_selector("#revision")
        assert page.evaluate("sessionStorage.getItem('siamese-console-key')") == KEY
        assert page.context.cookies() == []
        assert KEY not in page.url
        # a link is followed with the key
        page.click("#rule-owner-full-access a:has-text('access.rules:10')")
        page.wait_for_selector("#L10")
        assert KEY not in page.url
        # the browser's own reload sends no header: the page asks again with the stored key
        page.reload()
        page.wait_for_selector("#L10")
        page.go_back()
        page.wait_for_selector("#revision")
        page.click("[data-forget-key]")
        page.wait_for_selector("#key-form")
        assert page.evaluate("sessionStorage.length") == 0
