"""SIAMESE_* settings, their checks, and the ``siamese serve`` flags that override them."""

from __future__ import annotations

from pathlib import Path

import pytest

from siamese.cli import build_parser
from siamese.server.app import build_app, uvicorn_options
from siamese.settings import OPTIONS, Settings, SettingsError, is_loopback, markdown_table


def test_defaults() -> None:
    s = Settings.from_environ({})
    assert (s.policy_dir, s.host, s.port, s.workers) == ("policies", "127.0.0.1", 8000, 1)
    assert (s.log_level, s.log_format, s.reload, s.auth_mode) == ("info", "text", True, "none")
    assert (s.max_body_bytes, s.max_json_depth, s.rate_limit) == (1 << 20, 64, 0.0)
    assert s.gateway == "auto"
    assert s.cache_enabled and s.limits().max_steps == s.max_steps


def test_every_variable_parses() -> None:
    env = {
        "SIAMESE_POLICY_DIR": "/srv/policies",
        "SIAMESE_HOST": "0.0.0.0",
        "SIAMESE_PORT": "9000",
        "SIAMESE_WORKERS": "4",
        "SIAMESE_LOG_LEVEL": "DEBUG",
        "SIAMESE_LOG_FORMAT": "json",
        "SIAMESE_ACCESS_LOG": "yes",
        "SIAMESE_RELOAD": "off",
        "SIAMESE_RELOAD_REQUIRE_TESTS": "1",
        "SIAMESE_MAX_DEPTH": "50",
        "SIAMESE_MAX_SOLUTIONS": "10",
        "SIAMESE_MAX_STEPS": "1000",
        "SIAMESE_TIMEOUT_MS": "250.5",
        "SIAMESE_CACHE_TTL": "5",
        "SIAMESE_CACHE_SIZE": "0",
        "SIAMESE_AUTH": "jwt",
        "SIAMESE_API_KEYS": " a , b ,",
        "SIAMESE_JWT_SECRET": "s" * 32,
        "SIAMESE_JWKS_FILE": "/keys.json",
        "SIAMESE_JWT_ALGORITHMS": "hs256,RS256",
        "SIAMESE_JWT_ISSUER": "https://i",
        "SIAMESE_JWT_AUDIENCE": "x,y",
        "SIAMESE_JWT_REQUIRE_EXP": "off",
        "SIAMESE_GATEWAY": "Traefik",
        "SIAMESE_AUDIT_LOG": "/var/log/d.jsonl",
        "SIAMESE_AUDIT_REQUIRED": "true",
        "SIAMESE_AUDIT_REDACT": "ssn, X-Tenant-Key",
        "SIAMESE_MAX_BODY_BYTES": "2048",
        "SIAMESE_MAX_JSON_DEPTH": "10",
        "SIAMESE_RATE_LIMIT": "2.5",
        "SIAMESE_RATE_BURST": "7",
        "SIAMESE_TRUSTED_PROXIES": "10.0.0.7, 192.168.0.0/16 ,::1",
        "SIAMESE_HTTP_ALLOW": "api.example.com, x.example.com",
        "SIAMESE_HTTP_TIMEOUT_MS": "250",
        "SIAMESE_HTTP_MAX_BYTES": "4096",
        "SIAMESE_HTTP_MAX_CONNECTIONS": "4",
        "SIAMESE_HTTP_CACHE_SIZE": "0",
        "SIAMESE_HTTP_CACHE_TTL": "5",
        "SIAMESE_HTTP_BREAKER_FAILURES": "0",
        "SIAMESE_HTTP_BREAKER_COOLDOWN": "2.5",
        "SIAMESE_BUILTINS": "mycompany.pip:BUILTINS",
        "SIAMESE_ADMIN_KEYS": "root-key, ops-key",
        "SIAMESE_QUERY_ALLOW": "member_of, allow",
        "SIAMESE_CONSOLE": "ON",
        "SIAMESE_REVISION_ARCHIVE": "/var/lib/siamese/revisions",
        "SIAMESE_TLS_CERT": "/tls/tls.crt",
        "SIAMESE_TLS_KEY": "/tls/tls.key",
        "SIAMESE_TLS_CLIENT_CA": "/tls/ca.crt",
        "SIAMESE_SHADOW_POLICY_DIR": "/srv/candidate",
        "SIAMESE_SHADOW_SAMPLE": "0.25",
        "SIAMESE_SHADOW_QUEUE": "50",
    }
    # the test covers every variable (the public key below: it excludes a JWKS file)
    assert {o.env for o in OPTIONS} == {*env, "SIAMESE_JWT_PUBLIC_KEY"}
    assert Settings.from_environ({"SIAMESE_JWT_PUBLIC_KEY": "/k.pem"}).jwt_public_key == "/k.pem"
    s = Settings.from_environ(env)
    assert s.policy_dir == "/srv/policies" and s.host == "0.0.0.0" and s.port == 9000
    assert s.workers == 4 and s.log_level == "debug" and s.log_format == "json"
    assert s.access_log and not s.reload and s.reload_require_tests
    assert s.limits().max_depth == 50 and s.limits().timeout_ms == 250.5
    assert s.cache_ttl == 5.0 and s.cache_size == 0 and not s.cache_enabled
    assert s.auth == "jwt" and s.api_keys == ("a", "b") and s.jwks_file == "/keys.json"
    assert s.jwt_algorithms == ("HS256", "RS256")
    assert s.jwt_issuer == "https://i" and s.jwt_audience == ("x", "y")
    assert s.gateway == "traefik"
    assert s.audit_log == "/var/log/d.jsonl" and s.audit_required
    assert s.audit_redact == ("ssn", "X-Tenant-Key")
    assert s.max_body_bytes == 2048 and s.max_json_depth == 10
    assert s.rate_limit == 2.5 and s.burst == 7
    assert not s.jwt_require_exp and Settings().jwt_require_exp
    assert s.trusted_proxies == ("10.0.0.7/32", "192.168.0.0/16", "::1/128")
    assert s.http_allow == ("api.example.com", "x.example.com")
    assert s.http_options() == {
        "timeout": 0.25,
        "max_bytes": 4096,
        "max_connections": 4,
        "max_keepalive": 4,
        "cache_size": 0,
        "cache_ttl": 5.0,
        "breaker_failures": 0,
        "breaker_cooldown": 2.5,
    }
    assert s.builtins == "mycompany.pip:BUILTINS"
    assert s.admin_keys == ("root-key", "ops-key") and s.query_allow == ("member_of", "allow")
    assert s.console == "on" and s.console_enabled
    assert s.revision_archive == "/var/lib/siamese/revisions"
    assert (s.tls_cert, s.tls_key, s.tls_client_ca) == (
        "/tls/tls.crt", "/tls/tls.key", "/tls/ca.crt"
    )
    assert (s.shadow_policy_dir, s.shadow_sample, s.shadow_queue) == ("/srv/candidate", 0.25, 50)
    assert Settings().revision_archive is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SIAMESE_PORT": "http"}, "SIAMESE_PORT: expected an integer, got 'http'"),
        ({"SIAMESE_PORT": "70000"}, "SIAMESE_PORT: expected an integer from 0 to 65535, got 70000"),
        ({"SIAMESE_WORKERS": "0"}, "SIAMESE_WORKERS: expected an integer from 1 to 256, got 0"),
        (
            {"SIAMESE_CACHE_TTL": "-1"},
            "SIAMESE_CACHE_TTL: expected a number of at least 0, got '-1'",
        ),
        (
            {"SIAMESE_TIMEOUT_MS": "nan"},
            "SIAMESE_TIMEOUT_MS: expected a number of at least 0.001, got 'nan'",
        ),
        ({"SIAMESE_RELOAD": "maybe"}, "SIAMESE_RELOAD: expected true or false, got 'maybe'"),
        (
            {"SIAMESE_TRUSTED_PROXIES": "10.0.0.1, proxy.local"},
            "SIAMESE_TRUSTED_PROXIES: expected IP addresses or networks, got 'proxy.local'",
        ),
        (
            {"SIAMESE_HTTP_TIMEOUT_MS": "0"},
            "SIAMESE_HTTP_TIMEOUT_MS: expected a number of at least 1, got '0'",
        ),
        (
            {"SIAMESE_HTTP_MAX_CONNECTIONS": "0"},
            "SIAMESE_HTTP_MAX_CONNECTIONS: expected an integer of at least 1, got 0",
        ),
        (
            {"SIAMESE_AUTH": "oauth"},
            "SIAMESE_AUTH: expected one of none, api-key, jwt, got 'oauth'",
        ),
        (
            {"SIAMESE_LOG_FORMAT": "xml"},
            "SIAMESE_LOG_FORMAT: expected one of text, json, got 'xml'",
        ),
        (
            {"SIAMESE_GATEWAY": "haproxy"},
            "SIAMESE_GATEWAY: expected one of auto, nginx, traefik, caddy, envoy, got 'haproxy'",
        ),
        ({"SIAMESE_JWT_ALGORITHMS": "none"}, "SIAMESE_JWT_ALGORITHMS: 'none' is never accepted"),
        ({"SIAMESE_JWT_ALGORITHMS": "HS999"}, "SIAMESE_JWT_ALGORITHMS: unknown algorithm 'HS999'"),
        (
            {"SIAMESE_MAX_JSON_DEPTH": "5000"},
            "SIAMESE_MAX_JSON_DEPTH: expected an integer from 1 to 1000",
        ),
        ({"SIAMESE_HOST": "0.0.0.0"}, "SIAMESE_AUTH: not set, and the server binds to 0.0.0.0"),
        ({"SIAMESE_AUTH": "api-key"}, "SIAMESE_API_KEYS: required when SIAMESE_AUTH=api-key"),
        ({"SIAMESE_AUTH": "jwt"}, "SIAMESE_AUTH=jwt needs a key"),
        (
            {"SIAMESE_JWT_ALGORITHMS": "HS256", "SIAMESE_JWT_PUBLIC_KEY": "k.pem"},
            "SIAMESE_JWT_ALGORITHMS: HS256 needs SIAMESE_JWT_SECRET",
        ),
        (
            {"SIAMESE_JWT_ALGORITHMS": "RS256", "SIAMESE_JWT_SECRET": "s"},
            "SIAMESE_JWT_ALGORITHMS: RS256 needs SIAMESE_JWT_PUBLIC_KEY or SIAMESE_JWKS_FILE",
        ),
        ({"SIAMESE_JWT_PUBLIC_KEY": "a.pem", "SIAMESE_JWKS_FILE": "b.json"}, "set one, not both"),
        ({"SIAMESE_TLS_CLIENT_CA": "ca.pem"}, "SIAMESE_TLS_CLIENT_CA need SIAMESE_TLS_CERT"),
        ({"SIAMESE_TLS_KEY": "k.pem"}, "SIAMESE_TLS_KEY and SIAMESE_TLS_CLIENT_CA need"),
        ({"SIAMESE_SHADOW_SAMPLE": "1.5"}, "SIAMESE_SHADOW_SAMPLE: expected a number from 0 to 1"),
        ({"SIAMESE_SHADOW_SAMPLE": "nan"}, "SIAMESE_SHADOW_SAMPLE: expected a number"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_environ(env)
    assert message in str(err.value)


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_environ({"SIAMESE_PORT": "x", "SIAMESE_WORKERS": "y"})
    assert str(err.value).count("\n") == 1


def test_auth_none_is_the_default_only_on_loopback() -> None:
    assert Settings.from_environ({"SIAMESE_HOST": "::1"}).auth_mode == "none"
    assert Settings.from_environ({"SIAMESE_HOST": "localhost"}).auth_mode == "none"
    explicit = Settings.from_environ({"SIAMESE_HOST": "0.0.0.0", "SIAMESE_AUTH": "none"})
    assert explicit.auth_mode == "none"
    assert is_loopback("127.0.0.2") and not is_loopback("10.0.0.1") and not is_loopback("pdp.local")


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_environ({"SIAMESE_PORT": "", "SIAMESE_JWT_SECRET": " "}).port == 8000


def test_serve_flags_override_the_environment() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "pol",
            "--port",
            "9001",
            "--no-reload",
            "--access-log",
            "--auth",
            "api-key",
            "--api-keys",
            "k1,k2",
            "--log-format",
            "json",
        ]
    )
    assert args.siamese_env == {
        "SIAMESE_POLICY_DIR": "pol",
        "SIAMESE_PORT": "9001",
        "SIAMESE_RELOAD": "false",
        "SIAMESE_ACCESS_LOG": "true",
        "SIAMESE_AUTH": "api-key",
        "SIAMESE_API_KEYS": "k1,k2",
        "SIAMESE_LOG_FORMAT": "json",
    }
    s = Settings.from_environ({"SIAMESE_PORT": "1", "SIAMESE_RELOAD": "true", **args.siamese_env})
    assert s.port == 9001 and not s.reload and s.api_keys == ("k1", "k2")
    assert build_parser().parse_args(["serve"]).siamese_env == {}


