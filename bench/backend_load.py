#!/usr/bin/env python3
"""Load benchmark for the backend: requests/s and p50/p95/p99 latency.

Runs the production command line (`todo-api serve`, WEB_CONCURRENCY workers) against a
throwaway database on the local PostgreSQL, then drives two endpoints at a fixed concurrency
for a fixed time from a small keep-alive HTTP/1.1 client (asyncio streams, so the load
generator costs little CPU next to the server on the same 2 cores):

    GET /api/v1/health                 liveness, no database
    GET /api/v1/tasks?limit=100        one signed-in user with 100 tasks, all returned

Besides latency it prints CPU time per request, read from /proc: the server's (user +
system of its process group) and the database's (the PostgreSQL backends serving the bench
database: the task list's JSON is built there). On a machine busy with other work, latency
mostly measures the machine, CPU per request measures the code. The machine's load average
is printed before and after.

`--workers 1,2` runs the whole thing once per worker count (WEB_CONCURRENCY) and prints the
rows side by side; `--cpus 0` pins the server to those CPUs, the way a pod's CPU limit of 1
caps it (the chart runs one worker per CPU of the limit: compare `--cpus 0 --workers 1,2`).

Loopback only, bounded in time and in request count; prints numbers, asserts nothing.
Usage: python bench/backend_load.py [--concurrency 16] [--seconds 10] [--workers 1,2] [--cpus 0]
Needs: PostgreSQL admin access via TODO_TEST_PG_ADMIN_URL (default postgresql:///postgres),
`todo-api` installed in the venv (make venv).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

# Throwaway databases and the server launcher: the same tools the backend tests use.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tools.*
from tools import backend_server as servertools
from tools import postgres as pgtools
from tools.stats import percentile

HOST = "127.0.0.1"  # loopback only
MAX_REQUESTS_PER_RUN = 2_000_000
REQUEST_TIMEOUT = 10.0


def todo_api() -> str:
    local = Path(sys.executable).with_name("todo-api")
    found = str(local) if local.exists() else shutil.which("todo-api")
    if not found:
        raise SystemExit("todo-api not found: install apps/backend into the venv (make venv)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- a lean keep-alive client


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == "content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def _worker(port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS_PER_RUN:
            start = time.perf_counter()
            writer.write(request)
            status = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT)
            if status != 200:
                errors.append(str(status))
                continue
            latencies.append(time.perf_counter() - start)
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        errors.append(type(exc).__name__)
    finally:
        writer.close()


def _request(port: int, path: str, token: str | None) -> bytes:
    headers = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    if token:
        headers.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode()


async def _warm_up(port: int, path: str, token: str | None, concurrency: int) -> None:
    """Connections, pools, caches."""
    request = _request(port, path, token)
    await asyncio.gather(*[_worker(port, request, time.perf_counter() + 1.0, [], []) for _ in range(concurrency)])


async def _load(
    port: int, path: str, token: str | None, concurrency: int, seconds: float, warm_up: bool = True
) -> dict:
    if warm_up:
        await _warm_up(port, path, token, concurrency)
    request = _request(port, path, token)
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*[_worker(port, request, deadline, latencies, errors) for _ in range(concurrency)])
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return percentile(latencies, p / 100) * 1000

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
    }


# ---------------------------------------------------------------- main


def process_group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process in the server's process group: the
    cost per request that machine load does not distort the way it distorts latency."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is pgrp (stat field 5)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def database_cpu_seconds(db: pgtools.Database) -> float:
    """CPU time of the PostgreSQL backends connected to the bench database (the server's
    pooled connections stay open, so one reading before and one after cover a run)."""
    with pgtools.admin_connect() as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db.name,))]
    return sum(_cpu_seconds(Path(f"/proc/{pid}/stat")) for pid in pids)


def _cpu_seconds(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serving(
    workers: int | None,
    tasks: int,
    extra_env: dict[str, str] | None = None,
    cpus: set[int] | None = None,
    database: list | None = None,
) -> Iterator[tuple[int, str, int]]:
    """`todo-api serve` on a throwaway database with one user owning `tasks` tasks; yields
    (port, that user's token, the server's process group). The token is read from the session
    cookie, which every version of the API sets (the login body carries it only when asked
    for). `cpus` pins the server (and its workers) to those CPUs; `database`, a list, gets
    the throwaway database appended."""
    db = pgtools.create_database(prefix="todo_bench")
    if database is not None:
        database.append(db)
    server = None
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
        env.update(DATABASE_URL=db.url, AUTH_SECRET=secrets.token_urlsafe(32), **(extra_env or {}))
        if workers:
            env["WEB_CONCURRENCY"] = str(workers)
        subprocess.run([todo_api(), "migrate"], env=env, check=True, capture_output=True, timeout=120)

        port = free_port()
        server = subprocess.Popen(
            [todo_api(), "serve", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        base = f"http://{HOST}:{port}"
        try:
            servertools.wait_until_serving(server, base, "/api/v1/health/ready", timeout=60)
        except (RuntimeError, TimeoutError) as error:
            raise SystemExit(f"the server did not become ready: {error}") from None
        http = requests.Session()
        http.trust_env = False

        creds = {"email": "bench@example.com", "password": secrets.token_urlsafe(12)}
        http.post(f"{base}/api/v1/auth/register", json=creds, timeout=10).raise_for_status()
        http.post(f"{base}/api/v1/auth/login", json=creds, timeout=10).raise_for_status()
        token = http.cookies["todo_session"]
        http.cookies.clear()
        auth = {"Authorization": f"Bearer {token}"}
        for i in range(tasks):
            body = {"title": f"task {i}", "description": "benchmark " * 5, "priority": ["low", "medium", "high"][i % 3]}
            http.post(f"{base}/api/v1/tasks", json=body, headers=auth, timeout=10).raise_for_status()
        page = http.get(f"{base}/api/v1/tasks?limit=100", headers=auth, timeout=10).json()
        assert page["total"] == tasks, page["total"]
        yield port, token, server.pid
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        pgtools.drop_database(db)


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min), {os.cpu_count()} CPUs (client shares them)"


def run(args: argparse.Namespace, workers: int | None) -> dict:
    databases: list[pgtools.Database] = []
    with serving(workers, args.tasks, cpus=args.cpus, database=databases) as (port, token, pgid):
        db = databases[0]
        pinned = f", pinned to CPUs {sorted(args.cpus)}" if args.cpus else ""
        label = workers or "1 (default)"
        print(
            f"todo-api serve, WEB_CONCURRENCY={label}{pinned}, concurrency {args.concurrency},"
            f" {args.seconds:.0f} s each"
        )
        print(load_line())
        print(
            f"{'endpoint':38} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'CPU ms/req':>11} {'DB CPU ms/req':>14}"
        )
        results = {}
        for name, path, tok in [
            ("GET /api/v1/health", "/api/v1/health", None),
            (f"GET /api/v1/tasks ({args.tasks} tasks)", "/api/v1/tasks?limit=100", token),
        ]:
            asyncio.run(_warm_up(port, path, tok, args.concurrency))
            cpu_before, db_before = process_group_cpu_seconds(pgid), database_cpu_seconds(db)
            r = asyncio.run(_load(port, path, tok, args.concurrency, args.seconds, warm_up=False))
            count = max(r["requests"], 1)
            r["server_cpu_ms_per_request"] = (process_group_cpu_seconds(pgid) - cpu_before) * 1000 / count
            r["db_cpu_ms_per_request"] = (database_cpu_seconds(db) - db_before) * 1000 / count
            results[name] = {k: round(v, 2) for k, v in r.items()}
            print(
                f"{name:38} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:7d}"
                f" {r['server_cpu_ms_per_request']:11.2f} {r['db_cpu_ms_per_request']:14.2f}"
            )
        print(load_line())
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[None],
        help="WEB_CONCURRENCY, or several separated by commas (default: its default, 1)",
    )
    parser.add_argument(
        "--cpus",
        type=lambda text: {int(n) for n in text.split(",")},
        default=None,
        help="pin the server to these CPUs (e.g. 0: what a CPU limit of 1 allows)",
    )
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)  # bounded
    args.concurrency = min(max(args.concurrency, 1), 256)
    if any(w is not None and not 1 <= w <= 16 for w in args.workers):
        parser.error("--workers: each count must be between 1 and 16")

    results = {}
    for workers in args.workers:
        results[f"workers={workers or 1}"] = run(args, workers)
        print()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
