"""The todo-backend image, built from apps/backend/Dockerfile on the local Python base and run
for real: `todo-api migrate`, then the server against the local PostgreSQL (host network,
a role with a generated password), read-only root filesystem with only /tmp writable, as a
non-root uid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests
from psycopg import sql

from tools.docker import containers, engine

REPO = Path(__file__).resolve().parents[2]
CONTEXT = REPO / "apps" / "backend"
TAG = "todo-backend:images-test"
ADMIN_URL = os.environ.get("TODO_TEST_PG_ADMIN_URL", "postgresql:///postgres")
READ_ONLY = {"read_only": True, "tmpfs": ["/tmp"]}


@pytest.fixture(scope="module")
def image(base_images: dict[str, str]) -> Iterator[str]:
    engine.docker_build(CONTEXT, None, TAG, {"PYTHON_IMAGE": base_images["python"]})
    size = engine.image_size(TAG)
    print(f"\n{TAG}: {size / 1e6:.1f} MB (base {engine.image_size(base_images['python']) / 1e6:.1f} MB)")
    yield TAG
    engine.docker("image", "rm", TAG, check=False)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A throwaway database owned by a role with a generated password, reached over TCP."""
    suffix = secrets.token_hex(4)
    name = role = f"todo_img_{suffix}"
    password = secrets.token_urlsafe(24)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        port = conn.execute("SHOW port").fetchone()[0]
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    try:
        yield f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{port}/{name}?sslmode=prefer"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _run_once(image: str, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """docker run --rm, host network, read-only root; env travels by name, not in argv."""
    args = ["run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp"]
    for key in env:
        args += ["--env", key]
    return engine.docker(*args, image, *command, env={**os.environ, **env}, check=False, timeout=180)


def _request(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with requests.Session() as session:
        session.trust_env = False  # loopback: never through a proxy
        response = session.request(method, url, json=body, headers=headers, timeout=10)
    return response.status_code, response.json()


def test_image_metadata(image: str) -> None:
    config = json.loads(engine.docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["User"] == "10001:10001"
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["todo-api", "serve"]
    # Only the runtime venv was copied: no pip or build backend inside it.
    listing = engine.docker("run", "--rm", image, "ls", "/opt/venv/bin").stdout.split()
    assert "todo-api" in listing and "pip" not in listing
    assert engine.image_size(image) < 450e6


def test_migrate_then_serve_read_only_as_non_root(image: str, database_url: str, run_container) -> None:
    migrate = _run_once(image, ["todo-api", "migrate"], {"DATABASE_URL": database_url})
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    auth_secret = secrets.token_urlsafe(32)
    port = _free_port()
    api = run_container(
        image,
        ["todo-api", "serve", "--port", str(port)],  # the default CMD, on a free host port
        env={"DATABASE_URL": database_url, "AUTH_SECRET": auth_secret, "WEB_CONCURRENCY": "2"},
        network="host",
        **READ_ONLY,
    )
    base = f"http://127.0.0.1:{port}"
    containers.wait_http(f"{base}/api/v1/health", timeout=90, container=api)
    assert json.loads(containers.wait_http(f"{base}/api/v1/health/ready", timeout=30, container=api)) == {
        "status": "ok",
        "database": "ok",
    }

    # A real write path through the container (the schema came from `todo-api migrate`).
    creds = {"email": f"img-{secrets.token_hex(3)}@example.com", "password": secrets.token_urlsafe(12)}
    assert _request("POST", f"{base}/api/v1/auth/register", creds)[0] == 201
    status, login = _request("POST", f"{base}/api/v1/auth/login", {**creds, "session": "bearer"})
    assert status == 200
    status, task = _request("POST", f"{base}/api/v1/tasks", {"title": "from the image"}, login["access_token"])
    assert status == 201 and task["title"] == "from the image"

    # Every process of the server runs as 10001, none as root.
    top = engine.docker("top", api.id, "-eo", "pid,uid,gid,args").stdout.splitlines()[1:]
    assert top and all(line.split()[1:3] == ["10001", "10001"] for line in top), top
    assert len([line for line in top if "todo-api" in line or "multiprocessing" in line]) >= 3

    # The root filesystem really is read-only, and /tmp is writable.
    probe = api.exec("sh", "-c", "touch /opt/venv/x 2>&1; touch /tmp/x && echo tmp-ok", check=False)
    assert "Read-only file system" in probe.stdout and "tmp-ok" in probe.stdout

    # SIGTERM (what Kubernetes sends) stops it cleanly and quickly, without the SIGKILL fallback.
    started = time.monotonic()
    engine.docker("stop", "--time", "25", api.id, timeout=60)
    assert time.monotonic() - started < 15
    state = json.loads(engine.docker("inspect", "--format", "{{json .State}}", api.id).stdout)
    assert state["ExitCode"] == 0, api.logs()

    logs = api.logs()
    password = database_url.split(":")[2].split("@")[0]
    assert auth_secret not in logs and password not in logs
    assert any(line.startswith("{") and '"todo-api started"' in line for line in logs.splitlines())
    assert any('"todo-api stopped"' in line for line in logs.splitlines())


# Section names of every extension module under /opt/venv (the vendored *.libs aside), read in
# the container: the runtime image has no binutils. ELF64 little-endian, as on amd64 and arm64.
_ELF_SECTIONS = """
import json, pathlib, struct
found = {}
for path in pathlib.Path('/opt/venv').rglob('*.so'):
    if any(part.endswith('.libs') for part in path.parts):
        continue
    data = path.read_bytes()
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    headers = [data[shoff + i * shentsize: shoff + (i + 1) * shentsize] for i in range(shnum)]
    strtab_offset, = struct.unpack_from('<Q', headers[shstrndx], 0x18)
    names = []
    for header in headers:
        start = strtab_offset + struct.unpack_from('<I', header, 0)[0]
        names.append(data[start:data.index(b'\\0', start)].decode())
    found[str(path)] = names
