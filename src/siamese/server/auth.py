"""Bearer tokens and callers: who is asking.

:class:`TokenVerifier` checks a JWT (PyJWT) against an HMAC secret, a PEM public key or a
JWKS file. Each key accepts only the algorithms of its own type, so a token signed with
HS256 is never checked against a public key (algorithm confusion), and ``alg: none`` is
refused before anything else. ``exp`` and ``nbf`` are checked against an injected clock.

:class:`CallerAuth` authenticates callers of the decision API: nobody (``none``), a static
API key, or a JWT.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..decision.jsonsafe import json_problem
from ..settings import HMAC_ALGORITHMS, Settings
from .responses import ApiError

log = logging.getLogger("siamese.server")

__all__ = [
    "Caller",
    "CallerAuth",
    "TokenError",
    "TokenVerifier",
    "bearer_token",
    "www_authenticate",
]

_RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class TokenError(Exception):
    """A bearer token that is refused; the message says why (for ``error_description``)."""


def _key_algorithms(key: Any) -> tuple[str, ...]:
    """The signature algorithms that a public key of this type can verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _EC_ALGORITHMS.get(key.curve.name)
        if alg is None:
            raise ValueError(f"unsupported elliptic curve {key.curve.name}")
        return (alg,)
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ("EdDSA",)
    raise ValueError(f"not a public key for token signatures: {type(key).__name__}")


def load_public_key(text_or_path: str) -> Any:
    """A PEM public key (or X.509 certificate), given as PEM text or as a file path."""
    text = text_or_path
    if "-----BEGIN" not in text:
        try:
            text = Path(text_or_path).read_text()
        except OSError as e:
            raise ValueError(
                f"SIAMESE_JWT_PUBLIC_KEY: cannot read {text_or_path}: {e.strerror}"
            ) from None
    data = text.encode()
    if b"PRIVATE KEY" in data:
        raise ValueError("SIAMESE_JWT_PUBLIC_KEY: expected a public key, got a private key")
    try:
        if b"BEGIN CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return serialization.load_pem_public_key(data)
    except ValueError as e:
        raise ValueError(f"SIAMESE_JWT_PUBLIC_KEY: not a PEM public key ({e})") from None


