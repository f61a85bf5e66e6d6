"""Start `todo-api serve` (the image's command line) on a loopback port and wait until it answers.

Shared by the backend tests that need the real production server and by bench/backend_load.py.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

HOST = "127.0.0.1"


def serve_argv(port: int) -> list[str]:
    """`todo-api serve` from this interpreter's environment, on a loopback port."""
    return [sys.executable, "-m", "todo_api.cli", "serve", "--host", HOST, "--port", str(port)]


def wait_until_serving(proc: subprocess.Popen, base: str, path: str = "/api/v1/health", timeout: float = 30) -> None:
    """Polls base+path until it answers 200; fails early, with the server's output if piped,
    when the process exits first."""
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False) as client:
        while True:
            try:
                if client.get(f"{base}{path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"todo-api serve exited with {proc.returncode} before serving\n{output}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"todo-api serve did not answer 200 on {path} within {timeout:.0f} s")
            time.sleep(0.2)
