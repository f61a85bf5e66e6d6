"""Shrink the image's venv. apps/backend/Dockerfile runs this in its build stage, with the venv's
own python, after installing without bytecode (pip --no-compile):

    python slim_venv.py trim /opt/venv             # after the dependencies: steps 1, 2, 3a
    python slim_venv.py compile /opt/venv          # after the app itself: step 3b
    python slim_venv.py split /opt/venv /opt/app   # step 4

Separate steps so that the dependency layer, which code edits do not invalidate, is trimmed
in place.

1. Extension modules lose their debug info (strip --strip-debug, binutils in the build stage
   only): uvloop alone carries 10 MB of it, SQLAlchemy's Cython modules and httptools most of
   theirs. Only files with .debug_* sections are touched, so the libraries auditwheel
   vendored into *.libs (already stripped, and patched with patchelf, which strip can break)
   stay byte for byte as shipped.
2. Type stubs (*.pyi) go: nothing reads them at run time.
3. Bytecode for what runs, not for everything installed. The root filesystem is read-only,
   so a module without a .pyc is compiled in memory on every start. (a) `trim` compiles every
   dependency, in the dependency layer, so the next step imports quickly; (b) `compile`
   records what `todo-api serve` and `todo-api migrate` load (the server runs here in-process
   and answers a few requests; the migration modules are imported), compiles all of todo_api
   (alembic loads the migrations by path) and deletes the other dependencies' bytecode: other
   SQL dialects, pydantic.v1, test helpers stay source only, about half of what compileall
   writes. tests/images checks that serving and migrating compile nothing at run time.
4. The app's own files move out of the venv (to /opt/app/opt/venv/...), so the runtime image
   has the dependencies and the app as two layers: a code edit rebuilds and ships only the
   small one (tests/images checks this too).
"""

from __future__ import annotations

import http.client
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
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
INVALIDATION = "unchecked-hash"


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


def record_loaded_sources() -> set[str]:
    """Every source module the interpreter loads from now on, from bytecode or not, including
    those whose import then fails (optional extras a library tries)."""
    loaded: set[str] = set()
    loader = importlib.machinery.SourceFileLoader
    original = loader.get_code

    def get_code(self, fullname):
        loaded.add(os.path.realpath(self.path))
        return original(self, fullname)

    loader.get_code = get_code
    return loaded


def prune_bytecode(site_packages: Path, keep: set[str]) -> int:
    """Delete the .pyc files whose source is not in `keep`; returns how many are left."""
    left = 0
    for pyc in sorted(site_packages.rglob("*.pyc")):
        if os.path.realpath(importlib.util.source_from_cache(pyc)) in keep:
            left += 1
        else:
            pyc.unlink()
    for cache in sorted(site_packages.rglob("__pycache__"), reverse=True):
        if not any(cache.iterdir()):
            cache.rmdir()
    return left


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


def compile_files(paths: list[str]) -> None:
    """Bytecode for `paths` (files, or directories in full), written by a fresh interpreter, so
    it depends only on the sources."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(paths) + "\n")
        listing.flush()
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", INVALIDATION, "-i", listing.name],
            check=True,
        )


def trim(site_packages: Path) -> None:
    saved = strip_debug_info(site_packages)
    remove_stubs(site_packages)
    # Bytecode for everything for now (imports in the compile step are then quick); that step
    # deletes what the app does not load.
    compile_files([str(site_packages)])
    print(f"slim_venv: stripped {saved / 1e6:.1f} MB of debug info")


def compile_runtime(venv: Path) -> None:
    loaded = record_loaded_sources()
    for name in MIGRATION_MODULES:
        importlib.import_module(name)
    serve_requests()
    import todo_api

    package = Path(todo_api.__file__).parent
    compile_files([str(package)])
    site_packages = package.parent
    kept = prune_bytecode(site_packages, loaded | {os.path.realpath(p) for p in package.rglob("*.py")})
    print(f"slim_venv: bytecode kept for {kept} modules (all of todo_api and what serve and migrate load)")


def split_app(dest: Path) -> None:
    """Move the todo-api distribution's files (package, metadata, console script) to the same
    paths under `dest`; the runtime stage copies them as a layer of their own."""
    dist = importlib.metadata.distribution("todo-api")
    site_packages = Path(os.path.normpath(dist.locate_file("")))
    moving = set()
    for file in dist.files or ():
        path = Path(os.path.normpath(dist.locate_file(file)))
        if path.is_relative_to(site_packages):
            # The whole top-level directory, so the bytecode written after the install goes too.
            path = site_packages / path.relative_to(site_packages).parts[0]
        moving.add(path)
    for path in sorted(moving):
        target = dest / path.relative_to(path.anchor)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    print(f"slim_venv: moved {len(moving)} paths of todo-api to {dest}")


def main(step: str, venv: Path, *rest: str) -> None:
    if step == "trim":
        site_packages = Path(next(p for p in sys.path if p.startswith(str(venv)) and p.endswith("site-packages")))
        trim(site_packages)
    elif step == "compile":
        compile_runtime(venv)
    elif step == "split" and len(rest) == 1:
        split_app(Path(rest[0]))
    else:
        raise SystemExit(f"usage: slim_venv.py trim|compile VENV, or split VENV DEST (not {step!r})")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:])
