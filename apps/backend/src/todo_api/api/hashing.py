"""The password hashing queue: argon2 on its own few threads, with a bounded line.

PASSWORD_HASH_CONCURRENCY hashes run at once per process; at most PASSWORD_HASH_QUEUE more
wait for a thread. Anything beyond that is answered 503 with Retry-After at once: a burst
of logins then costs each caller either a short wait or an immediate "try again", never a
place at the back of a line many seconds long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import HTTPException, status

T = TypeVar("T")

RETRY_AFTER_SECONDS = 1


class HashQueue:
    def __init__(self, concurrency: int, max_waiting: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.max_waiting = max_waiting

    @property
    def waiting(self) -> int:
        return self.limiter.statistics().tasks_waiting

    def _full(self) -> bool:
        return self.limiter.available_tokens == 0 and self.waiting >= self.max_waiting

    async def run(self, function: Callable[..., T], *args: object) -> T:
        if self._full():
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The server is busy signing people in. Try again in a moment.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)
