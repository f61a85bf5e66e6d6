"""The real application on this machine, for the browser tests and the frontend bench:
a throwaway PostgreSQL database, `todo-api migrate` + `todo-api serve`, the built
standalone frontend (`node .next/standalone/server.js`) and the Ingress-like proxy.

Every process is started here, bound to 127.0.0.1 on a free port, logs to a file under
test-artifacts/e2e/logs, and is stopped by its own pid.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools import node_runtime

REPO = Path(__file__).resolve().parents[2]
FRONTEND_DIR = REPO / "apps" / "frontend"
STANDALONE = FRONTEND_DIR / ".next" / "standalone"
BUILD_STAMP = STANDALONE / ".source-hash"
ARTIFACTS = Path(os.environ.get("ARTIFACTS", REPO / "test-artifacts"))
if not ARTIFACTS.is_absolute():
    ARTIFACTS = REPO / ARTIFACTS
E2E_ARTIFACTS = ARTIFACTS / "e2e"
LOGS = E2E_ARTIFACTS / "logs"
VENV_BIN = Path(sys.executable).parent
FAKE_OPENAI = REPO / "apps" / "backend" / "tests" / "fake_openai.py"

# Inputs of `next build`: a change to any of them makes the standalone bundle stale.
BUILD_INPUTS = ["src", "next.config.ts", "package.json", "package-lock.json", "tsconfig.json", "scripts", "public"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Polls url until it answers 2xx; fails early (with the log tail) if proc exits."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http://127.0.0.1 only)
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})\n{tail(log)}")


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO) -> Proc:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    handle = log.open("w")
    popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle.close()
    return Proc(name, popen, log)


def base_env(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "TMPDIR", "TODO_CACHE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    # npm, next and server.js run on the Node the image ships, not on the host's node: a child
    # started with this env finds its executable on this PATH (subprocess searches env's PATH).
    return node_runtime.with_node_on_path(env)


# ---------------------------------------------------------------- PostgreSQL


# Throwaway databases, shared with the backend tests.
from tools.postgres import Database, create_database, drop_database  # noqa: E402, F401

# ---------------------------------------------------------------- backend


def todo_api() -> str:
    found = VENV_BIN / "todo-api"
    if found.exists():
        return str(found)
    which = shutil.which("todo-api")
    if not which:
        raise RuntimeError("todo-api not found: install apps/backend into the venv (make venv)")
    return which


def backend_env(db: Database, auth_secret: str, **extra: str) -> dict[str, str]:
    values = {
        "DATABASE_URL": db.url,
        "AUTH_SECRET": auth_secret,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "warning",
        "OPENAI_API_KEY": "",
    }
    values.update(extra)
    return base_env(**values)


def run_logged(argv: list[str], log_name: str, *, timeout: float, **kwargs) -> None:
    """Run a build step to completion; its output goes to the e2e logs and, on failure, into the error."""
    LOGS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    (LOGS / log_name).write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{tail}")


def migrate(db: Database, auth_secret: str) -> None:
    run_logged([todo_api(), "migrate", "--wait", "20"], "migrate.log", env=backend_env(db, auth_secret), timeout=120)


def start_backend(name: str, db: Database, auth_secret: str, **extra: str) -> tuple[Proc, str]:
    port = free_port()
    argv = [todo_api(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = start(name, argv, backend_env(db, auth_secret, **extra))
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/health/ready", timeout=60, proc=proc.popen, log=proc.log)
    return proc, url


def start_fake_openai() -> tuple[Proc, str, str]:
    key = secrets.token_urlsafe(16)
    port = free_port()
    proc = start("fake-openai", [sys.executable, str(FAKE_OPENAI), "--port", str(port), "--api-key", key], base_env())
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, base_url, key
        except OSError:
            if proc.popen.poll() is not None:
                break
            time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"fake OpenAI server did not start\n{tail(proc.log)}")


# ---------------------------------------------------------------- frontend


def source_hash() -> str:
    digest = hashlib.sha256()
    for item in BUILD_INPUTS:
        path = FRONTEND_DIR / item
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for f in files:
            digest.update(str(f.relative_to(FRONTEND_DIR)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def ensure_frontend_built() -> None:
    """Builds the standalone bundle unless one from the same sources is already there."""
    wanted = source_hash()
    if (STANDALONE / "server.js").exists() and BUILD_STAMP.exists() and BUILD_STAMP.read_text() == wanted:
        return
    if not (FRONTEND_DIR / "node_modules").exists():
        npm_ci = ["npm", "ci", "--no-audit", "--no-fund"]
        subprocess.run(npm_ci, cwd=FRONTEND_DIR, env=base_env(), check=True, timeout=600)
    build = ["nice", "npm", "run", "build"]
    run_logged(build, "next-build.log", cwd=FRONTEND_DIR, env=base_env(NEXT_TELEMETRY_DISABLED="1"), timeout=900)
    BUILD_STAMP.write_text(wanted)


def start_frontend(name: str, api_base_url: str, standalone: Path = STANDALONE, **extra: str) -> tuple[Proc, str]:
    port = free_port()
    env = base_env(
        NODE_ENV="production",
        PORT=str(port),
        HOSTNAME="127.0.0.1",
        API_BASE_URL=api_base_url,
        NEXT_TELEMETRY_DISABLED="1",
        **extra,
    )
    proc = start(name, ["node", str(standalone / "server.js")], env, cwd=standalone)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", timeout=60, proc=proc.popen, log=proc.log)
    return proc, url


# ---------------------------------------------------------------- the whole stack


@dataclass
class Urls:
    app: str  # proxy: frontend + backend with the (fake) assistant
    app_no_assistant: str  # proxy: frontend + a backend without OPENAI_API_KEY
    api_down: str  # proxy: frontend + nothing behind /api
    all_down: str  # proxy: a frontend whose API_BASE_URL goes nowhere
    backend: str
    fake_openai: str


@dataclass
class Stack:
    """Backend(s) on one database, the frontend, and proxies in front of them."""

    db: Database
    auth_secret: str
    procs: list[Proc] = field(default_factory=list)
    proxies: list = field(default_factory=list)

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
        for proc in reversed(self.procs):
            proc.stop()
