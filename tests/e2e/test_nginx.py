"""A real nginx (Debian's package) in front of a small upstream, every request authorised
by `siamese serve` (SIAMESE_GATEWAY=nginx) through `auth_request`, with exactly the config
of deploy/nginx/siamese.conf.template (the one docker-compose.yml uses). The cases are
those of every gateway (:class:`GatewaySuite`)."""

from __future__ import annotations

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
TEMPLATE = ROOT / "deploy" / "nginx" / "siamese.conf.template"
NGINX = gateway_binary("nginx", "/usr/sbin/nginx")


def nginx_stack(tmp_path: Path, mode: str) -> Iterator[Stack]:
    with upstream("X-Subject") as up, pdp(tmp_path, mode) as (pdp_port, pdp_proc):
        nginx_port = free_port()
        conf = (TEMPLATE.read_text()
                .replace("${LISTEN}", f"127.0.0.1:{nginx_port}")
                .replace("${PDP}", f"127.0.0.1:{pdp_port}")
                .replace("${UPSTREAM}", f"127.0.0.1:{up.port}"))
        prefix = tmp_path / "nginx"
        (prefix / "logs").mkdir(parents=True)
        (prefix / "temp").mkdir()
        (prefix / "nginx.conf").write_text(
            "worker_processes 1;\nerror_log logs/error.log warn;\npid logs/nginx.pid;\n"
            "events { worker_connections 64; }\n"
            "http {\n  access_log logs/access.log;\n"
            "  client_body_temp_path temp/body; proxy_temp_path temp/proxy;\n"
            "  fastcgi_temp_path temp/fastcgi; uwsgi_temp_path temp/uwsgi;"
            " scgi_temp_path temp/scgi;\n" + conf + "\n}\n")
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                  "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            wait_for(lambda: listening(nginx_port, nginx), "nginx to listen")
            yield Stack(f"http://127.0.0.1:{nginx_port}", up, pdp_proc)
        finally:
            stop(nginx, lambda: nginx.send_signal(signal.SIGQUIT))


stack, fresh_stack, auto_stack = stack_fixtures(nginx_stack, "nginx")


class TestNginx(GatewaySuite):
    pass

