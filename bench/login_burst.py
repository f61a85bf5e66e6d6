#!/usr/bin/env python3
"""A burst of logins from many addresses at once (issue 20, item 3): numbers, not pass/fail.

Starts `todo-api serve` like bench/backend_load.py, trusting loopback as its proxy, then
sends --logins concurrent logins at the same moment, each from its own X-Forwarded-For
address, each for its own unknown email (every one costs an argon2 hash: what a distributed
credential-stuffing burst or a crowd signing in after an outage looks like). Prints how many
were answered within 5 s, the answers by status, and the latency percentiles.

Before/after: run it once on this checkout and once on the old code, e.g.
    git archive <old-commit> apps/backend/src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/apps/backend/src python bench/login_burst.py
Loopback only, one burst; prints the machine's load beside the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backend_load

HOST = backend_load.HOST
WITHIN_SECONDS = 5.0


async def _login(port: int, n: int, started: asyncio.Event, results: list) -> None:
    body = json.dumps({"email": f"burst{n}@example.com", "password": secrets.token_urlsafe(12)}).encode()
    head = [
        "POST /api/v1/auth/login HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"X-Forwarded-For: 198.51.{n // 250}.{n % 250 + 1}",
        "Connection: close",
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    reader, writer = await asyncio.open_connection(HOST, port)  # connected before the burst
    await started.wait()
    begin = time.perf_counter()
    try:
        writer.write(request)
        status = await asyncio.wait_for(backend_load._read_response(reader), 60)
        results.append((status, time.perf_counter() - begin))
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        results.append((type(exc).__name__, time.perf_counter() - begin))
    finally:
        writer.close()


async def _burst(port: int, logins: int) -> list:
    started = asyncio.Event()
    results: list = []
    tasks = [asyncio.create_task(_login(port, n, started, results)) for n in range(logins)]
    await asyncio.sleep(0.5)  # every connection open
    started.set()
    await asyncio.gather(*tasks)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=150)
    args = parser.parse_args()
    args.logins = min(max(args.logins, 1), 1000)
    with backend_load.serving(None, 0, extra_env={"TRUSTED_PROXIES": "127.0.0.1/32"}) as (port, _, _):
        print(f"todo-api serve (default settings), {args.logins} logins at once")
        print(backend_load.load_line())
        results = asyncio.run(_burst(port, args.logins))
        print(backend_load.load_line())
    latencies = sorted(seconds for _, seconds in results)
    statuses = collections.Counter(str(status) for status, _ in results)
    within = sum(1 for seconds in latencies if seconds <= WITHIN_SECONDS)

    def pct(p: float) -> float:
        return backend_load.percentile(latencies, p / 100)

    print(f"answered within {WITHIN_SECONDS:.0f} s: {within} of {len(results)}")
    print("answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"latency s: p50 {pct(50):.2f}  p95 {pct(95):.2f}  max {latencies[-1]:.2f}")
    print(json.dumps({"within_5s": within, "total": len(results), "statuses": statuses, "max_s": latencies[-1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
