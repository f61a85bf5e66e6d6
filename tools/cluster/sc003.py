"""SC-003 through the real Ingress: p50/p95 of `/api/v1/health` and of the signed-in task page
at a fixed concurrency, from one fresh user with 25 tasks. bench/sc003_pod_vs_host.py measures
each path at its own concurrency (and the task list API too) with `signed_in_cookies` and
`measure_path`.

The numbers are reported, not asserted against a time (bench/ owns targets); callers assert only
what must hold on any machine: every request answered 200, and each path measured at all.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from tools.stats import percentile

PATHS = (("GET /api/v1/health", "/api/v1/health"), ("signed-in task page", "/"))
# The list the page renders, as the API answers it (the default limit of 50 returns all 25).
TASK_LIST = ("task list API (25)", "/api/v1/tasks")
MAX_SAMPLES = 50_000


@dataclass
class PathLatency:
    label: str
    concurrency: int
    seconds: float
    latencies_ms: list[float]
    non_200: int

    def line(self) -> str:
        return (
            f"{self.label:<22} c={self.concurrency}: {len(self.latencies_ms) / self.seconds:6.0f} req/s, "
            f"p50 {percentile(self.latencies_ms, 0.5):6.1f} ms, "
            f"p95 {percentile(self.latencies_ms, 0.95):6.1f} ms, non-200 {self.non_200}"
        )


def signed_in_cookies(base_url: str) -> dict[str, str]:
    email, password = f"sc003-{secrets.token_hex(4)}@example.test", secrets.token_urlsafe(16)
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        client.post("/api/v1/auth/register", json={"email": email, "password": password}).raise_for_status()
        client.post("/api/v1/auth/login", json={"email": email, "password": password}).raise_for_status()
        for n in range(25):
            client.post("/api/v1/tasks", json={"title": f"task {n}"}).raise_for_status()
        return dict(client.cookies)


def measure_path(
    base_url: str,
    cookies: dict[str, str],
    label: str,
    path: str,
    concurrency: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> PathLatency:
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(_: int) -> int:
        failed = 0
        with httpx.Client(base_url=base_url, timeout=10, trust_env=False, cookies=cookies, headers=headers) as client:
            while time.monotonic() < deadline and len(latencies) < MAX_SAMPLES:
                started = time.monotonic()
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError:
                    status = None
                with lock:
                    latencies.append((time.monotonic() - started) * 1000)
                failed += status != 200
        return failed

    with ThreadPoolExecutor(concurrency) as pool:
        non_200 = sum(pool.map(worker, range(concurrency)))
    return PathLatency(label, concurrency, seconds, latencies, non_200)


def measure(base_url: str, concurrency: int = 16, seconds: float = 10) -> list[PathLatency]:
    cookies = signed_in_cookies(base_url)
    return [measure_path(base_url, cookies, label, path, concurrency, seconds) for label, path in PATHS]


def report(results: list[PathLatency]) -> str:
    return f"SC-003 through the Ingress (load {os.getloadavg()[0]:.1f}):\n" + "\n".join(r.line() for r in results)
