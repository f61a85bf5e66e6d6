"""Where the harness keeps what it downloads and builds: $TODO_CACHE, ~/.cache/todo by default.

Outside the repository, so a fresh clone reuses compiled clusters, base images' downloads and
tool binaries, and `git clean` never throws hours of builds away.

Several processes fill it at once (`make test` compiles in the background while tiers run, and
a tier may ask for the same binary), so every build into it holds `file_lock(<what>)`: the
second process waits, says so, then finds the result cached.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# Locks this process holds: a nested request for one of them (a build step calling another
# that guards itself) goes through instead of waiting on itself.
_held: set[str] = set()


def cache_root() -> Path:
    return Path(os.environ.get("TODO_CACHE") or Path.home() / ".cache" / "todo")


def tools_bin() -> Path:
    """Where pinned tools are linked (helm, kubectl, node, minikube): the Makefile's first PATH entry."""
    return cache_root() / "tools" / "bin"


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Hold $TODO_CACHE/locks/<name>.lock (flock) for the block; re-entrant within a process."""
    if name in _held:
        yield
        return
    lock_dir = cache_root() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[cache] waiting for another process to finish `{name}`", file=sys.stderr, flush=True)
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            print(f"[cache] `{name}` free after {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
        _held.add(name)
        try:
            yield
        finally:
            _held.discard(name)
            fcntl.flock(handle, fcntl.LOCK_UN)
