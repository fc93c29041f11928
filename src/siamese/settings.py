"""SIAMESE_* configuration, parsed from an environ passed in (never read from os.environ here).

Every variable has a ``siamese serve`` flag of the same name (``SIAMESE_CACHE_TTL`` ↔
``--cache-ttl``). Each is declared once, as a field of :class:`Settings` with its parser,
meaning and group; :data:`OPTIONS`, the flags, their help and the README's tables are made
from those fields.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .engine import Limits

__all__ = [
    "GROUPS",
    "OPTIONS",
    "Option",
    "Settings",
    "SettingsError",
    "is_loopback",
    "markdown_table",
]

_LIMITS = Limits()

AUTH_MODES = ("none", "api-key", "jwt")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
GATEWAY_MODES = ("auto", "nginx", "traefik", "caddy", "envoy")
CONSOLE_MODES = ("auto", "on", "off")
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


def _share(raw: str) -> float:
    value = _float(0)(raw)
    if value > 1:
        raise ValueError(f"expected a number from 0 to 1, got {raw!r}")
    return value


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


def _proxies(raw: str) -> tuple[str, ...]:
    out = []
    for item in _list(raw):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"expected IP addresses or networks, got {item!r}") from None
    return tuple(out)


GROUPS = {
    "server": "Serving",
    "reload": "Policies and hot reload",
    "limits": "Limits of a decision",
    "cache": "Decision cache",
    "auth": "Callers and tokens",
    "audit": "Decision log",
    "requests": "Requests and rate limits",
    "gateway": "Gateway callout",
    "external": "External data and operator built-ins",
    "admin": "Admin query endpoint",
    "console": "Console",
    "tls": "HTTPS and mutual TLS",
    "shadow": "Shadow policies",
}


@dataclass(frozen=True)
class Option:
    """One ``SIAMESE_*`` variable and its ``siamese serve`` flag, made from a field of
    :class:`Settings` (declared there once, with :func:`option`)."""

    env: str
    attr: str
    parse: Callable[[str], Any]
    meaning: str  # what it does, without the default
    default: str  # the default as a user reads it ('' when there is none)
    group: str
    kind: str = "value"  # "value", "bool" (--x/--no-x), or "positional"
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.env.removeprefix("SIAMESE_").lower().replace("_", "-")

    @property
    def help(self) -> str:
        """The ``--help`` text: the meaning and the default."""
        return f"{self.meaning} (default: {self.default})" if self.default else self.meaning


def option(
    default: Any,
    parse: Callable[[str], Any],
    meaning: str,
    group: str,
    *,
    kind: str = "value",
    metavar: str | None = None,
    shown: str | None = None,
) -> Any:
    """A field of :class:`Settings` that is also a ``SIAMESE_*`` variable. ``shown`` is the
    default as the help tells it, when the value itself does not say it well."""
    assert group in GROUPS, group
    spec = {"parse": parse, "meaning": meaning, "group": group, "kind": kind,
            "metavar": metavar, "shown": shown}
    return field(default=default, metadata={"option": spec})


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"{default:g}"
    if default is None or default == () or default == "":
        return ""
    return str(default)


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: its type, default, parser, meaning and group. The
    environment variable is ``SIAMESE_`` + the name in capitals, the flag ``--name`` with
    dashes; :data:`OPTIONS`, ``siamese serve --help`` and the README's table are made from
    these fields."""

    policy_dir: str = option(
        "policies", _str, "the policy directory", "server", kind="positional"
    )
    host: str = option("127.0.0.1", _str, "address to bind", "server")
    port: int = option(8000, _int(0, 65535), "port to bind (0: any free port)", "server")
    workers: int = option(1, _int(1, 256), "uvicorn worker processes", "server")
    log_level: str = option(
        "info", _choice(*LOG_LEVELS), "`debug`, `info`, `warning`, `error` or `critical`",
        "server",
    )
    log_format: str = option(
        "text", _choice(*LOG_FORMATS), "`text`, or `json` for one JSON object per log line",
        "server",
    )
    access_log: bool = option(False, _bool, "a log line per HTTP request", "server", kind="bool")
    reload: bool = option(True, _bool, "hot-reload the policy directory", "reload", kind="bool")
    reload_require_tests: bool = option(
        False, _bool, "serve a new policy set only if its `*.test.yaml` tests pass", "reload",
        kind="bool",
    )
    max_depth: int = option(
        _LIMITS.max_depth, _int(1), "recursion depth per decision (or query)", "limits"
    )
    max_solutions: int = option(
        _LIMITS.max_solutions, _int(1), "solutions per decision or query (and per table)",
        "limits",
    )
    max_steps: int = option(
        _LIMITS.max_steps, _int(1),
        "inference steps per decision (deny and allow together) or query", "limits",
    )
    timeout_ms: float = option(
        _LIMITS.timeout_ms or 1000.0, _float(0.001),
        "wall-clock time per decision or query, in ms", "limits",
    )
    cache_ttl: float = option(
        60.0, _float(0), "decision cache TTL in seconds (0: no cache)", "cache"
    )
    cache_size: int = option(10_000, _int(0), "decision cache entries (0: no cache)", "cache")
    # None: not set, which means "none" and is refused off loopback
    auth: str | None = option(
        None, _choice(*AUTH_MODES), "caller authentication: `none`, `api-key` or `jwt`", "auth",
        shown="none, on a loopback host only",
    )
    api_keys: tuple[str, ...] = option(
        (), _list, "comma-separated API keys (for `api-key`)", "auth", metavar="KEY,...",
    )
    jwt_secret: str | None = option(
        None, _str, "HMAC secret for HS256/384/512 tokens", "auth"
    )
    jwt_public_key: str | None = option(
        None, _str,
        "PEM public key or certificate (the PEM text or a file path) for RS/PS/ES/EdDSA tokens",
        "auth",
    )
    jwks_file: str | None = option(
        None, _str, "a JWKS file of public keys, chosen by `kid` (not with a public key)", "auth"
    )
    jwt_algorithms: tuple[str, ...] = option(
        (), _algorithms, "accepted token algorithms, comma-separated", "auth",
        metavar="ALG,...",
        shown="HS256 for a secret, every algorithm of a public key's type",
    )
    jwt_issuer: str | None = option(None, _str, "required `iss` of tokens", "auth")
    jwt_audience: tuple[str, ...] = option(
        (), _list, "required `aud` of tokens (comma-separated: any of them)", "auth",
        metavar="AUD,...",
    )
    jwt_require_exp: bool = option(
        True, _bool,
        "refuse bearer tokens without an `exp` claim (`exp` and `nbf`, when present, must be "
        "finite numbers)", "auth", kind="bool",
    )
    gateway: str = option(
        "auto", _choice(*GATEWAY_MODES),
        "which headers carry a forward-auth callout's original request: `nginx`, `traefik`, "
        "`caddy`, `envoy`, or `auto`, which refuses conventions that disagree", "gateway",
    )
    audit_log: str = option(
        "audit/decisions.jsonl", _str, "the decision log file, or `off`", "audit"
    )
    audit_required: bool = option(
        False, _bool, "deny any decision that cannot be written to the decision log", "audit",
        kind="bool",
    )
    audit_redact: tuple[str, ...] = option(
        (), _list,
        "more names whose values are secrets, redacted from the decision log and the answers, "
        "comma-separated (beside the built-in ones: tokens, passwords, keys...)", "audit",
        metavar="NAME,...",
    )
    max_body_bytes: int = option(1 << 20, _int(1), "largest request body accepted", "requests")
    max_json_depth: int = option(
        64, _int(1, 1000), "deepest JSON nesting of a request body", "requests"
    )
    rate_limit: float = option(
        0.0, _float(0), "requests per second per client (0: off)", "requests"
    )
    rate_burst: int | None = option(
        None, _int(1), "requests a client may send at once", "requests",
        shown="the rate limit, at least 1",
    )
    trusted_proxies: tuple[str, ...] = option(
        (), _proxies,
        "comma-separated addresses or networks of proxies whose `X-Forwarded-For` names the "
        "client; unset: the peer address is the client", "requests", metavar="ADDR,...",
    )
    http_allow: tuple[str, ...] = option(
        (), _list,
        "comma-separated URL prefixes (`http(s)://host[:port]/path`) that `http_get_json` may "
        "fetch; empty: off", "external", metavar="URL,...",
    )
    http_timeout_ms: float = option(
        500.0, _float(1), "time limit of one fetch, redirects and body included, in ms",
        "external",
    )
    http_max_bytes: int = option(1_000_000, _int(1), "largest body a fetch reads", "external")
    http_max_connections: int = option(
        20, _int(1), "connections open at once, all hosts together", "external"
    )
    http_cache_size: int = option(
        1024, _int(0), "fetched documents kept in the data cache (0: no cache)", "external"
    )
    http_cache_ttl: float = option(
        60.0, _float(0), "seconds a fetched document is kept when its answer has no `max-age`",
        "external",
    )
    http_breaker_failures: int = option(
        5, _int(0), "consecutive failures that open a host's circuit (0: never)", "external"
    )
    http_breaker_cooldown: float = option(
        30.0, _float(0), "seconds an open circuit waits before a trial fetch", "external"
    )
    builtins: str | None = option(
        None, _str, "operator built-ins to load, as `module.path:ATTRIBUTE`", "external",
        metavar="MODULE:ATTR",
    )
    admin_keys: tuple[str, ...] = option(
        (), _list, "comma-separated API keys that may call `POST /v1/query`", "admin",
        metavar="KEY,...", shown="none: the endpoint is off",
    )
    query_allow: tuple[str, ...] = option(
        (), _list, "comma-separated predicates that `POST /v1/query` may call", "admin",
        metavar="NAME,...", shown="every predicate of the policy set",
    )
    console: str = option(
        "auto", _choice(*CONSOLE_MODES),
        "the browser console at `/console`: `auto` (on when the server binds to a loopback "
        "address), `on` (off loopback it needs `SIAMESE_ADMIN_KEYS`) or `off`; with admin keys "
        "set, every console page asks for one", "console",
    )
    revision_archive: str | None = option(
        None, _str, "directory where every revision that serves is kept, to replay against "
        "later (off when unset)", "console",
    )

    # HTTPS (server/tls.py): the files are read again when they change
    tls_cert: str | None = option(
        None, _str, "PEM certificate (chain) file: serve HTTPS; reloaded when it changes",
        "tls", metavar="FILE",
    )
    tls_key: str | None = option(
        None, _str, "PEM private key file of the certificate (unset: the key is in the "
        "certificate file)", "tls", metavar="FILE",
    )
    tls_client_ca: str | None = option(
        None, _str, "PEM file of the CAs whose client certificates are required (mutual TLS): "
        "a caller without one is refused at the handshake", "tls", metavar="FILE",
    )
    # shadow policies (decision/shadow.py): a candidate set decides the same requests
    shadow_policy_dir: str | None = option(
        None, _str, "a candidate policy directory that decides every request again, off the "
        "request path; its disagreements go to the decision log (off when unset)", "shadow",
        metavar="DIR",
    )
    shadow_sample: float = option(
        1.0, _share, "share of decisions the candidate decides again (0 to 1)", "shadow",
    )
    shadow_queue: int = option(
        1000, _int(1), "decisions waiting for the candidate at most; more are dropped "
        "(counted)", "shadow",
    )

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
        if self.console == "on" and not is_loopback(self.host) and not self.admin_keys:
            out.append(
                f"SIAMESE_CONSOLE=on: the server binds to {self.host}, which is not a loopback "
                "address, so the console needs SIAMESE_ADMIN_KEYS (its pages show the policies "
                "and the decision log)"
            )
        if (self.tls_key or self.tls_client_ca) and not self.tls_cert:
            out.append("SIAMESE_TLS_KEY and SIAMESE_TLS_CLIENT_CA need SIAMESE_TLS_CERT")
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
    def console_enabled(self) -> bool:
        """Whether ``/console`` is served: SIAMESE_CONSOLE=on, or auto on a loopback host."""
        return self.console == "on" or (self.console == "auto" and is_loopback(self.host))

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


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _options() -> tuple[Option, ...]:
    out = []
    for f in fields(Settings):
        spec = f.metadata["option"]
        out.append(Option(
            env="SIAMESE_" + f.name.upper(),
            attr=f.name,
            parse=spec["parse"],
            meaning=spec["meaning"],
            default=spec["shown"] if spec["shown"] is not None else _shown(f.default),
            group=spec["group"],
            kind=spec["kind"],
            metavar=spec["metavar"],
        ))
    return tuple(out)


OPTIONS: tuple[Option, ...] = _options()


def markdown_table() -> str:
    """The README's configuration tables, one per group (a test keeps the README equal to
    this: ``python -c 'from siamese.settings import markdown_table; print(markdown_table())'``
    prints them)."""
    parts = []
    for group, title in GROUPS.items():
        rows = [o for o in OPTIONS if o.group == group]
        if not rows:
            continue
        parts.append(f"**{title}**\n\n| variable | flag | default | meaning |\n|---|---|---|---|")
        for o in rows:
            if o.kind == "positional":
                flag = "`POLICY_DIR` (argument)"
            elif o.kind == "bool":
                flag = f"`{o.flag}` / `--no-{o.flag[2:]}`"
            else:
                flag = f"`{o.flag}`"
            plain = " " in o.default or o.default in ("on", "off", "")
            default = o.default if plain else f"`{o.default}`"
            parts[-1] += f"\n| `{o.env}` | {flag} | {default} | {o.meaning} |"
    return "\n\n".join(parts) + "\n"
