"""A real Caddy (Debian's package) in front of a small upstream, every request authorised
by `siamese serve` (SIAMESE_GATEWAY=caddy) through `forward_auth`, with exactly the
Caddyfile of deploy/caddy/ (the one the README shows). Caddy listens on a loopback port,
with its admin API off, no automatic HTTPS, and its home and data directories in the test's
temporary directory. The cases are those of every gateway (:class:`GatewaySuite`)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from .gateway_suite import (
    GatewaySuite,
    Stack,
    gateway_binary,
    listening,
    pdp,
    stack_fixtures,
    stop,
    upstream,
)
from .helpers import free_port, wait_for

ROOT = Path(__file__).parents[2]
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
CADDY = gateway_binary("caddy", "/usr/bin/caddy")


def caddy_stack(tmp_path: Path, mode: str) -> Iterator[Stack]:
    with upstream("X-Siamese-Subject") as up, pdp(tmp_path, mode) as (pdp_port, pdp_proc):
        port = free_port()
        home = tmp_path / "caddy"
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "LISTEN": f"127.0.0.1:{port}",
            "BIND": "127.0.0.1",
            "PDP": f"127.0.0.1:{pdp_port}",
            "UPSTREAM": f"127.0.0.1:{up.port}",
        }
        caddy = subprocess.Popen(
            [CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=env, cwd=home, stdout=(tmp_path / "caddy.log").open("wb"),
            stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: listening(port, caddy), "caddy to listen")
            yield Stack(f"http://127.0.0.1:{port}", up, pdp_proc)
        finally:
            stop(caddy, lambda: caddy.send_signal(signal.SIGTERM))


stack, fresh_stack, auto_stack = stack_fixtures(caddy_stack, "caddy")


class TestCaddy(GatewaySuite):
    pass

