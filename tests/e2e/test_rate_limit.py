"""The rate limit cannot be side-stepped (security review, finding 10), through a real
server: a rotating ``X-Forwarded-For`` does not make a fresh client unless it comes from a
configured proxy (``SIAMESE_TRUSTED_PROXIES``), and wrong keys are limited too."""

from __future__ import annotations

from pathlib import Path

import httpx

from .helpers import serving

BODY = {"subject": {"type": "user", "id": "alice"}, "action": {"name": "read"},
        "resource": {"type": "doc", "id": "doc1"}}
LIMIT = {"SIAMESE_RATE_LIMIT": "0.01", "SIAMESE_RATE_BURST": "3", "SIAMESE_AUDIT_LOG": "off"}


def policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    root.mkdir()
    (root / "p.rules").write_text("allow(alice, read, doc1).\n")
    return root


def statuses(url: str, n: int, **headers: str) -> list[int]:
    with httpx.Client(base_url=url) as c:
        return [
            c.post("/access/v1/evaluation", json=BODY,
                   headers={"X-Forwarded-For": f"203.0.113.{i}", **headers}).status_code
            for i in range(n)
        ]


def test_a_rotating_forwarded_for_is_one_client(tmp_path: Path) -> None:
    with serving(policies(tmp_path), LIMIT, tmp_path / "log") as url:
        assert statuses(url, 5) == [200, 200, 200, 429, 429]


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    env = {**LIMIT, "SIAMESE_TRUSTED_PROXIES": "127.0.0.1"}
    with serving(policies(tmp_path), env, tmp_path / "log") as url:
        assert statuses(url, 5) == [200] * 5  # five clients behind the proxy
        with httpx.Client(base_url=url) as c:
            same = [c.post("/access/v1/evaluation", json=BODY,
                           headers={"X-Forwarded-For": "198.51.100.9"}).status_code
                    for _ in range(4)]
        assert same == [200, 200, 200, 429]


def test_wrong_keys_are_rate_limited(tmp_path: Path) -> None:
    env = {**LIMIT, "SIAMESE_AUTH": "api-key", "SIAMESE_API_KEYS": "right-key",
           "SIAMESE_ADMIN_KEYS": "admin-key"}
    with serving(policies(tmp_path), env, tmp_path / "log") as url:
        guesses = [f"guess-{i}" for i in range(5)]
        got = [statuses(url, 1, **{"X-API-Key": g})[0] for g in guesses]
        assert got == [401, 401, 401, 429, 429]
        # once an address has used up its failures, no key it sends is compared
        assert statuses(url, 1, **{"X-API-Key": "right-key"}) == [429]
        with httpx.Client(base_url=url) as c:
            r = c.post("/v1/query", json={"query": "allow(?s, ?a, ?r)"},
                       headers={"X-API-Key": "admin-key"})
        assert r.status_code == 429