print(json.dumps(found))
"""


def test_extension_modules_carry_no_debug_info(image: str) -> None:
    sections = json.loads(engine.docker("run", "--rm", image, "python3", "-c", _ELF_SECTIONS).stdout)
    assert any("/uvloop/" in path for path in sections), sorted(sections)
    assert all(".text" in names for names in sections.values()), "the section parser is off"
    with_debug = sorted(path for path, names in sections.items() if any(n.startswith(".debug_") for n in names))
    assert with_debug == []


def _compiled_from_source(verbose_output: str) -> list[str]:
    """Modules under /opt/venv that `python -v` reports compiling from source (a .pyc it used
    is reported as "code object from '<path>.pyc'", quoted)."""
    return sorted(
        {line.split()[-1] for line in verbose_output.splitlines() if line.startswith("# code object from /opt/venv/")}
    )


def test_migrate_and_serve_compile_no_module_at_run_time(image: str, database_url: str, run_container) -> None:
    # Read-only root: a module without bytecode in the image is compiled again at every start.
    migrate = _run_once(image, ["todo-api", "migrate"], {"DATABASE_URL": database_url, "PYTHONVERBOSE": "1"})
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    assert "code object from '/opt/venv/" in migrate.stderr, "python -v output changed; this check sees nothing"
    assert _compiled_from_source(migrate.stderr) == []

    port = _free_port()
    api = run_container(
        image,
        ["todo-api", "serve", "--port", str(port)],
        env={
            "DATABASE_URL": database_url,
            "AUTH_SECRET": secrets.token_urlsafe(32),
            "WEB_CONCURRENCY": "2",
            "PYTHONVERBOSE": "1",
        },
        network="host",
        **READ_ONLY,
    )
    base = f"http://127.0.0.1:{port}"
    containers.wait_http(f"{base}/api/v1/health/ready", timeout=90, container=api)
    creds = {"email": f"pyc-{secrets.token_hex(3)}@example.com", "password": secrets.token_urlsafe(12)}
    assert _request("POST", f"{base}/api/v1/auth/register", creds)[0] == 201
    status, login = _request("POST", f"{base}/api/v1/auth/login", {**creds, "session": "bearer"})
    assert status == 200
    assert _request("POST", f"{base}/api/v1/tasks", {"title": ""}, login["access_token"])[0] == 422
    assert _request("GET", f"{base}/api/v1/tasks", None, login["access_token"])[0] == 200
    engine.docker("stop", "--time", "25", api.id, timeout=60)
    assert _compiled_from_source(api.logs()) == []


def _layers(tag: str) -> list[str]:
    return json.loads(engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", tag).stdout)


@pytest.mark.parametrize("legacy", [False, True], ids=["buildkit", "classic"])
def test_a_code_edit_rebuilds_only_the_app_layer(legacy: bool, base_images: dict[str, str], tmp_path: Path) -> None:
    # The images role builds with the classic builder, tests/images with BuildKit: both reuse
    # the dependency layer, so a code edit ships only the small layer with todo_api.
    context = tmp_path / "backend"
    shutil.copytree(CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__", "tests", ".venv"))
    args = {"PYTHON_IMAGE": base_images["python"]}
    tags = [f"{TAG}-layers-{'classic' if legacy else 'buildkit'}-{n}" for n in (1, 2)]
    try:
        engine.docker_build(context, None, tags[0], args, legacy=legacy)
        with open(context / "src" / "todo_api" / "main.py", "a") as handle:
            handle.write(f"# a one-line edit {secrets.token_hex(4)}\n")
        engine.docker_build(context, None, tags[1], args, legacy=legacy)
        before, after = _layers(tags[0]), _layers(tags[1])
    finally:
        engine.docker("image", "rm", *tags, check=False)
    base = len(_layers(base_images["python"]))
    # Layers after the base's: 0 the app user, 1 the dependencies' venv, 2 the app itself
    # (then possibly an empty one, from WORKDIR). Only 2 may differ.
    assert len(before) == len(after) > base + 2
    changed = [index - base for index, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    assert changed == [2]


def test_config_error_is_one_line_in_the_container(image: str) -> None:
    result = _run_once(image, ["todo-api", "serve"], {})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "todo-api: configuration error: DATABASE_URL is not set; AUTH_SECRET is not set"
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
