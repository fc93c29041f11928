"""SIAMESE_* configuration, parsed from an environ passed in (never read from os.environ here).

Every variable has a ``siamese serve`` flag of the same name (``SIAMESE_CACHE_TTL`` ↔
``--cache-ttl``); :data:`OPTIONS` is the one table both are built from.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .engine.solver import Limits

__all__ = ["OPTIONS", "Option", "Settings", "SettingsError", "is_loopback"]

_LIMITS = Limits()

AUTH_MODES = ("none", "api-key", "jwt")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
PUBLIC_KEY_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class SettingsError(ValueError):
    """One or more SIAMESE_* values are invalid; the message names each one."""


# --- value parsers: each takes the raw string and returns the value or raises ValueError ---


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
            raise ValueError(f"expected an integer {bound}, got {value}")
        return value

    return parse


def _float(lo: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not math.isfinite(value) or value < lo:
            raise ValueError(f"expected a number of at least {lo:g}, got {raw!r}")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(raw: str) -> bool:
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _choice(*choices: str, lower: bool = True) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        v = raw.strip().lower() if lower else raw.strip()
        if v not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return v

    return parse


def _str(raw: str) -> str:
    return raw


def _list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _algorithms(raw: str) -> tuple[str, ...]:
    known = {a.lower(): a for a in (*HMAC_ALGORITHMS, *PUBLIC_KEY_ALGORITHMS)}
    out = []
    for name in _list(raw):
        if name.lower() == "none":
            raise ValueError("'none' is never accepted: tokens must be signed")
        if name.lower() not in known:
            raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(known.values())})")
        out.append(known[name.lower()])
    if not out:
        raise ValueError("expected at least one algorithm")
    return tuple(out)


@dataclass(frozen=True)
class Option:
    env: str
    attr: str
    parse: Callable[[str], Any]
    help: str
    kind: str = "value"  # "value", "bool" (--x/--no-x), or "positional"
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.env.removeprefix("SIAMESE_").lower().replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option(
        "SIAMESE_POLICY_DIR",
        "policy_dir",
        _str,
        "policy directory (default: policies)",
        kind="positional",
    ),
    Option("SIAMESE_HOST", "host", _str, "address to bind (default: 127.0.0.1)"),
    Option(
        "SIAMESE_PORT", "port", _int(0, 65535), "port to bind (default: 8000; 0 = any free port)"
    ),
    Option("SIAMESE_WORKERS", "workers", _int(1, 256), "worker processes (default: 1)"),
    Option("SIAMESE_LOG_LEVEL", "log_level", _choice(*LOG_LEVELS), "log level (default: info)"),
    Option(
        "SIAMESE_LOG_FORMAT",
        "log_format",
        _choice(*LOG_FORMATS),
        "text, or json for one JSON object per line (default: text)",
    ),
    Option(
        "SIAMESE_ACCESS_LOG",
        "access_log",
        _bool,
        "log every HTTP request (default: off)",
        kind="bool",
    ),
    Option(
        "SIAMESE_RELOAD",
        "reload",
        _bool,
        "hot-reload the policy directory (default: on)",
        kind="bool",
    ),
    Option(
        "SIAMESE_RELOAD_REQUIRE_TESTS",
        "reload_require_tests",
        _bool,
        "swap in a new policy set only if its *.test.yaml tests pass (default: off)",
        kind="bool",
    ),
    Option(
        "SIAMESE_MAX_DEPTH",
        "max_depth",
        _int(1),
        f"recursion depth limit (default: {_LIMITS.max_depth})",
    ),
    Option(
        "SIAMESE_MAX_SOLUTIONS",
        "max_solutions",
        _int(1),
        f"solutions limit per query (default: {_LIMITS.max_solutions})",
    ),
    Option(
        "SIAMESE_MAX_STEPS",
        "max_steps",
        _int(1),
        f"inference-step budget per query (default: {_LIMITS.max_steps})",
    ),
    Option(
        "SIAMESE_TIMEOUT_MS",
        "timeout_ms",
        _float(0.001),
        f"wall-clock limit per query in ms (default: {_LIMITS.timeout_ms:g})",
    ),
    Option(
        "SIAMESE_CACHE_TTL",
        "cache_ttl",
        _float(0),
        "decision cache TTL in seconds, 0 = no cache (default: 60)",
    ),
    Option(
        "SIAMESE_CACHE_SIZE",
        "cache_size",
        _int(0),
        "decision cache entries, 0 = no cache (default: 10000)",
    ),
    Option(
        "SIAMESE_AUTH",
        "auth",
        _choice(*AUTH_MODES),
        "caller authentication: none, api-key or jwt (default: none, on a loopback host only)",
    ),
    Option(
        "SIAMESE_API_KEYS",
        "api_keys",
        _list,
        "comma-separated API keys (for --auth api-key)",
        metavar="KEY,...",
    ),
    Option("SIAMESE_JWT_SECRET", "jwt_secret", _str, "HMAC secret for HS256/384/512 tokens"),
    Option(
        "SIAMESE_JWT_PUBLIC_KEY",
        "jwt_public_key",
        _str,
        "PEM public key (the PEM text or a file path) for RS/PS/ES/EdDSA tokens",
    ),
    Option("SIAMESE_JWKS_FILE", "jwks_file", _str, "a JWKS file of public keys, chosen by 'kid'"),
    Option(
        "SIAMESE_JWT_ALGORITHMS",
        "jwt_algorithms",
        _algorithms,
        "accepted token algorithms, comma-separated (default: from the configured keys)",
        metavar="ALG,...",
    ),
    Option("SIAMESE_JWT_ISSUER", "jwt_issuer", _str, "required 'iss' of tokens"),
    Option(
        "SIAMESE_JWT_AUDIENCE",
        "jwt_audience",
        _list,
        "required 'aud' of tokens (comma-separated: any of them)",
        metavar="AUD,...",
    ),
    Option(
        "SIAMESE_AUDIT_LOG",
        "audit_log",
        _str,
        "decision log file, or off (default: audit/decisions.jsonl)",
    ),
    Option(
        "SIAMESE_AUDIT_REQUIRED",
        "audit_required",
        _bool,
        "refuse to answer when the decision cannot be logged (default: off)",
        kind="bool",
    ),
    Option(
        "SIAMESE_AUDIT_REDACT",
        "audit_redact",
        _list,
        "more names whose values are secrets, redacted from the decision log and the "
        "answers, comma-separated (beside the built-in ones: tokens, passwords, keys...)",
        metavar="NAME,...",
    ),
    Option(
        "SIAMESE_MAX_BODY_BYTES",
        "max_body_bytes",
        _int(1),
        "largest request body accepted (default: 1048576)",
    ),
    Option(
        "SIAMESE_MAX_JSON_DEPTH",
        "max_json_depth",
        _int(1, 1000),
        "deepest JSON nesting accepted (default: 64)",
    ),
    Option(
        "SIAMESE_RATE_LIMIT",
        "rate_limit",
        _float(0),
        "requests per second per client, 0 = off (default: 0)",
    ),
    Option(
        "SIAMESE_RATE_BURST",
        "rate_burst",
        _int(1),
        "requests a client may send at once (default: the rate limit, at least 1)",
    ),
    Option(
        "SIAMESE_HTTP_ALLOW",
        "http_allow",
        _list,
        "comma-separated URL prefixes (http(s)://host[:port]/path) that http_get_json may "
        "fetch; empty = off",
        metavar="URL,...",
    ),
    Option(
        "SIAMESE_HTTP_TIMEOUT_MS",
        "http_timeout_ms",
        _float(1),
        "time limit of one http_get_json fetch, redirects and body included, in ms "
        "(default: 500)",
    ),
    Option(
        "SIAMESE_HTTP_MAX_BYTES",
        "http_max_bytes",
        _int(1),
        "largest JSON body http_get_json reads (default: 1000000)",
    ),
    Option(
        "SIAMESE_HTTP_MAX_CONNECTIONS",
        "http_max_connections",
        _int(1),
        "connections http_get_json keeps open at once, all hosts together (default: 20)",
    ),
    Option(
        "SIAMESE_HTTP_CACHE_SIZE",
        "http_cache_size",
        _int(0),
        "fetched documents kept in the data cache, 0 = no cache (default: 1024)",
    ),
    Option(
        "SIAMESE_HTTP_CACHE_TTL",
        "http_cache_ttl",
        _float(0),
        "seconds a fetched document is kept when its answer has no max-age (default: 60)",
    ),
    Option(
        "SIAMESE_HTTP_BREAKER_FAILURES",
        "http_breaker_failures",
        _int(0),
        "consecutive failures that open a host's circuit, 0 = never (default: 5)",
    ),
    Option(
        "SIAMESE_HTTP_BREAKER_COOLDOWN",
        "http_breaker_cooldown",
        _float(0),
        "seconds an open circuit waits before a trial fetch (default: 30)",
    ),
    Option(
        "SIAMESE_BUILTINS",
        "builtins",
        _str,
        "operator built-ins to load, as module.path:ATTRIBUTE (default: none)",
        metavar="MODULE:ATTR",
    ),
    Option(
        "SIAMESE_ADMIN_KEYS",
        "admin_keys",
        _list,
        "comma-separated API keys that may call POST /v1/query (default: none, the endpoint "
        "is off)",
        metavar="KEY,...",
    ),
    Option(
        "SIAMESE_QUERY_ALLOW",
        "query_allow",
        _list,
        "comma-separated predicates that POST /v1/query may call (default: every predicate "
        "of the policy set)",
        metavar="NAME,...",
    ),
)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    policy_dir: str = "policies"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = False
    reload: bool = True
    reload_require_tests: bool = False
    max_depth: int = _LIMITS.max_depth
    max_solutions: int = _LIMITS.max_solutions
    max_steps: int = _LIMITS.max_steps
    timeout_ms: float = _LIMITS.timeout_ms or 1000.0
    cache_ttl: float = 60.0
    cache_size: int = 10_000
    auth: str | None = None  # None: not set, which means "none" and is refused off loopback
    api_keys: tuple[str, ...] = ()
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwks_file: str | None = None
    jwt_algorithms: tuple[str, ...] = ()
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    audit_log: str = "audit/decisions.jsonl"
    audit_required: bool = False
    audit_redact: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    max_json_depth: int = 64
    rate_limit: float = 0.0
    rate_burst: int | None = None
    http_allow: tuple[str, ...] = field(default=())
    http_timeout_ms: float = 500.0
    http_max_bytes: int = 1_000_000
    http_max_connections: int = 20
    http_cache_size: int = 1024
    http_cache_ttl: float = 60.0
    http_breaker_failures: int = 5
    http_breaker_cooldown: float = 30.0
    builtins: str | None = None
    admin_keys: tuple[str, ...] = ()
    query_allow: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every SIAMESE_* variable; an empty value counts as unset.

        Raises :class:`SettingsError` naming every bad variable at once.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for opt in OPTIONS:
            raw = environ.get(opt.env)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[opt.attr] = opt.parse(raw)
            except ValueError as e:
                problems.append(f"{opt.env}: {e}")
        if problems:
            raise SettingsError("\n".join(problems))
        settings = cls(**values)
        problems = settings.problems()
        if problems:
            raise SettingsError("\n".join(problems))
        return settings

    def problems(self) -> list[str]:
        """What is wrong with this combination of values (empty when it can serve)."""
        out: list[str] = []
        if self.auth is None and not is_loopback(self.host):
            out.append(
                f"SIAMESE_AUTH: not set, and the server binds to {self.host}, which is not a "
                "loopback address: set SIAMESE_AUTH=api-key or jwt (or SIAMESE_AUTH=none to "
                "serve the decision API to anyone who can reach it)"
            )
        if self.auth == "api-key" and not self.api_keys:
            out.append("SIAMESE_API_KEYS: required when SIAMESE_AUTH=api-key")
        has_public = bool(self.jwt_public_key or self.jwks_file)
        if self.auth == "jwt" and not (self.jwt_secret or has_public):
            out.append(
                "SIAMESE_AUTH=jwt needs a key: SIAMESE_JWT_SECRET, SIAMESE_JWT_PUBLIC_KEY or "
                "SIAMESE_JWKS_FILE"
            )
        if self.jwt_public_key and self.jwks_file:
            out.append("SIAMESE_JWT_PUBLIC_KEY and SIAMESE_JWKS_FILE: set one, not both")
        for alg in self.jwt_algorithms:
            if alg in HMAC_ALGORITHMS and not self.jwt_secret:
                out.append(
                    f"SIAMESE_JWT_ALGORITHMS: {alg} needs SIAMESE_JWT_SECRET (an HMAC algorithm "
                    "is never verified with a public key)"
                )
            if alg in PUBLIC_KEY_ALGORITHMS and not has_public:
                out.append(
                    f"SIAMESE_JWT_ALGORITHMS: {alg} needs SIAMESE_JWT_PUBLIC_KEY or "
                    "SIAMESE_JWKS_FILE"
                )
        return out

    @property
    def auth_mode(self) -> str:
        return self.auth or "none"

    @property
    def jwt_configured(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwks_file)

    @property
    def audit_enabled(self) -> bool:
        return self.audit_log.strip().lower() not in ("off", "none", "false", "0")

    @property
    def cache_enabled(self) -> bool:
        return self.cache_size > 0 and self.cache_ttl > 0

    @property
    def burst(self) -> int:
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.ceil(self.rate_limit))

    def http_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`siamese.pip.HttpData` besides the allowlist."""
        return {
            "timeout": self.http_timeout_ms / 1000,
            "max_bytes": self.http_max_bytes,
            "max_connections": self.http_max_connections,
            "max_keepalive": min(10, self.http_max_connections),
            "cache_size": self.http_cache_size,
            "cache_ttl": self.http_cache_ttl,
            "breaker_failures": self.http_breaker_failures,
            "breaker_cooldown": self.http_breaker_cooldown,
        }

    def limits(self) -> Limits:
        return Limits(
            max_depth=self.max_depth,
            max_solutions=self.max_solutions,
            max_steps=self.max_steps,
            timeout_ms=self.timeout_ms,
        )