def load_jwks(path: str) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """The keys of a JWKS file by ``kid``, each with the algorithms it may verify."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise ValueError(f"SIAMESE_JWKS_FILE: cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"SIAMESE_JWKS_FILE: {path}: not JSON ({e})") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValueError(
            f'SIAMESE_JWKS_FILE: {path}: expected {{"keys": [...]}} with at least one key'
        )
    out: dict[str, tuple[Any, tuple[str, ...]]] = {}
    for i, entry in enumerate(keys):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        name = kid if isinstance(kid, str) else f"#{i}"
        if isinstance(entry, dict) and entry.get("kty") == "oct":
            raise ValueError(
                f"SIAMESE_JWKS_FILE: key {name} is a symmetric (oct) key: put an HMAC secret in "
                "SIAMESE_JWT_SECRET instead"
            )
        try:
            jwk = jwt.PyJWK(entry)
            allowed = _key_algorithms(jwk.key)
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as e:
            raise ValueError(f"SIAMESE_JWKS_FILE: key {name}: {e}") from None
        declared = entry.get("alg")
        if declared is not None:
            if declared not in allowed:
                raise ValueError(
                    f"SIAMESE_JWKS_FILE: key {name} declares {declared}, "
                    "which its type cannot verify"
                )
            allowed = (declared,)
        out[name] = (jwk.key, allowed)
    return out


class TokenVerifier:
    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        public_key: Any = None,
        jwks: Mapping[str, tuple[Any, tuple[str, ...]]] | None = None,
        algorithms: Iterable[str] = (),
        issuer: str | None = None,
        audience: Iterable[str] = (),
        require_exp: bool = True,
        clock: Callable[[], float] = time.time,
        cache_size: int = 4096,
    ) -> None:
        self.require_exp = require_exp
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.public_key = public_key
        self.public_algorithms = _key_algorithms(public_key) if public_key is not None else ()
        self.jwks = dict(jwks or {})
        self.issuer = issuer
        self.audience = list(audience)
        self.clock = clock
        usable: list[str] = []
        if self.secret:
            usable += HMAC_ALGORITHMS
        usable += self.public_algorithms
        for _, algs in self.jwks.values():
            usable += [a for a in algs if a not in usable]
        if not usable:
            raise ValueError("no key to verify tokens with")
        algorithms = tuple(algorithms)
        if algorithms:
            for alg in algorithms:
                if alg not in usable:
                    raise ValueError(
                        f"SIAMESE_JWT_ALGORITHMS: no configured key can verify {alg} "
                        f"(the keys can verify {', '.join(usable)})"
                    )
            self.algorithms = algorithms
        else:  # the default: one algorithm for a secret, every algorithm of the public key's type
            defaults = (["HS256"] if self.secret else []) + [
                a for a in usable if a not in HMAC_ALGORITHMS
            ]
            self.algorithms = tuple(dict.fromkeys(defaults))
        if self.secret and len(self.secret) < 32:
            log.warning("SIAMESE_JWT_SECRET is shorter than 32 bytes: use a longer random secret")
        self._options: Any = {
            "verify_signature": True,
            "verify_exp": False,  # checked below with the injected clock
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": bool(self.audience),
            "verify_iss": issuer is not None,
        }
        self._cache: dict[str, dict[str, Any]] = {}
        self._cache_size = cache_size

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Callable[[], float] = time.time
    ) -> TokenVerifier | None:
        """The verifier the settings describe (None when no key is configured). Reads the
        key files; raises ValueError naming the variable that is wrong."""
        if not settings.jwt_configured:
            return None
        public_key = load_public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        jwks = load_jwks(settings.jwks_file) if settings.jwks_file else None
        return cls(
            secret=settings.jwt_secret,
            public_key=public_key,
            jwks=jwks,
            algorithms=settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            require_exp=settings.jwt_require_exp,
            clock=clock,
        )

    def _key_for(self, alg: str, header: dict[str, Any]) -> Any:
        if alg in HMAC_ALGORITHMS:
            if not self.secret:  # pragma: no cover - excluded by the algorithm list
                raise TokenError(f"algorithm {alg} is not accepted")
            return self.secret
        if self.jwks:
            kid = header.get("kid")
            if kid is None and len(self.jwks) == 1:
                key, algs = next(iter(self.jwks.values()))
            elif not isinstance(kid, str) or kid not in self.jwks:
                raise TokenError("unknown signing key ('kid')")
            else:
                key, algs = self.jwks[kid]
            if alg not in algs:
                raise TokenError(f"algorithm {alg} does not match the signing key")
            return key
        if alg not in self.public_algorithms:
            raise TokenError(f"algorithm {alg} does not match the signing key")
        return self.public_key

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, or :class:`TokenError`."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            _representable(claims)
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[token] = claims
        self._check_times(claims)
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenError("unsigned tokens (alg none) are not accepted")
        if alg not in self.algorithms:
            raise TokenError(f"algorithm {alg} is not accepted")
        key = self._key_for(alg, header)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options=self._options,
                audience=self.audience or None,
                issuer=self.issuer,
            )
        except jwt.InvalidSignatureError:
            raise TokenError("bad signature") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong issuer") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError(f"missing '{e.claim}' claim") from None
        except (jwt.PyJWTError, ValueError, TypeError) as e:
            raise TokenError(f"invalid token ({e})") from None
        if not isinstance(claims, dict):  # pragma: no cover - PyJWT returns dicts
            raise TokenError("invalid token (claims must be an object)")
        for name in ("exp", "nbf"):
            v = claims.get(name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
            ):
                raise TokenError(f"invalid '{name}' claim: expected a finite number")
        if self.require_exp and claims.get("exp") is None:
            raise TokenError("missing 'exp' claim")
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self.clock()
        exp = claims.get("exp")
        if exp is not None and now >= exp:
            raise TokenError("token expired")
        nbf = claims.get("nbf")
        if nbf is not None and now < nbf:
            raise TokenError("token not yet valid")


def _representable(claims: dict[str, Any]) -> None:
    """Claims go into decisions, their log and their answers: a value that JSON cannot carry
    (an integer beyond 64 bits, a lone surrogate, NaN: PyJWT's parser accepts them) makes
    the token invalid, before anything is decided with it."""
    problem = json_problem(claims)
    if problem is not None:
        raise TokenError(f"invalid token (claims cannot be represented: {problem})")


_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


def www_authenticate(description: str | None = None) -> str:
    if description is None:
        return 'Bearer realm="siamese"'
    text = _UNSAFE.sub("", description)[:200]
    return f'Bearer realm="siamese", error="invalid_token", error_description="{text}"'


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, '' for an empty one, None
    when there is no bearer credential."""
    if authorization is None:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller of the decision API; ``id`` keys its rate limit."""

    id: str
    claims: dict[str, Any] | None = None


class CallerAuth:
    def __init__(
        self, mode: str, *, api_keys: Iterable[str] = (), verifier: TokenVerifier | None = None
    ) -> None:
        if mode not in ("none", "api-key", "jwt"):
            raise ValueError(f"unknown caller authentication {mode!r}")
        self.mode = mode
        self._keys = [
            (k.encode(), "key:" + hashlib.sha256(k.encode()).hexdigest()[:12]) for k in api_keys
        ]
        if mode == "api-key" and not self._keys:
            raise ValueError("SIAMESE_API_KEYS: required when SIAMESE_AUTH=api-key")
        if mode == "jwt" and verifier is None:
            raise ValueError("SIAMESE_AUTH=jwt needs a token key")
        self.verifier = verifier

    def authenticate(
        self, *, authorization: str | None, api_key: str | None, client_host: str | None
    ) -> Caller:
        """The caller, from its ``Authorization`` and ``X-API-Key`` headers, or
        :class:`ApiError` 401 with a ``WWW-Authenticate`` challenge."""
        if self.mode == "none":
            return Caller("ip:" + (client_host or "unknown"))
        if self.mode == "api-key":
            return self._api_key(api_key if api_key is not None else bearer_token(authorization))
        token = bearer_token(authorization)
        if not token:
            raise ApiError(401, "missing bearer token", {"WWW-Authenticate": www_authenticate()})
        assert self.verifier is not None
        try:
            claims = self.verifier.verify(token)
        except TokenError as e:
            raise ApiError(
                401, f"invalid token: {e}", {"WWW-Authenticate": www_authenticate(str(e))}
            ) from None
        sub = claims.get("sub")
        ident = (
            f"sub:{sub}"
            if isinstance(sub, str)
            else "jwt:" + hashlib.sha256(token.encode()).hexdigest()[:12]
        )
        return Caller(ident, claims)

    def _api_key(self, given: str | None) -> Caller:
        if not given:
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                {"WWW-Authenticate": www_authenticate()},
            )
        raw = given.encode()
        found: str | None = None
        for key, ident in self._keys:  # compare against every key: no early exit to time
            if hmac.compare_digest(raw, key):
                found = ident
        if found is None:
            raise ApiError(
                401, "invalid API key", {"WWW-Authenticate": www_authenticate("invalid API key")}
            )
        return Caller(found)
