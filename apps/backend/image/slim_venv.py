"""Shrink the image's venv. apps/backend/Dockerfile runs this in its build stage, with the venv's
own python, after installing without bytecode (pip --no-compile):

    python slim_venv.py trim /opt/venv      # after the dependencies: steps 1 and 2
    python slim_venv.py compile /opt/venv   # after the app itself: step 3

Two steps so that the dependency layer, which code edits do not invalidate, is already trimmed.

1. Extension modules lose their debug info (strip --strip-debug, binutils in the build stage
   only): uvloop alone carries 10 MB of it, SQLAlchemy's Cython modules and httptools most of
   theirs. Only files with .debug_* sections are touched, so the libraries auditwheel
   vendored into *.libs (already stripped, and patched with patchelf, which strip can break)
   stay byte for byte as shipped.
2. Type stubs (*.pyi) go: nothing reads them at run time.
3. Bytecode for what runs, not for everything installed. The root filesystem is read-only,
   so a module without a .pyc is compiled in memory on every start; so every module that
   `todo-api serve` and `todo-api migrate` load gets one (recorded while the server,
   run here in-process, answers a few requests, and while the migration modules are imported),
   as does all of todo_api (alembic loads the migrations by path). Modules the
   app never imports (other SQL dialects, pydantic.v1, test helpers) stay source only: about
   half of what compileall would write. tests/images checks that serving and migrating
   compile nothing at run time.
"""

from __future__ import annotations

import compileall
import http.client
import importlib
import importlib.machinery
import os
import py_compile
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# What the migration runner imports once it has a connection (nothing connects here, so these
# are imported by name); serving is exercised for real below.
MIGRATION_MODULES = (
    "todo_api.cli",
    "todo_api.migrate",
    "alembic.command",
    "alembic.context",
    "alembic.op",
    "alembic.runtime.environment",
    "alembic.runtime.migration",
    "alembic.ddl.postgresql",
    "alembic.autogenerate",
    "sqlalchemy.dialects.postgresql.psycopg",
    "uvicorn.supervisors.multiprocess",
)
# Bytecode that needs no source timestamp: the image's sources never change, and a .pyc stays
# valid whatever happens to the files' mtimes on the way into a cluster's image store.
INVALIDATION = py_compile.PycInvalidationMode.UNCHECKED_HASH


def strip_debug_info(site_packages: Path) -> int:
    """Strip debug sections from extension modules that have them; returns bytes saved."""
    saved = 0
    for path in sorted(site_packages.rglob("*.so")):
        if any(part.endswith(".libs") for part in path.relative_to(site_packages).parts):
            continue
        sections = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True, check=True).stdout
        if " .debug_" not in sections:
            continue
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-debug", path], check=True)
        saved += before - path.stat().st_size
    return saved


def remove_stubs(site_packages: Path) -> None:
    for path in site_packages.rglob("*.pyi"):
        path.unlink()


def record_compiled_sources() -> set[str]:
    """Every source file the interpreter compiles from now on (with no .pyc anywhere yet, that
    is every module imported, including those whose import then fails, like optional extras)."""
    compiled: set[str] = set()
    loader = importlib.machinery.SourceFileLoader
    original = loader.source_to_code

    def source_to_code(self, data, path, *args, **kwargs):
        compiled.add(str(path))
        return original(self, data, path, *args, **kwargs)

    loader.source_to_code = source_to_code
    return compiled


def serve_requests() -> None:
    """Run the server as `todo-api serve` does (uvicorn, the app factory) and send it requests."""
    # Only to pass settings validation: nothing listens at this address, and the secret is
    # generated and forgotten.
    os.environ.setdefault("DATABASE_URL", "postgresql://build@127.0.0.1:1/build")
    os.environ.setdefault("AUTH_SECRET", secrets.token_urlsafe(32))
    import uvicorn

    config = uvicorn.Config("todo_api.main:create_app", factory=True, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("slim_venv: the server did not start")
            time.sleep(0.05)
        # 200, 503 (no database), 422: the paths a request, its errors and validation take.
        for method, path, body in (
            ("GET", "health", None),
            ("GET", "health/ready", None),
            ("POST", "auth/login", "{}"),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, f"/api/v1/{path}", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            conn.close()
        server.should_exit = True
        thread.join(60)


def compile_recorded(venv: Path, sources: set[str]) -> int:
    prefix = str(venv.resolve()) + os.sep
    mine = sorted(path for path in sources if os.path.realpath(path).startswith(prefix))
    for source in mine:
        py_compile.compile(source, doraise=True, invalidation_mode=INVALIDATION)
    return len(mine)


def trim(site_packages: Path) -> None:
    saved = strip_debug_info(site_packages)
    remove_stubs(site_packages)
    print(f"slim_venv: stripped {saved / 1e6:.1f} MB of debug info")


def compile_runtime(venv: Path) -> None:
    sources = record_compiled_sources()
    for name in MIGRATION_MODULES:
        importlib.import_module(name)
    serve_requests()
    count = compile_recorded(venv, sources)
    import todo_api

    package = Path(todo_api.__file__).parent
    if not compileall.compile_dir(package, quiet=1, invalidation_mode=INVALIDATION):
        raise SystemExit(f"compiling {package} failed")
    print(f"slim_venv: compiled {count} modules and all of todo_api")


def main(step: str, venv: Path) -> None:
    if step == "trim":
        site_packages = Path(next(p for p in sys.path if p.startswith(str(venv)) and p.endswith("site-packages")))
        trim(site_packages)
    elif step == "compile":
        compile_runtime(venv)
    else:
        raise SystemExit(f"usage: slim_venv.py trim|compile VENV (not {step!r})")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
