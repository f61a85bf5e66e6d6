"""Time to first byte of the frontend: the signed-in, server-rendered task page and /healthz,
at concurrency 8 on loopback. Prints numbers; passes or fails nothing.

Runs the real stack from tests/e2e/stack.py: a throwaway PostgreSQL database, the backend
(`todo-api serve`, WEB_CONCURRENCY=1) and the built standalone frontend (`node server.js`),
all on 127.0.0.1. One user with 25 tasks; every page request carries that user's cookie,
so each one costs the frontend a render plus its calls to the backend. The task page is
measured as a plain client asks for it (the targets) and, in the last row, gzipped, as a
browser asks for it: Next compresses each page, which costs Node CPU per render too.
The frontend runs on the pinned Node the image ships (tools/node_runtime.py).

    .venv/bin/python bench/frontend_ttfb.py [--requests 400] [--concurrency 8] [--standalone DIR]
        [--compare DIR [--rounds 4]]

--standalone runs another build (say, a copy of .next/standalone from before a change).
--compare runs a second build beside the first, against the same backend and user, and
measures the two in turns (--rounds per page): on a shared, busy machine, builds measured one
after the other see different loads, and turns share the load out between them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tools.* from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

import stack as st

from tools import node_runtime
from tools.stats import percentile

TIME_LIMIT_SECONDS = 120  # per measured phase: the loop stops by itself


def call(port: int, method: str, path: str, body: dict | None = None, cookie: str = "") -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def seed(backend_port: int) -> str:
    """Registers a user with 25 tasks; returns the session cookie ("name=value")."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)
    status, _, _ = call(backend_port, "POST", "/api/v1/auth/register", {"email": email, "password": password})
    assert status == 201, status
    status, headers, _ = call(backend_port, "POST", "/api/v1/auth/login", {"email": email, "password": password})
    assert status == 200, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    priorities = ["low", "medium", "high"]
    for i in range(25):
        task = {"title": f"Bench task {i}", "description": "x" * 40, "priority": priorities[i % 3]}
        status, _, data = call(backend_port, "POST", "/api/v1/tasks", task, cookie)
        assert status == 201, status
        if i % 4 == 0:
            task_id = json.loads(data)["id"]
            call(backend_port, "PATCH", f"/api/v1/tasks/{task_id}", {"completed": True}, cookie)
    return cookie


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to show the cost of one request
    independently of how busy the shared machine is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def measure(
    port: int, path: str, cookie: str, requests: int, concurrency: int, expect: bytes, gzip: bool = False
) -> dict:
    """`requests` GETs spread over `concurrency` keep-alive connections; TTFB = request sent to
    status line and headers received. Returns the raw timings (seconds) for `summarize`.
    gzip: ask for a compressed page as browsers do (Next compresses it: CPU per render goes up)."""
    ttfb: list[float] = []
    full: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(requests))
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    headers = {"Cookie": cookie} if cookie else {}
    if gzip:
        headers["Accept-Encoding"] = "gzip"

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            with lock:
                if next(remaining, None) is None:
                    break
            try:
                start = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                first = time.perf_counter() - start
                body = response.read()
                whole = time.perf_counter() - start
                if response.getheader("Content-Encoding") == "gzip":
                    body = zlib.decompress(body, wbits=31)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            with lock:
                if response.status == 200 and expect in body:
                    ttfb.append(first)
                    full.append(whole)
                else:
                    errors.append(f"HTTP {response.status}")
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"ttfb": ttfb, "full": full, "errors": len(errors), "wall": time.perf_counter() - started}


