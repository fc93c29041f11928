"""bench/http.py judges its load runs right: the Python load generator's answers keep
their statuses as numbers (each 200 was once "an unexpected answer"), and wrk's counts by
class are read for allow and deny scenarios alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from siamese.policy.store import PolicyStore
from tests.benchmod import load_bench

http_bench = load_bench("http")

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8000/
  1 threads and 32 connections
  Latency Distribution
     50%  812.00us
     99%    2.10ms
  40000 requests in 2.00s, 6.00MB read
  Non-2xx or 3xx responses: 40000
Requests/sec:  20000.00
"""


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_python_load_generator_counts_200s_as_expected(port: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = http_bench.python_load(port, [request], connections=2, duration=0.3)
    assert result["requests"] > 0
    assert set(result["statuses"]) == {200}
    assert http_bench.unexpected_answers(result["statuses"], 200) == {}
    assert http_bench.unexpected_answers(result["statuses"], 403) == {200: result["requests"]}


def test_wrk_counts_by_class_for_allows_and_denies() -> None:
    peak = http_bench.parse_wrk(WRK_OUTPUT)
    assert peak["requests"] == 40000
    assert peak["statuses"] == {"2xx": 0, "non_2xx": 40000}
    assert http_bench.unexpected_answers(peak["statuses"], 403) == {}
    assert http_bench.unexpected_answers(peak["statuses"], 200) == {"non_2xx": 40000}
    allowed = http_bench.parse_wrk(WRK_OUTPUT.replace("  Non-2xx or 3xx responses: 40000\n", ""))
    assert http_bench.unexpected_answers(allowed["statuses"], 200) == {}
    assert http_bench.unexpected_answers(allowed["statuses"], 401) == {"2xx": 40000}


def test_the_abac_and_rebac_scenarios_serve_their_own_policy_sets(tmp_path: Path) -> None:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    chosen = {s.name: s for s in http_bench.scenarios(policy_dir)}
    assert chosen["uncached"].policies == "policies"
    for name in ("abac", "rebac"):
        scenario = chosen[f"uncached_{name}"]
        served = tmp_path / scenario.policies
        assert served != policy_dir and served.parent == policy_dir.parent
        store = PolicyStore(str(served))
        assert store.load_sync().ok
        assert scenario.env["SIAMESE_CACHE_SIZE"] == "0" and len(set(scenario.bodies)) > 100
    # the RBAC set is the RBAC rules and the gateway's, nothing of the others
    assert sorted(p.name for p in policy_dir.iterdir()) == ["gateway.rules", "rbac.rules"]
