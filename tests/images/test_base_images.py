"""The local stand-ins for the public base images, and the tools/docker helpers the image tests use.

Real Docker throughout; the network calls go to the real PyPI, npm registry and Debian mirror
(through this host's TLS proxy, which is why the images must carry the host's CA bundle).
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

import pytest

from tools import node_runtime
from tools.docker import apt_sources, containers, engine

# Under another name: the fixture `base_images` (the tags) would shadow the module in tests.
from tools.docker import base_images as recipes

REPO = Path(__file__).resolve().parents[2]

PYTHON_CHECK_DOCKERFILE = """\
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
RUN python3.11 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir iniconfig==2.0.0
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home app
USER 10001:10001
CMD ["/opt/venv/bin/python", "-c", "import os, iniconfig; print(os.getuid(), os.getgid(), iniconfig.__name__)"]
"""

NODE_CHECK_DOCKERFILE = """\
ARG NODE_IMAGE=node:24-bookworm-slim
FROM ${NODE_IMAGE}
WORKDIR /app
RUN npm install --no-audit --no-fund is-number@7.0.0
USER 10001:10001
CMD ["node", "-e", "console.log(process.getuid(), require('is-number')(5))"]
"""


def run(image: str, *command: str, user: str | None = None) -> str:
    """docker run --rm; stdout, or DockerError with the output."""
    user_args = ["--user", user] if user else []
    return engine.docker("run", "--rm", *user_args, image, *command, timeout=300).stdout


# ---------------------------------------------------------------- recipes (no Docker needed)


def test_apt_sources_parse_deb822_and_one_line_formats() -> None:
    deb822 = """\
Types: deb deb-src
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src-only.example/debian
Suites: bookworm
Components: main
"""
    one_line = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm-security main
deb-src http://one.example/debian bookworm main
"""
    assert apt_sources.parse_apt_sources(deb822, deb822=True) == [
        apt_sources.AptSource("http://mirror.example/debian", ("bookworm", "bookworm-updates"), ("main", "contrib"))
    ]
    assert apt_sources.parse_apt_sources(one_line, deb822=False) == [
        apt_sources.AptSource("http://one.example/debian", ("bookworm-security",), ("main",))
    ]


def test_image_apt_sources_keep_host_bookworm_mirrors_or_fall_back() -> None:
    host = [
        apt_sources.AptSource("http://mirror.example/debian", ("bookworm", "bookworm-updates"), ("main",)),
        apt_sources.AptSource("https://packages.example/apt", ("cloud-sdk",), ("main",)),
        apt_sources.AptSource("http://mirror.example/security", ("bookworm-security",), ("main",)),
    ]
    kept = apt_sources.image_apt_sources(host)
    assert [s.uri for s in kept] == ["http://mirror.example/debian", "http://mirror.example/security"]
    assert apt_sources.debian_mirror(kept) == "http://mirror.example/debian"

    ubuntu_host = [apt_sources.AptSource("http://archive.ubuntu.com/ubuntu", ("noble",), ("main",))]
    assert apt_sources.debian_mirror(apt_sources.image_apt_sources(ubuntu_host)) == "http://deb.debian.org/debian"


def test_recipe_hash_follows_ca_bundle_mirror_and_parent() -> None:
    sources = [apt_sources.AptSource("http://a.example/debian", ("bookworm",), ("main",))]
    other_mirror = [apt_sources.AptSource("http://b.example/debian", ("bookworm",), ("main",))]

    def debian_hash(srcs: list[apt_sources.AptSource], ca: bytes) -> str:
        return recipes.recipe_hash(recipes.debian_recipe(srcs, ca))

    base = debian_hash(sources, b"ca-1")
    assert base == debian_hash(sources, b"ca-1")
    assert base != debian_hash(sources, b"ca-2")
    assert base != debian_hash(other_mirror, b"ca-1")
    for derived in (recipes.python_recipe, recipes.node_recipe):
        assert recipes.recipe_hash(derived(base)) != recipes.recipe_hash(derived(debian_hash(sources, b"ca-2")))


