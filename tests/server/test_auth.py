"""Caller authentication (none, API key, JWT), every JWT attack on both the decision API and
the forward-auth callout, and per-client rate limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from siamese.server.auth import CallerAuth, TokenError, TokenVerifier, load_jwks, load_public_key
from siamese.server.limits import RateLimiter

from .conftest import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    Clock,
    Harness,
    Keys,
    b64,
    body,
    build,
    claims,
    hmac_with,
    hs256,
    unsigned,
)

# --- the attacks, each a token maker over the session's keys --------------------------------

Attack = Callable[[Keys], str]

HS_ATTACKS: dict[str, Attack] = {
    "alg none": lambda k: unsigned(claims()),
    "alg None (any case)": lambda k: unsigned(claims()).replace(
        b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
        b64(json.dumps({"alg": "NONE", "typ": "JWT"}).encode()),
    ),
    "bad signature": lambda k: hs256(claims(), secret="another-secret-of-the-same-length-xx"),
    "tampered payload": lambda k: _tamper(hs256(claims())),
    "wrong key type (RS256 where only a secret is configured)": lambda k: jwt.encode(
        claims(), k.rsa_private, algorithm="RS256"
    ),
    "expired": lambda k: hs256(claims(exp=NOW - 1)),
    "expired exactly now": lambda k: hs256(claims(exp=NOW)),
    "not yet valid": lambda k: hs256(claims(nbf=NOW + 60)),
    "wrong audience": lambda k: hs256(claims(aud="someone-else")),
    "no audience": lambda k: hs256(claims(aud=None)),
    "wrong issuer": lambda k: hs256(claims(iss="https://evil.test")),
    "no issuer": lambda k: hs256(claims(iss=None)),
    "exp is not a number": lambda k: hs256(claims(exp="tomorrow")),
    # json.dumps writes NaN and Infinity, and PyJWT reads them back: NaN compares false
    # with everything, so "now >= exp" never held and the token never expired
    "exp is NaN": lambda k: hs256(claims(exp=float("nan"))),
    "exp is Infinity": lambda k: hs256(claims(exp=float("inf"))),
    "nbf is -Infinity": lambda k: hs256(claims(nbf=float("-inf"))),
    "no exp (SIAMESE_JWT_REQUIRE_EXP is on by default)": lambda k: hs256(claims(exp=None)),
    "not a JWT": lambda k: "not-a-token",
    "HS384 not in the accepted algorithms": lambda k: jwt.encode(
        claims(), SECRET, algorithm="HS384"
    ),
}

RS_ATTACKS: dict[str, Attack] = {
    "algorithm confusion (HS256 keyed with the public key)": lambda k: hmac_with(
        k.rsa_public_pem.encode(), claims()
    ),
    "wrong key type (ES256 where an RSA key is configured)": lambda k: jwt.encode(
        claims(), k.ec_private, algorithm="ES256"
    ),
    "signed by another RSA key": lambda k: jwt.encode(
        claims(), k.other_rsa_private, algorithm="RS256"
    ),
    "alg none": lambda k: unsigned(claims()),
    "expired": lambda k: jwt.encode(claims(exp=NOW - 1), k.rsa_private, algorithm="RS256"),
    "not yet valid": lambda k: jwt.encode(claims(nbf=NOW + 60), k.rsa_private, algorithm="RS256"),
    "wrong audience": lambda k: jwt.encode(claims(aud="x"), k.rsa_private, algorithm="RS256"),
    "wrong issuer": lambda k: jwt.encode(claims(iss="x"), k.rsa_private, algorithm="RS256"),
}


def _tamper(token: str) -> str:
    header, _, sig = token.split(".")
    return f"{header}.{b64(json.dumps(claims(role='admin')).encode())}.{sig}"


def hs_harness(tmp_path: Path, **kw: Any) -> Harness:
    return build(tmp_path, jwt_secret=SECRET, jwt_issuer=ISSUER, jwt_audience=(AUDIENCE,), **kw)


def rs_harness(tmp_path: Path, keys: Keys, **kw: Any) -> Harness:
    return build(
        tmp_path,
        jwt_public_key=keys.rsa_public_pem,
        jwt_issuer=ISSUER,
        jwt_audience=(AUDIENCE,),
        **kw,
    )


def assert_invalid_token(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith(
        'Bearer realm="siamese", error="invalid_token", error_description="'
    )


@pytest.mark.parametrize("attack", list(HS_ATTACKS), ids=list(HS_ATTACKS))
async def test_hs256_attacks_on_the_decision_api(tmp_path: Path, keys: Keys, attack: str) -> None:
    h = hs_harness(tmp_path, auth="jwt")
    async with h.client() as c:
        r = await c.post(
            "/access/v1/evaluation",
            json=body(),
            headers={"Authorization": f"Bearer {HS_ATTACKS[attack](keys)}"},
        )
    assert_invalid_token(r)
    assert r.json()["error"]["status"] == 401
    assert not h.audited


@pytest.mark.parametrize("attack", list(HS_ATTACKS), ids=list(HS_ATTACKS))
async def test_hs256_attacks_on_forward_auth(tmp_path: Path, keys: Keys, attack: str) -> None:
    h = hs_harness(tmp_path)
    async with h.client() as c:
        r = await c.get(
            "/v1/forward-auth/public/x",
            headers={"Authorization": f"Bearer {HS_ATTACKS[attack](keys)}"},
        )
    assert_invalid_token(r)
    assert r.json()["decision"] is False
    assert not h.audited


@pytest.mark.parametrize("attack", list(RS_ATTACKS), ids=list(RS_ATTACKS))
async def test_public_key_attacks_on_the_decision_api(
    tmp_path: Path, keys: Keys, attack: str
) -> None:
    h = rs_harness(tmp_path, keys, auth="jwt")
    async with h.client() as c:
        r = await c.post(
            "/access/v1/evaluation",
            json=body(),
            headers={"Authorization": f"Bearer {RS_ATTACKS[attack](keys)}"},
        )
    assert_invalid_token(r)


@pytest.mark.parametrize("attack", list(RS_ATTACKS), ids=list(RS_ATTACKS))
async def test_public_key_attacks_on_forward_auth(tmp_path: Path, keys: Keys, attack: str) -> None:
    h = rs_harness(tmp_path, keys)
    async with h.client() as c:
        r = await c.get(
            "/v1/forward-auth/public/x",
            headers={"Authorization": f"Bearer {RS_ATTACKS[attack](keys)}"},
        )
    assert_invalid_token(r)


async def test_valid_tokens_are_accepted_by_both(tmp_path: Path, keys: Keys) -> None:
    for h, token in (
        (hs_harness(tmp_path / "hs", auth="jwt"), hs256(claims())),
        (
            rs_harness(tmp_path / "rs", keys, auth="jwt"),
            jwt.encode(claims(), keys.rsa_private, algorithm="RS256"),
        ),
    ):
        async with h.client() as c:
            r = await c.post(
                "/access/v1/evaluation", json=body(), headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200 and r.json()["decision"] is True
            r = await c.get("/v1/forward-auth/api/x", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.headers["x-siamese-subject"] == "erin"


async def test_expiry_follows_the_injected_clock(tmp_path: Path) -> None:
    h = hs_harness(tmp_path)
    token = hs256(claims(exp=NOW + 30))
    async with h.client() as c:
        assert (
            await c.get("/v1/forward-auth/public/x", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        h.wall.advance(30)
        r = await c.get("/v1/forward-auth/public/x", headers={"Authorization": f"Bearer {token}"})
    assert_invalid_token(r)
    assert 'error_description="token expired"' in r.headers["www-authenticate"]


async def test_tokens_without_exp_when_the_operator_allows_them(tmp_path: Path) -> None:
    h = hs_harness(tmp_path, auth="jwt", jwt_require_exp=False)
    token = hs256(claims(exp=None))
    async with h.client() as c:
        r = await c.get("/v1/forward-auth/api/x", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        # still a finite number when there is one
        nan = hs256(claims(exp=float("nan")))
        r = await c.get("/v1/forward-auth/api/x", headers={"Authorization": f"Bearer {nan}"})
    assert_invalid_token(r)


def test_token_error_messages(keys: Keys) -> None:
    v = TokenVerifier(secret=SECRET, issuer=ISSUER, audience=[AUDIENCE], clock=lambda: NOW)
    cases = {
        unsigned(claims()): "unsigned tokens (alg none) are not accepted",
        hs256(claims(), secret="x" * 40): "bad signature",
        hs256(claims(exp=NOW - 5)): "token expired",
        hs256(claims(nbf=NOW + 5)): "token not yet valid",
        hs256(claims(aud="other")): "wrong audience",
        hs256(claims(iss="other")): "wrong issuer",
        hs256(claims(aud=None)): "missing 'aud' claim",
        jwt.encode(
            claims(), keys.rsa_private, algorithm="RS256"
        ): "algorithm RS256 is not accepted",
        "a.b": "malformed token",
    }
    for token, message in cases.items():
        with pytest.raises(TokenError) as err:
            v.verify(token)
        assert str(err.value) == message


def test_a_public_key_never_verifies_hmac_tokens_even_when_asked(keys: Keys) -> None:
    with pytest.raises(ValueError, match="no configured key can verify HS256"):
        TokenVerifier(public_key=load_public_key(keys.rsa_public_pem), algorithms=["HS256"])
    v = TokenVerifier(public_key=load_public_key(keys.rsa_public_pem))
    assert "HS256" not in v.algorithms and "RS256" in v.algorithms
    with pytest.raises(TokenError, match="algorithm HS256 is not accepted"):
        v.verify(hmac_with(keys.rsa_public_pem.encode(), claims()))


def test_jwks_keys_are_chosen_by_kid(tmp_path: Path, keys: Keys) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.rsa_private.public_key()))
    other = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.other_rsa_private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(
        json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}, {**other, "kid": "k2"}]})
    )
    v = TokenVerifier(jwks=load_jwks(str(path)), clock=lambda: NOW)
    good = jwt.encode(claims(), keys.rsa_private, algorithm="RS256", headers={"kid": "k1"})
    assert v.verify(good)["sub"] == "erin"
    wrong_kid = jwt.encode(claims(), keys.rsa_private, algorithm="RS256", headers={"kid": "k2"})
    with pytest.raises(TokenError, match="bad signature"):
        v.verify(wrong_kid)
    unknown = jwt.encode(claims(), keys.rsa_private, algorithm="RS256", headers={"kid": "k9"})
    with pytest.raises(TokenError, match="unknown signing key"):
        v.verify(unknown)
    ps = jwt.encode(claims(), keys.rsa_private, algorithm="PS256", headers={"kid": "k1"})
    with pytest.raises(TokenError):  # k1 declares RS256 only
        v.verify(ps)
    path.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}))
    with pytest.raises(ValueError, match="symmetric"):
        load_jwks(str(path))


async def test_jwks_file_through_the_app(tmp_path: Path, keys: Keys) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.rsa_private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    h = build(tmp_path, auth="jwt", jwks_file=str(path))
    token = jwt.encode(
        claims(aud=None, iss=None), keys.rsa_private, algorithm="RS256", headers={"kid": "k1"}
    )
    async with h.client() as c:
        r = await c.post(
            "/access/v1/evaluation", json=body(), headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200


def test_public_key_loading_errors(tmp_path: Path, keys: Keys) -> None:
    from cryptography.hazmat.primitives import serialization

    private_pem = keys.rsa_private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="got a private key"):
        load_public_key(private_pem)
    with pytest.raises(ValueError, match="cannot read"):
        load_public_key(str(tmp_path / "missing.pem"))
    (tmp_path / "key.pem").write_text(keys.rsa_public_pem)
    assert load_public_key(str(tmp_path / "key.pem")) is not None


# --- callers ------------------------------------------------------------------------------


async def test_api_keys_by_bearer_or_header(tmp_path: Path) -> None:
    h = build(tmp_path, auth="api-key", api_keys=("k-one", "k-two"))
    async with h.client() as c:
        assert (
            await c.post(
                "/access/v1/evaluation", json=body(), headers={"Authorization": "Bearer k-two"}
            )
        ).status_code == 200
        assert (
            await c.post("/access/v1/evaluation", json=body(), headers={"X-API-Key": "k-one"})
        ).status_code == 200
        r = await c.post("/access/v1/evaluation", json=body(), headers={"X-API-Key": "k-three"})
        assert r.status_code == 401 and r.json() == {
            "error": {"status": 401, "message": "invalid API key"}
        }
        r = await c.post("/access/v1/evaluation", json=body())
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="siamese"'
        assert r.json()["error"]["message"].startswith("missing API key")
        # every decision API endpoint is behind it; health and metadata are not
        for path in ("/access/v1/evaluations", "/access/v1/search/resource", "/v1/data/x"):
            assert (await c.post(path, json=body())).status_code == 401, path
        assert (await c.get("/v1/policies")).status_code == 401
        assert (await c.get("/v1/policies", headers={"X-API-Key": "k-one"})).status_code == 200
        for path in (
            "/health",
            "/ready",
            "/metrics",
            "/openapi.json",
            "/.well-known/authzen-configuration",
        ):
            assert (await c.get(path)).status_code == 200, path


async def test_a_missing_bearer_token_with_jwt_auth(tmp_path: Path) -> None:
    h = hs_harness(tmp_path, auth="jwt")
    async with h.client() as c:
        r = await c.post("/access/v1/evaluation", json=body())
    assert r.status_code == 401 and r.json()["error"]["message"] == "missing bearer token"


def test_caller_auth_needs_its_keys() -> None:
    with pytest.raises(ValueError):
        CallerAuth("api-key")
    with pytest.raises(ValueError):
        CallerAuth("jwt")
    with pytest.raises(ValueError):
        CallerAuth("magic")


# --- rate limits ----------------------------------------------------------------------------


async def test_rate_limit_429_with_retry_after_and_refill(tmp_path: Path) -> None:
    h = build(tmp_path, auth="api-key", api_keys=("a", "b"), rate_limit=2.0)
    async with h.client() as c:

        def post(key: str) -> Any:
            return c.post("/access/v1/evaluation", json=body(), headers={"X-API-Key": key})

        assert [(await post("a")).status_code for _ in range(2)] == [200, 200]
        r = await post("a")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert (
            r.json()["error"]["message"]
            == "rate limit exceeded (2 requests per second): retry later"
        )
        assert (await post("b")).status_code == 200  # per client
        h.clock.advance(0.5)  # one token back
        assert (await post("a")).status_code == 200
        assert (await post("a")).status_code == 429


async def test_rate_limit_by_jwt_subject_and_forward_auth_denies(tmp_path: Path) -> None:
    h = hs_harness(tmp_path, auth="jwt", rate_limit=1.0)
    erin, frank = hs256(claims()), hs256(claims(sub="frank"))
    async with h.client() as c:
        for expected in (200, 429):
            r = await c.post(
                "/access/v1/evaluation", json=body(), headers={"Authorization": f"Bearer {erin}"}
            )
            assert r.status_code == expected
        r = await c.post(
            "/access/v1/evaluation", json=body(), headers={"Authorization": f"Bearer {frank}"}
        )
        assert r.status_code == 200
        # the gateway callout is limited per end user too, and over the limit it denies
        # (a 429 would become a 500 in nginx)
        assert (
            await c.get("/v1/forward-auth/public/x", headers={"Authorization": f"Bearer {erin}"})
        ).status_code == 200
        r = await c.get("/v1/forward-auth/public/x", headers={"Authorization": f"Bearer {erin}"})
        assert r.status_code == 403 and r.headers["retry-after"] == "1"
        assert r.json()["reason"].startswith("rate limit exceeded")


def test_token_bucket() -> None:
    clock = Clock()
    rl = RateLimiter(10, 5, clock=clock, max_clients=3)
    assert [rl.check("a") for _ in range(5)] == [None] * 5
    wait = rl.check("a")
    assert wait is not None and abs(wait - 0.1) < 1e-9
    clock.advance(0.25)
    assert rl.check("a") is None and rl.check("a") is None and rl.check("a") is not None
    rl.check("b"), rl.check("c")
    clock.advance(10)  # everyone refilled: forgotten when room is needed
    rl.check("d")
    assert len(rl) == 1
    assert rl.retry_after(0.01) == "1" and rl.retry_after(2.2) == "3"
