"""Readiness fails from the moment the server is told to stop.

uvicorn answers SIGTERM by closing its listener and draining in-flight requests; until the
process is gone, kubelet's readiness probe would still find a healthy app behind an open
connection. Chaining onto uvicorn's own SIGTERM/SIGINT handler (installed before the app's
lifespan starts, in every worker process) marks the app as stopping first, so readiness
answers 503 while the drain runs, and the pod leaves the Service's endpoints even where no
preStop hook delays the signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("todo_api.shutdown")


def watch_for_shutdown(stopping: threading.Event) -> bool:
    """Set `stopping` when SIGTERM/SIGINT arrive, then let the server's handler run.
    Returns False where signals cannot be watched (not the main thread, e.g. a test client)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: FrameType | None, previous=previous) -> None:
            if not stopping.is_set():
                log.info("shutdown started: readiness now fails", extra={"signal": signal.Signals(sig).name})
            stopping.set()
            if callable(previous):
                previous(sig, frame)
            else:  # not under a server that handles it: behave as if we were never here
                signal.signal(sig, previous)
                signal.raise_signal(sig)

        signal.signal(signum, handler)
    return True