def test_node_base_is_a_supported_lts_and_every_use_names_it() -> None:
    """Node 20 reached end of life in April 2026; the base follows the LTS line (even major)."""
    major = int(node_runtime.NODE_VERSION.split(".")[0])
    assert major >= 24 and major % 2 == 0, f"Node {node_runtime.NODE_VERSION} is not a supported LTS"
    assert recipes.NODE_TAG.endswith(f"/node:{major}-bookworm"), recipes.NODE_TAG
    assert f"ARG NODE_IMAGE=node:{major}-bookworm-slim" in (REPO / "apps/frontend/Dockerfile").read_text()


# ---------------------------------------------------------------- the images


def test_ensure_daemon_leaves_a_running_daemon_alone(docker_daemon: None) -> None:
    assert engine.ensure_daemon() is False


def test_warm_build_reuses_images_by_recipe_label(base_images: dict[str, str]) -> None:
    before = {tag: engine.image_id(tag) for tag in base_images.values()}
    start = time.monotonic()
    results = recipes.ensure_base_images()
    elapsed = time.monotonic() - start

    assert [r.built for r in results] == [False, False, False]
    assert {tag: engine.image_id(tag) for tag in base_images.values()} == before
    assert elapsed < 30, f"a cached run took {elapsed:.1f}s"
    for tag in base_images.values():
        assert re.fullmatch(r"[0-9a-f]{64}", engine.image_labels(tag)[recipes.RECIPE_LABEL])


def test_debian_image_uses_host_mirror_and_has_user_tools(base_images: dict[str, str]) -> None:
    mirror = apt_sources.debian_mirror(apt_sources.image_apt_sources(apt_sources.host_apt_sources()))
    out = run(
        base_images["debian"],
        "sh",
        "-c",
        "cat /etc/apt/sources.list.d/debian.sources; command -v useradd; command -v groupadd; "
        "apt-get update -qq && echo apt-update-ok",
    )
    assert f"URIs: {mirror}\n" in out
    assert "/usr/sbin/useradd" in out and "/usr/sbin/groupadd" in out
    assert "apt-update-ok" in out


@pytest.mark.parametrize("name", ["debian", "python", "node"])
def test_base_images_trust_every_host_ca(base_images: dict[str, str], name: str) -> None:
    host = set(recipes.pem_certs(recipes.HOST_CA_BUNDLE.read_text()))
    image = set(recipes.pem_certs(run(base_images[name], "cat", recipes.CA_BUNDLE)))
    assert host - image == set(), "host CAs missing in the image bundle"

    env = engine.docker("image", "inspect", "--format", "{{json .Config.Env}}", base_images[name]).stdout
    for key, value in recipes.CA_ENV.items():
        assert f'"{key}={value}"' in env


def test_host_cas_survive_a_fresh_update_ca_certificates(base_images: dict[str, str]) -> None:
    """A Dockerfile that reinstalls ca-certificates or reruns update-ca-certificates keeps the proxy CA."""
    host = set(recipes.pem_certs(recipes.HOST_CA_BUNDLE.read_text()))
    out = run(
        base_images["debian"], "sh", "-c", f"update-ca-certificates --fresh >/dev/null && cat {recipes.CA_BUNDLE}"
    )
    assert host - set(recipes.pem_certs(out)) == set()


def test_python_image_is_3_11_with_pip_and_venv(base_images: dict[str, str]) -> None:
    out = run(
        base_images["python"],
        "sh",
        "-c",
        "python3 --version; python --version; pip --version; "
        "python3.11 -m venv /tmp/venv && /tmp/venv/bin/pip --version",
    )
    assert re.findall(r"^Python (\d+\.\d+)\.\d+$", out, re.M) == ["3.11", "3.11"]
    assert len(re.findall(r"^pip \d+.* \(python 3\.11\)$", out, re.M)) == 2