def summarize(path: str, runs: list[dict]) -> dict:
    """Percentiles over all the runs of one page on one build."""
    ms = sorted(x * 1000 for run in runs for x in run["ttfb"])
    full = sorted(x * 1000 for run in runs for x in run["full"])
    wall = sum(run["wall"] for run in runs)

    def pct(values: list[float], p: float) -> float:
        return percentile(values, p / 100)

    return {
        "path": path,
        "ok": len(ms),
        "errors": sum(run["errors"] for run in runs),
        "p50_ms": pct(ms, 50),
        "p95_ms": pct(ms, 95),
        "p99_ms": pct(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        # Time to the last byte: what streaming would not improve.
        "full_p95_ms": pct(full, 95),
        "req_per_s": len(ms) / wall if wall else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per page measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--standalone", type=Path, help="a built .next/standalone to run instead of this checkout's")
    parser.add_argument(
        "--compare", type=Path, help="a second built .next/standalone, measured in turns with the first"
    )
    parser.add_argument("--rounds", type=int, help="turns per page (default 1, or 4 with --compare)")
    args = parser.parse_args()

    if args.standalone is None:
        st.ensure_frontend_built()
    builds = {"this": args.standalone or st.STANDALONE}
    if args.compare:
        builds["compare"] = args.compare
    rounds = args.rounds or (4 if args.compare else 1)
    db = st.create_database(prefix="todo_bench")
    stack = st.Stack(db=db, auth_secret=secrets.token_urlsafe(32))
    try:
        st.migrate(db, stack.auth_secret)
        backend, backend_url = st.start_backend("bench-backend", db, stack.auth_secret)
        stack.procs.append(backend)
        frontends = {}
        for label, standalone in builds.items():
            frontend, frontend_url = st.start_frontend(f"bench-frontend-{label}", backend_url, standalone.resolve())
            stack.procs.append(frontend)
            frontends[label] = (frontend.popen.pid, int(frontend_url.rsplit(":", 1)[1]))
        cookie = seed(int(backend_url.rsplit(":", 1)[1]))

        cases = [
            ("/healthz", "", b'"ok"', args.requests * 5, False),
            # One list call per render for both; the filtered page's counts and the user's name
            # are fetched by the browser afterwards (not part of this measurement).
            ("/", cookie, b"Bench task 24", args.requests, False),
            ("/?status=pending&q=task", cookie, b"Bench task 23", args.requests, False),
            # What a browser gets: the same page, gzipped by Next (~34 KB -> ~4 KB).
            ("/", cookie, b"Bench task 24", args.requests, True),
        ]
        load_before = os.getloadavg()[0]
        node = node_runtime.bin_dir() / "node"
        node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        print(
            f"frontend TTFB, concurrency {args.concurrency}, loopback"
            f" (node {node_version} server.js + todo-api, 1 worker each)"
        )
        for label, standalone in builds.items():
            print(f"  {label}: {standalone}")
        if args.compare:
            # One build after the other sees another machine load; turns share it out evenly.
            print(f"  builds measured in turns, {rounds} per page")
        print(
            f"{'build':8} {'path':28} {'ok':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            f" {'full p95':>8} {'req/s':>7} {'cpu ms/req node':>16} {'backend':>8}"
        )
        results = []
        for path, cookie_for, expect, n, gzip in cases:
            runs: dict[str, list[dict]] = {label: [] for label in frontends}
            cpu = {label: [0.0, 0.0] for label in frontends}
            for _, port in frontends.values():
                measure(port, path, cookie_for, 40, args.concurrency, expect, gzip)  # warm-up
            for _ in range(rounds):
                for label, (pid, port) in frontends.items():
                    pids = (pid, backend.popen.pid)
                    before = [cpu_seconds(p) for p in pids]
                    runs[label].append(measure(port, path, cookie_for, n // rounds, args.concurrency, expect, gzip))
                    after = [cpu_seconds(p) for p in pids]
                    cpu[label] = [c + a - b for c, a, b in zip(cpu[label], after, before, strict=True)]
            for label in frontends:
                r = {"build": label, **summarize(path + (" (gzip)" if gzip else ""), runs[label])}
                r["node_cpu_ms_per_req"], r["backend_cpu_ms_per_req"] = (1000 * c / max(r["ok"], 1) for c in cpu[label])
                results.append(r)
                print(
                    f"{label:8} {r['path']:28} {r['ok']:>5} {r['errors']:>4} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                    f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['full_p95_ms']:>8.1f} {r['req_per_s']:>7.1f}"
                    f" {r['node_cpu_ms_per_req']:>16.1f} {r['backend_cpu_ms_per_req']:>8.1f}"
                )
        # The machine is shared: the load average says how much the numbers are worth.
        load_after = os.getloadavg()[0]
        print(f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} CPUs")
        out = st.ARTIFACTS / "bench"
        out.mkdir(parents=True, exist_ok=True)
        (out / "frontend_ttfb.json").write_text(json.dumps(results, indent=2))
    finally:
        stack.stop()
        st.drop_database(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
