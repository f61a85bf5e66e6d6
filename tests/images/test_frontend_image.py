"""The todo-frontend image: built from apps/frontend/Dockerfile on the local Node base, run the
way the chart runs it (read-only root filesystem, writable /tmp and /app/.next/cache, non-root).

Real Docker; no stand-ins. The app's behaviour against a real backend is covered by tests/e2e.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import pytest

from tools.docker import containers, engine
from tools.node_runtime import NODE_VERSION

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "apps" / "frontend"
TAG = "todo-frontend:test"
ARTIFACTS = Path(os.environ.get("ARTIFACTS", REPO / "test-artifacts"))
if not ARTIFACTS.is_absolute():
    ARTIFACTS = REPO / ARTIFACTS


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """One GET without following redirects (the redirect itself is what we check)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode("utf-8", errors="replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


@pytest.fixture(scope="module")
def frontend_image(base_images: dict[str, str]) -> str:
    start = time.monotonic()
    engine.docker_build(FRONTEND, None, TAG, {"NODE_IMAGE": base_images["node"]})
    seconds = time.monotonic() - start
    size = engine.image_size(TAG)
    report = {"tag": TAG, "base": base_images["node"], "build_seconds": round(seconds, 1), "size_bytes": size}
    (ARTIFACTS / "images").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "images" / "frontend-image.json").write_text(json.dumps(report, indent=2))
    print(f"\n{TAG}: built in {seconds:.1f}s, {size / 1e6:.0f} MB")
    return TAG


@pytest.fixture(scope="module")
def image_built_beside_env_files(base_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """The image built from a copy of apps/frontend that also holds a developer's .env files,
    each with a value generated here. Returns (tag, value). With the allowlist the context is
    the same as the real one, so the build is a cache hit."""
    context = tmp_path_factory.mktemp("frontend-context") / "frontend"
    shutil.copytree(FRONTEND, context, ignore=shutil.ignore_patterns("node_modules", ".next", "test-artifacts"))
    value = secrets.token_hex(16)
    for name in (".env", ".env.local", ".env.production", ".env.production.local"):
        (context / name).write_text(f"TODO_PROBE_VALUE={value}\nNEXT_PUBLIC_TODO_PROBE={value}\n")
    tag = f"{TAG}-env-files"
    engine.docker_build(context, None, tag, {"NODE_IMAGE": base_images["node"]})
    yield tag, value
    engine.docker("image", "rm", "--force", tag, check=False)


@pytest.fixture(scope="module")
def frontend(frontend_image: str, docker_daemon: None):
    # Nothing listens at API_BASE_URL: the image must still start, stay healthy and explain.
    container = containers.docker_run_detached(
        frontend_image,
        env={"API_BASE_URL": "http://127.0.0.1:9"},
        ports=[3000],
        read_only=True,
        # The chart's emptyDirs; Docker gives each tmpfs the mode of the directory it covers.
        tmpfs=["/tmp", "/app/.next/cache"],
        extra_args=["--cap-drop=ALL", "--security-opt=no-new-privileges"],
    )
    try:
        port = container.port(3000)
        containers.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, container=container)
        yield container, port
    finally:
        container.cleanup()


def test_image_config_is_non_root_on_port_3000(frontend_image: str) -> None:
    config = json.loads(engine.docker("image", "inspect", "--format", "{{json .Config}}", frontend_image).stdout)
    assert config["User"] == "10001:10001"
    assert "3000/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PORT"] == "3000"
    assert env["HOSTNAME"] == "0.0.0.0"  # noqa: S104 (listen on all interfaces in the pod)
    assert "API_BASE_URL" not in env, "the backend URL is run-time configuration, not baked in"
    assert not any(key.startswith("NEXT_PUBLIC_") for key in env)


def test_healthz_answers_200_on_a_read_only_root(frontend) -> None:
    _container, port = frontend
    status, headers, body = get(port, "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers.get("cache-control") == "no-store"


def test_root_redirects_a_signed_out_visitor_to_sign_in(frontend) -> None:
    _container, port = frontend
    status, headers, _ = get(port, "/")
    assert status == 307  # Next's redirect() from a server component
    assert headers["location"] == "/signin"
    status, _, body = get(port, "/signin")
    assert status == 200
    assert "Sign in" in body
    assert "<html" in body


def test_server_reads_api_base_url_at_run_time(frontend) -> None:
    # A session cookie makes the page call API_BASE_URL; it points nowhere, so the page
    # says the service is not answering (instead of crashing or using a baked-in URL).
    container, port = frontend
    status, _, body = get(port, "/", headers={"Cookie": "todo_session=not-a-real-token"})
    assert status == 200
    assert "load your tasks" in body
    assert container.running()


def test_static_assets_are_served(frontend) -> None:
    _container, port = frontend
    _, _, body = get(port, "/signin")
    scripts = [part.split('"', 1)[0] for part in body.split('src="')[1:] if part.startswith("/_next/static/")]
    assert scripts, "the page references its JavaScript"
    status, headers, _ = get(port, scripts[0])
    assert status == 200
    assert "javascript" in headers["content-type"]


def test_server_runs_on_the_pinned_node_lts(frontend) -> None:
    container, _ = frontend
    assert container.exec("node", "--version").stdout.strip() == f"v{NODE_VERSION}"


def test_server_process_is_not_root_and_cannot_write_the_app(frontend) -> None:
    container, _ = frontend
    status = container.exec("cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids[0] != "0" and uids[0] == "10001", f"server runs as uid {uids}"
    write = container.exec("node", "-e", "require('fs').writeFileSync('/app/server.js', '')", check=False)
    assert write.returncode != 0, "the app's files must not be writable"
    tmp = container.exec("node", "-e", "require('fs').writeFileSync('/tmp/probe', 'ok')", check=False)
    assert tmp.returncode == 0, tmp.stderr
    cache = container.exec("node", "-e", "require('fs').writeFileSync('/app/.next/cache/probe', 'ok')", check=False)
    assert cache.returncode == 0, cache.stderr


def test_image_ships_no_sources_or_dev_tools(frontend) -> None:
    container, _ = frontend
    listing = container.exec("ls", "/app", "/app/node_modules").stdout.split()
    for unwanted in ("src", "typescript", "vitest", "eslint", "playwright-core", "sharp", "package-lock.json"):
        assert unwanted not in listing, f"{unwanted} should not be in the runtime image"


def test_local_env_files_do_not_reach_the_image(image_built_beside_env_files: tuple[str, str]) -> None:
    tag, value = image_built_beside_env_files
    found = engine.docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        tag,
        "-c",
        f"ls -A /app; grep -rlF {value} /app || echo no-match",
    ).stdout.split()
    assert not [name for name in found if name.startswith(".env")], found
    assert found[-1] == "no-match", f"the generated .env value is in the image: {found}"