def test_pip_reaches_pypi_inside_a_container(base_images: dict[str, str]) -> None:
    out = run(
        base_images["python"],
        "sh",
        "-c",
        "pip download --no-deps --no-cache-dir --dest /tmp/dl iniconfig==2.0.0 >/dev/null && ls /tmp/dl",
    )
    assert out.split() == ["iniconfig-2.0.0-py3-none-any.whl"]


def test_pip_in_docker_build_then_runs_as_non_root(base_images: dict[str, str], tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text(PYTHON_CHECK_DOCKERFILE)
    tag = engine.docker_build(
        tmp_path, None, "todo-test/python-base-check:latest", {"PYTHON_IMAGE": base_images["python"]}, no_cache=True
    )
    try:
        assert run(tag).split() == ["10001", "10001", "iniconfig"]
    finally:
        engine.docker("image", "rm", tag, check=False)


def test_node_image_runs_the_pinned_lts_node_and_npm_reaches_registry(base_images: dict[str, str]) -> None:
    out = run(base_images["node"], "sh", "-c", "node --version; npm --version; npm view is-number version")
    node_version, npm_version, is_number = out.split()
    assert node_version == f"v{node_runtime.NODE_VERSION}"
    assert npm_version == node_runtime.NPM_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", is_number)


def test_npm_in_docker_build_then_runs_as_non_root(base_images: dict[str, str], tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text(NODE_CHECK_DOCKERFILE)
    tag = engine.docker_build(
        tmp_path, None, "todo-test/node-base-check:latest", {"NODE_IMAGE": base_images["node"]}, no_cache=True
    )
    try:
        assert run(tag).split() == ["10001", "true"]
    finally:
        engine.docker("image", "rm", tag, check=False)


@pytest.mark.parametrize("name", ["python", "node"])
def test_containers_run_as_a_non_root_uid_when_asked(base_images: dict[str, str], name: str) -> None:
    out = run(base_images[name], "sh", "-c", "id -u; id -g; touch /tmp/w && echo tmp-writable", user="10001:10001")
    assert out.split() == ["10001", "10001", "tmp-writable"]


# ---------------------------------------------------------------- helpers other image tests rely on


def test_run_detached_serves_http_and_cleanup_removes_it(base_images: dict[str, str], run_container) -> None:
    server = run_container(
        base_images["python"],
        ["python3", "-m", "http.server", "8000", "--directory", "/etc"],
        ports=[8000],
        user="10001:10001",
    )
    body = containers.wait_http(f"http://127.0.0.1:{server.port(8000)}/debian_version", timeout=60, container=server)
    assert body.startswith("12.")
    assert engine.image_size(base_images["python"]) > engine.image_size(base_images["debian"]) > 50e6

    server.cleanup()
    assert engine.docker("ps", "--all", "--quiet", "--filter", f"id={server.id}").stdout.strip() == ""


def test_run_detached_passes_env_to_the_container(base_images: dict[str, str], run_container) -> None:
    value = secrets.token_urlsafe(16)
    box = run_container(
        base_images["debian"], ["sh", "-c", 'echo "got:$TODO_PROBE"; sleep 30'], env={"TODO_PROBE": value}
    )
    deadline = time.monotonic() + 30
    while "got:" not in box.logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"got:{value}" in box.logs()


def test_wait_http_stops_early_when_the_container_exits(base_images: dict[str, str], run_container) -> None:
    marker = f"boom-{secrets.token_hex(4)}"
    doomed = run_container(base_images["debian"], ["sh", "-c", f"echo {marker}; exit 3"])
    start = time.monotonic()
    with pytest.raises(engine.DockerError, match=marker):
        containers.wait_http("http://127.0.0.1:9/", timeout=120, container=doomed)
    assert time.monotonic() - start < 30
