"""Apps built directly with create_app over small policy directories, fake clocks, and keys;
and apps built from SIAMESE_* settings as ``siamese serve`` builds them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette

from siamese.decision.authorizer import Authorizer
from siamese.decision.cache import DecisionCache
from siamese.decision.models import Decision
from siamese.decision.service import DecisionService
from siamese.policy.store import PolicyStore
from siamese.server.app import build_app, create_app
from siamese.settings import Settings

POLICY = """
role(alice, admin).
role(bob, viewer).
role(mallory, admin).
owner(doc1, carol).
status(mallory, suspended).
doc(doc1). doc(doc2). doc(doc3).
action(read). action(write). action(delete).

@id("admin-all")
allow(?u, ?a, ?r) :- role(?u, admin), doc(?r), action(?a).
@id("viewer-read")
allow(?u, read, ?r) :- role(?u, viewer), doc(?r).
@id("owner")
allow(?u, ?a, ?r) :- owner(?r, ?u), action(?a).
@id("suspended")
deny(?u, _, _) :- status(?u, suspended).

# gateway callouts: the resource is the path, the action the method
@id("public")
allow(_, "GET", ?p) :- startswith(?p, "/public/").
@id("api-editors")
allow(_, _, ?p) :- input("claims.role", editor), startswith(?p, "/api/").
@id("reports-summary")
allow(_, "GET", "/reports") :-
    input("request.query.tab", summary), input("request.host", "app.example.com").
@id("prod-hook")
allow(_, "POST", "/hook") :- input("request.headers.x-env", prod).
@id("never-the-credentials")
allow(_, _, "/leak") :- input("request.headers.authorization", _).

response_header("X-User-Role", ?r) :- input("claims.role", ?r).
response_header("X-Tenant", "acme").
response_header("Connection", "close").
response_header("X-Siamese-Subject", "forged").
"""

SECRET = "0123456789abcdef0123456789abcdef-test-secret-0123456789abcdef"
ISSUER = "https://issuer.test"
AUDIENCE = "siamese"
NOW = 1_800_000_000.0


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Harness:
    app: Starlette
    store: PolicyStore
    service: DecisionService
    root: Path
    clock: Clock
    wall: Clock
    audited: list[Decision] = field(default_factory=list)

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver", **kw
        )

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)


def build(
    tmp_path: Path,
    text: str = POLICY,
    *,
    audit: Callable[[Decision], Any] | None = None,
    cache: bool = True,
    load: bool = True,
    **settings: Any,
) -> Harness:
    root = tmp_path / "policies"
    root.mkdir(parents=True, exist_ok=True)
    (root / "p.rules").write_text(text)
    clock, wall = Clock(), Clock(NOW)
    store = PolicyStore(root)
    if load:
        store.load_sync()
    service = DecisionService(
        store.get, Authorizer(), DecisionCache(1000, 60, timer=clock) if cache else None
    )
    audited: list[Decision] = []
    app = create_app(
        Settings(policy_dir=str(root), **settings),
        store,
        service,
        audit if audit is not None else audited.append,
        clock=clock,
        wall_clock=wall,
    )
    return Harness(app, store, service, root, clock, wall, audited)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return build(tmp_path)


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with harness.client() as c:
        yield c


def body(
    subject: str = "alice", action: str = "read", resource: str = "doc2", **extra: Any
) -> dict[str, Any]:
    return {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": {"type": "document", "id": resource},
        **extra,
    }


# --- keys and tokens ------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    rsa_private: Any
    rsa_public_pem: str
    ec_private: Any
    other_rsa_private: Any


@pytest.fixture(scope="session")
def keys() -> Keys:
    def pem(key: Any) -> str:
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(
        rsa_private=private,
        rsa_public_pem=pem(private),
        ec_private=ec.generate_private_key(ec.SECP256R1()),
        other_rsa_private=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "erin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "nbf": NOW - 10,
        "role": "editor",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    """An ``alg: none`` token."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def hmac_with(key: bytes, payload: dict[str, Any], alg: str = "HS256") -> str:
    """An HS256 token whose HMAC key is ``key``: with the server's public key, the classic
    algorithm-confusion forgery (PyJWT refuses to make one, so it is built by hand)."""
    import hashlib
    import hmac as _hmac

    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body_ = b64(json.dumps(payload).encode())
    sig = _hmac.new(key, f"{header}.{body_}".encode(), hashlib.sha256).digest()
    return f"{header}.{body_}.{b64(sig)}"


# --- apps from settings, as `siamese serve` builds them ------------------------------------


def app_for(tmp_path: Path, policy: str, **env: str) -> Starlette:
    """``build_app`` over one policy file with SIAMESE_* ``env`` (hot reload and the
    decision log off unless set; a variable set to "" is left out)."""
    root = tmp_path / "policies"
    root.mkdir(exist_ok=True)
    (root / "p.rules").write_text(policy)
    environ = {
        "SIAMESE_POLICY_DIR": str(root),
        "SIAMESE_RELOAD": "off",
        "SIAMESE_AUDIT_LOG": "off",
        **env,
    }
    return build_app(Settings.from_environ({k: v for k, v in environ.items() if v}))


@asynccontextmanager
async def serving(
    app: Starlette, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` with its lifespan running (services started, then stopped)."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://t", headers=headers
        ) as c,
    ):
        yield c
