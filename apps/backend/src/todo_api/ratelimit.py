"""Token buckets per key, in process memory.

Each worker process keeps its own buckets, so with N processes (replicas x WEB_CONCURRENCY)
a client gets up to N times the configured rate: the limits bound the damage one client can
do cheaply, they are not a quota. Only the event loop calls these (no lock needed).

The table holds at most `max_keys` buckets, and a flood of new keys cannot push out a bucket
that still means something: only buckets untouched for a whole window (refilled, so the same
as no bucket) are dropped to make room. While the table is full of live buckets, new keys
share one overflow bucket: a sweep of fresh addresses throttles itself, not its victims.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 10_000
OVERFLOW_KEY = "\x00overflow"  # no real key holds a NUL (addresses, emails, ids)


class RateLimiter:
    """`limit` events per `window` seconds and key, in bursts of up to `limit`; 0 = no limit."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.rate = limit / window if limit else 0.0
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens, when counted); least recently spent first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (float(self.limit), now))
        return min(float(self.limit), tokens + (now - then) * self.rate)

    def _room_for(self, key: str, now: float) -> str:
        """`key` if it has (or can get) a bucket, else the shared overflow bucket's key."""
        if key in self._buckets or len(self._buckets) < self.max_keys:
            return key
        # Least recently spent first: everything idle for a window is full, i.e. forgettable.
        while self._buckets:
            oldest, (_, then) = next(iter(self._buckets.items()))
            if now - then < self.window:
                break
            del self._buckets[oldest]
        return key if len(self._buckets) < self.max_keys else OVERFLOW_KEY

    def take(self, key: str) -> int:
        """Spends one event; 0 if allowed, else the whole seconds until one is (nothing spent)."""
        if not self.limit:
            return 0
        now = self._clock()
        key = self._room_for(key, now)
        tokens = self._tokens(key, now)
        if tokens < 1:
            return max(1, math.ceil((1 - tokens) / self.rate))
        self._buckets[key] = (tokens - 1, now)
        self._buckets.move_to_end(key)
        return 0

    def refund(self, key: str) -> None:
        """Gives back one event (e.g. a successful login does not count against the account)."""
        if self.limit and key in self._buckets:
            now = self._clock()
            self._buckets[key] = (min(float(self.limit), self._tokens(key, now) + 1), now)
