#!/usr/bin/env python3
"""Task-list latency while a login flood runs (issue 14, item 2): numbers, not pass/fail.

Starts `todo-api serve` like bench/backend_load.py (one signed-in user with 100 tasks), then
measures GET /api/v1/tasks?limit=100 at a fixed concurrency three times:

    quiet          no other traffic
    flood          plus --flood connections posting wrong-password logins as fast as answered,
                   all from one client address (what the per-address throttle sees)
    spread flood   the same, each login with its own X-Forwarded-For address and its own
                   (unknown) email: a distributed credential-stuffing flood that no throttle
                   catches, so only the hashing limiter protects the task requests (the
                   server names loopback as its proxy, TRUSTED_PROXIES, so it believes the header)

For the before/after comparison run it once on this checkout and once on the old code, e.g.
    git archive <old-commit> apps/backend/src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/apps/backend/src python bench/login_flood.py
(the server inherits PYTHONPATH, which wins over the venv's editable install).

Loopback only, bounded in time; prints the machine's load beside the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backend_load

HOST = backend_load.HOST


async def _flood_worker(
    port: int, deadline: float, statuses: collections.Counter, addresses: itertools.count | None
) -> None:
    password = secrets.token_urlsafe(12)
    body = json.dumps({"email": "bench@example.com", "password": password}).encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < deadline:
            if addresses is not None:
                n = next(addresses)
                body = json.dumps({"email": f"flood{n}@example.com", "password": password}).encode()
            head = [
                "POST /api/v1/auth/login HTTP/1.1",
                f"Host: {HOST}:{port}",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
            ]
            if addresses is not None:
                head.append(f"X-Forwarded-For: 198.51.{(n >> 8) % 256}.{n % 256}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status = await asyncio.wait_for(backend_load._read_response(reader), backend_load.REQUEST_TIMEOUT)
            statuses[status] += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        statuses[type(exc).__name__] += 1
    finally:
        writer.close()


async def _measure(port: int, token: str, args: argparse.Namespace, flood: str | None) -> tuple[dict, dict]:
    statuses: collections.Counter = collections.Counter()
    deadline = time.perf_counter() + args.seconds + 1.5  # covers the task load's warm-up second
    addresses = itertools.count() if flood == "spread" else None
    flooders = (
        [asyncio.create_task(_flood_worker(port, deadline, statuses, addresses)) for _ in range(args.flood)]
        if flood
        else []
    )
    result = await backend_load._load(port, "/api/v1/tasks?limit=100", token, args.concurrency, args.seconds)
    await asyncio.gather(*flooders)
    return result, dict(statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="task-list connections")
    parser.add_argument("--flood", type=int, default=16, help="login-flood connections")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=None, help="WEB_CONCURRENCY (default: its default, 1)")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 60.0)  # bounded
    args.concurrency = min(max(args.concurrency, 1), 128)
    args.flood = min(max(args.flood, 1), 128)

    # Loopback is this bench's Ingress hop (old code trusted it by default; since issue 20 the
    # deployment has to name it).
    with backend_load.serving(args.workers, 100, extra_env={"TRUSTED_PROXIES": "127.0.0.1/32"}) as (port, token, _):
        print(
            f"todo-api serve, WEB_CONCURRENCY={args.workers or '1 (default)'}, task list at concurrency "
            f"{args.concurrency}, login flood {args.flood} connections, {args.seconds:.0f} s each"
        )
        print(backend_load.load_line())
        print(f"{'scenario':14} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6}  login answers")
        results = {}
        for label, flood in [("quiet", None), ("flood", "one"), ("spread flood", "spread")]:
            r, statuses = asyncio.run(_measure(port, token, args, flood))
            results[label] = {**{k: round(v, 2) for k, v in r.items()}, "logins": statuses}
            answered = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)) or "-"
            print(
                f"{label:14} {r['rps']:7.0f} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['p99_ms']:7.1f} "
                f"{r['errors']:6d}  {answered}"
            )
        print(backend_load.load_line())
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
