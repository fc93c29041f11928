"""A bounded load generator, run as its own process by the reliability tests:

    python loadgen.py URL OUT --requests N --seconds S --concurrency C

Sends AuthZEN evaluations for a few subjects, and writes one JSON line per response:
status, subject, decision, revision. Stops at N requests or S seconds, whichever first.
Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit

import httpx

SUBJECTS = [f"u{i}" for i in range(8)]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadgen: loopback targets only")
    deadline = time.monotonic() + args.seconds
    sent = 0
    results: list[dict[str, object]] = []
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=10.0) as client:

        async def worker(seed: int) -> None:
            nonlocal sent
            rng = random.Random(seed)
            while sent < args.requests and time.monotonic() < deadline:
                sent += 1
                subject = rng.choice(SUBJECTS)
                body = {"subject": {"type": "user", "id": subject}, "action": {"name": "read"},
                        "resource": {"type": "doc", "id": "doc"}}
                try:
                    r = await client.post("/access/v1/evaluation", json=body)
                except httpx.HTTPError as e:
                    results.append({"status": 0, "error": repr(e), "subject": subject})
                    continue
                rec: dict[str, object] = {"status": r.status_code, "subject": subject}
                if r.status_code == 200:
                    data = r.json()
                    rec["decision"] = data["decision"]
                    rec["revision"] = data["context"]["revision"]
                results.append(rec)

        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    with open(args.out, "w") as fh:
        for rec in results:
            fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