def test_every_variable_has_a_flag() -> None:
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices["serve"]._actions}
    assert {o.env for o in OPTIONS} <= dests


def test_build_app_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such directory"):
        build_app(Settings(policy_dir=str(tmp_path / "missing")))


def test_build_app_with_gated_reloads(tmp_path: Path) -> None:
    (tmp_path / "p.rules").write_text("allow(alice, read, doc).\n")
    (tmp_path / "p.test.yaml").write_text(
        "tests:\n  - name: alice reads\n"
        "    request: {subject: alice, action: read, resource: doc}\n"
        "    expect: deny\n"
    )
    app = build_app(Settings(policy_dir=str(tmp_path), reload_require_tests=True, reload=False))
    store = app.state.siamese.store
    assert store.get() is None and "tests failed" in store.last_error


def test_uvicorn_options() -> None:
    opts = uvicorn_options(Settings(host="::1", port=0, access_log=True))
    assert opts["host"] == "::1" and opts["port"] == 0 and opts["access_log"] is True
    assert opts["log_config"] is None


def test_the_readme_table_and_the_help_come_from_the_one_declaration() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown_table() in readme, (
        "README.md's configuration tables are out of date: paste the output of "
        "python -c 'from siamese.settings import markdown_table; print(markdown_table())'"
    )
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub.choices["serve"]._actions}
    for o in OPTIONS:
        assert helps[o.env] == f"{o.help.replace('`', '')} [{o.env}]"
