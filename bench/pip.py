"""Benchmark decisions that consult a web API (``http_get_json``): the data cache cold
against warm, in the same run.

    python bench/pip.py [--quick]

The policy asks a JSON service on loopback who owns each document. The service runs in
a subprocess (a bare asyncio HTTP/1.1 server, so that it does not share our GIL and is
cheap next to what is measured). Cold: the data cache is off, every decision fetches
(over the pooled keep-alive connections). Warm: every document is in the data cache.
Decisions are made one at a time and 32 at a time; the decision cache is off throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/http.py would shadow the standard library's http package that httpx imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent / "src"))

from siamese.decision.authorizer import Authorizer  # noqa: E402
from siamese.decision.models import Request  # noqa: E402
from siamese.decision.service import DecisionService  # noqa: E402
from siamese.pip import HttpData  # noqa: E402
from siamese.policy.loader import load_policy_set  # noqa: E402

POLICY = """
@id("owners-read")
allow(?u, read, ?doc) :-
    concat("{base}/docs/", ?doc, ?url),
    http_get_json(?url, ?meta),
    json_path(?meta, "owners", ?owners),
    ?u in ?owners.
"""


# --- the upstream service (run with --upstream in a subprocess) -----------------------------


class _Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            n = int(path.rsplit("-", 1)[-1]) if "-" in path else 0
            body = json.dumps({"id": path, "owners": ["alice", f"user{n % 10}"],
                               "labels": {"tier": n % 3}}).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )


async def _serve_upstream() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, __file__, "--upstream"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    timer = threading.Timer(10.0, proc.kill)  # bounded startup wait
    timer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        timer.cancel()
    if not line.strip():
        raise SystemExit("the upstream service did not start")
    return proc, int(line)


# --- measuring ---------------------------------------------------------------------------------


async def _bounded(decide: Callable[[Request], Awaitable[object]], r: Request,
                   sem: asyncio.Semaphore) -> None:
    async with sem:
        await decide(r)


async def rate(decide: Callable[[Request], Awaitable[object]], reqs: list[Request],
               concurrency: int, rounds: int) -> float:
    """Median decisions per second over ``rounds`` passes over ``reqs``."""
    rates = []
    sem = asyncio.Semaphore(concurrency)
    for _ in range(rounds):
        t0 = time.perf_counter()
        if concurrency == 1:
            for r in reqs:
                await decide(r)
        else:
            await asyncio.gather(*(_bounded(decide, r, sem) for r in reqs))
        rates.append(len(reqs) / (time.perf_counter() - t0))
    return statistics.median(rates)


async def run(n_docs: int, rounds: int) -> list[tuple[str, float, float]]:
    proc, port = start_upstream()
    base = f"http://127.0.0.1:{port}"
    cold = HttpData([base + "/docs/"], cache_size=0, timeout=2.0, max_connections=64,
                    max_keepalive=64)
    warm = HttpData([base + "/docs/"], cache_size=n_docs * 2, cache_ttl=3600.0, timeout=2.0)
    try:
        reqs = [Request.simple("alice" if i % 2 else f"user{i % 7}", "read", f"doc-{i}")
                for i in range(n_docs)]
        services = {}
        for name, http in (("cold", cold), ("warm", warm)):
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "p.rules").write_text(POLICY.replace("{base}", base))
                policy = load_policy_set(tmp, builtins=http.builtins())
            services[name] = DecisionService(lambda p=policy: p, Authorizer(), None)  # type: ignore[misc]
        allowed = 0
        for svc in services.values():  # warm up both (and fill the warm data cache)
            for r in reqs:
                d = await svc.decide(r)
                allowed += d.allowed
                if d.explanation.get("notes"):
                    raise SystemExit(f"a fetch failed: {d.explanation['notes']}")
        assert 0 < allowed < 2 * len(reqs)
        out = []
        for concurrency in (1, 32):
            c = await rate(services["cold"].decide, reqs, concurrency, rounds)
            w = await rate(services["warm"].decide, reqs, concurrency, rounds)
            out.append((f"{concurrency} at a time", c, w))
        assert warm.cache.misses == n_docs and cold.cache.hits == 0
        return out
    finally:
        await cold.aclose()
        await warm.aclose()
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run")
    ap.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.upstream:
        asyncio.run(_serve_upstream())
        return
    n_docs, rounds = (100, 1) if args.quick else (1000, 5)
    results = asyncio.run(run(n_docs, rounds))
    print(f"decisions/s for a policy that fetches JSON from a loopback service "
          f"({n_docs} documents, median of {rounds})")
    print(f"{'':>14} {'cold cache':>12} {'warm cache':>12} {'warm/cold':>10}")
    for label, c, w in results:
        print(f"{label:>14} {c:>12,.0f} {w:>12,.0f} {w / c:>9.1f}x")


if __name__ == "__main__":
    main()
