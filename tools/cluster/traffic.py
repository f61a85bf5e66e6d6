"""Bounded traffic through the local Ingress (127.0.0.1 only) while something happens to the
cluster: signed-in users reading and writing tasks, and visitors loading the frontend.

Every request is recorded (when, what, status or error, latency); every create that got a 201 is
remembered so the test can check afterwards that the database has each one exactly once. The
loops stop on their own after `seconds` or `max_requests`, whichever comes first.
"""

from __future__ import annotations

import secrets
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from tools.stats import percentile

TIMEOUT = 10.0


@dataclass
class Sample:
    started: float
    kind: str
    status: int | None  # None: no HTTP answer (connection error or timeout)
    seconds: float
    error: str = ""
    retry_after: str | None = None


@dataclass
class Traffic:
    base_url: str
    users: int = 3
    visitors: int = 1
    seconds: float = 60.0
    max_requests: int = 20_000
    # Seconds each user waits after a list/create/update round: 0 is a closed loop, as fast as
    # the answers come; more is a steady light load (e.g. one that stays under an HPA's target).
    pause: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    created: dict[str, list[int]] = field(default_factory=dict)  # user email -> task ids that got 201
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        host = urlsplit(self.base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"traffic goes to loopback only, not {host}")

    # --- accounts ---------------------------------------------------------------------

    def sign_up(self) -> list[tuple[str, httpx.Client]]:
        clients = []
        for _ in range(self.users):
            email = f"load-{secrets.token_hex(5)}@example.test"
            password = secrets.token_urlsafe(18)
            client = httpx.Client(base_url=self.base_url, timeout=TIMEOUT, trust_env=False)
            client.post("/api/v1/auth/register", json={"email": email, "password": password}).raise_for_status()
            client.post("/api/v1/auth/login", json={"email": email, "password": password}).raise_for_status()
            self.created[email] = []
            clients.append((email, client))
        return clients

    # --- loops ------------------------------------------------------------------------

    def _record(self, kind: str, started: float, response: httpx.Response | None, error: str = "") -> None:
        with self._lock:
            self._count += 1
            status = response.status_code if response is not None else None
            retry_after = response.headers.get("retry-after") if response is not None else None
            self.samples.append(Sample(started, kind, status, time.monotonic() - started, error, retry_after))
            if self._count >= self.max_requests:
                self._stop.set()

    def _call(self, client: httpx.Client, kind: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        started = time.monotonic()
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self._record(kind, started, None, type(exc).__name__)
            return None
        self._record(kind, started, response)
        return response

    def _user_loop(self, email: str, client: httpx.Client) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            self._call(client, "list", "GET", "/api/v1/tasks")
            created = self._call(client, "create", "POST", "/api/v1/tasks", json={"title": f"load {email} {n}"})
            if created is not None and created.status_code == 201:
                task_id = created.json()["id"]
                with self._lock:
                    self.created[email].append(task_id)
                self._call(client, "update", "PATCH", f"/api/v1/tasks/{task_id}", json={"completed": True})
            if self.pause:
                self._stop.wait(self.pause)

    def _visitor_loop(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=TIMEOUT, trust_env=False) as client:
            while not self._stop.is_set():
                self._call(client, "page", "GET", "/", follow_redirects=False)
                self._call(client, "health", "GET", "/api/v1/health")

    def start(self) -> Traffic:
        self.accounts = self.sign_up()
        for email, client in self.accounts:
            self._threads.append(threading.Thread(target=self._user_loop, args=(email, client), daemon=True))
        for _ in range(self.visitors):
            self._threads.append(threading.Thread(target=self._visitor_loop, daemon=True))
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        # Cancelled by stop(), and a daemon: a pending Timer must not hold the interpreter's
        # exit until `seconds` ran out.
        self._timer = threading.Timer(self.seconds, self._stop.set)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if hasattr(self, "_timer"):
            self._timer.cancel()
        for thread in self._threads:
            thread.join(TIMEOUT * 2)
        self.stopped = time.monotonic()

    # --- results ----------------------------------------------------------------------

    def failures(self) -> list[Sample]:
        """No HTTP answer, or a 5xx. (4xx would be our own bug and is counted separately.)"""
        return [s for s in self.samples if s.status is None or s.status >= 500]

    def unexpected(self) -> list[Sample]:
        expected = {"list": {200}, "create": {201}, "update": {200}, "page": {200, 307}, "health": {200}}
        return [s for s in self.samples if s.status is not None and s.status < 500 and s.status not in expected[s.kind]]

    def summary(self, since: float | None = None, until: float | None = None) -> str:
        window = [
            s for s in self.samples if (since is None or s.started >= since) and (until is None or s.started < until)
        ]
        if not window:
            return "no requests"
        latencies = [s.seconds * 1000 for s in window]

        # A 5xx with Retry-After is the app's own answer; without, it came from the Ingress.
        statuses = Counter(
            f"{s.status} Retry-After" if s.status and s.retry_after else str(s.status or s.error) for s in window
        )
        return (
            f"{len(window)} requests, statuses {dict(sorted(statuses.items()))}, "
            f"p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
            f"p99 {percentile(latencies, 0.99):.0f} ms"
        )

    def close(self) -> None:
        for _, client in getattr(self, "accounts", []):
            client.close()
