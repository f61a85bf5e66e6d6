"""Local stand-ins for the public base images (no registry can be pulled from here).

No container registry is reachable from here (no Docker Hub), so the images tier builds its own
bases and passes them to the Dockerfiles' base ARGs (PYTHON_IMAGE / NODE_IMAGE):

    todo-base/debian:bookworm       debootstrap --variant=minbase, then `docker import`
    todo-base/python:3.11-bookworm  Debian's python3.11 + pip + venv on top of it
    todo-base/node:24-bookworm      official Node 24 (LTS) binaries and npm, taken from the npm registry

Every image trusts the host's CA bundle (and points pip, requests, curl and Node at it), because
registry traffic here passes a TLS-intercepting proxy. Images carry a label with a hash of their
recipe; a matching label means "reuse", so a warm run takes about a second.

CLI (from the repo root):  python -m tools.docker ensure-daemon|base-images|all [--force]
CLI (from the repo root):  python -m tools.docker base-images [--force]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tools import node_runtime
from tools.cache import file_lock
from tools.docker.apt_sources import SUITE, AptSource, debian_mirror, host_apt_sources, image_apt_sources, render_deb822
from tools.docker.engine import (
    DockerError,
    cache_dir,
    docker,
    docker_build,
    docker_cli,
    ensure_daemon,
    image_id,
    image_labels,
    run,
)

DEBIAN_TAG = "todo-base/debian:bookworm"
PYTHON_TAG = "todo-base/python:3.11-bookworm"
NODE_TAG = "todo-base/node:24-bookworm"
BASE_TAGS = {"debian": DEBIAN_TAG, "python": PYTHON_TAG, "node": NODE_TAG}

RECIPE_LABEL = "todo.base-image.recipe-sha256"

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # same path inside the images


# Environment baked into every base image so TLS through the proxy works for each client:
# OpenSSL/Python ssl, requests (certifi otherwise), pip (its own certifi), curl, Node/npm.
CA_ENV = {
    "SSL_CERT_FILE": CA_BUNDLE,
    "REQUESTS_CA_BUNDLE": CA_BUNDLE,
    "PIP_CERT": CA_BUNDLE,
    "CURL_CA_BUNDLE": CA_BUNDLE,
    "NODE_EXTRA_CA_CERTS": CA_BUNDLE,
}
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Same apt hygiene as the official Debian images: no .deb files or pkgcache left in layers.
_APT_RM = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"
APT_DOCKER_CLEAN = f"""\
DPkg::Post-Invoke {{ "{_APT_RM}"; }};
APT::Update::Post-Invoke {{ "{_APT_RM}"; }};
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
"""
# Package maintainer scripts must not try to start services inside a build.
POLICY_RC_D = "#!/bin/sh\nexit 101\n"

PYTHON_DOCKERFILE = f"""\
FROM {DEBIAN_TAG}
ARG DEBIAN_FRONTEND=noninteractive
# Debian's own CPython 3.11 (the public image builds it into /usr/local; Dockerfiles only rely on
# python3.11 / python3 / python / pip / venv resolving). The PEP 668 marker goes, as pip may
# install system-wide in the public image.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip netbase tzdata \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \\
 && ln -s /usr/bin/python3.11 /usr/local/bin/python \\
 && ln -s /usr/bin/python3.11 /usr/local/bin/python3 \\
 && ln -s /usr/bin/pip3 /usr/local/bin/pip \\
 && ln -s /usr/bin/pip3 /usr/local/bin/pip3 \\
 && python --version && pip --version
ENV LANG=C.UTF-8
CMD ["python3"]
"""

NODE_DOCKERFILE = f"""\
FROM {DEBIAN_TAG}
# usr/local is staged on the host from the npm registry's node-linux-* and npm packages
# (bookworm's own nodejs is 18). The `node` user (1000) mirrors the public image.
COPY usr/local/ /usr/local/
RUN groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
# No "new npm available" check (a registry call and log noise in every build).
ENV NODE_VERSION={node_runtime.NODE_VERSION} NPM_CONFIG_UPDATE_NOTIFIER=false
CMD ["node"]
"""


def recipe_hash(recipe: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def debian_recipe(apt_sources: Sequence[AptSource], ca_bundle: bytes) -> dict[str, object]:
    """Inputs of todo-base/debian:bookworm. Bump `revision` when the build steps below change."""
    sources = image_apt_sources(apt_sources)
    return {
        "revision": 1,
        "debootstrap": {
            "options": ["--variant=minbase", "--include=ca-certificates"],
            "suite": SUITE,
            "mirror": debian_mirror(sources),
        },
        "files": {  # path -> [mode, text]
            "/etc/apt/sources.list.d/debian.sources": [0o644, render_deb822(sources)],
            "/etc/apt/apt.conf.d/docker-clean": [0o644, APT_DOCKER_CLEAN],
            "/usr/sbin/policy-rc.d": [0o755, POLICY_RC_D],
            "/etc/resolv.conf": [0o644, ""],  # docker mounts its own; do not ship the host's
        },
        "ca_bundle_sha256": hashlib.sha256(ca_bundle).hexdigest(),
        "remove": [
            "/etc/apt/sources.list",
            "/etc/hostname",
            "/dev/*",
            "/var/cache/apt/archives/*.deb",
            "/var/cache/apt/*.bin",
            "/var/lib/apt/lists/*_*",
            "/var/log/bootstrap.log",
            "/var/log/dpkg.log",
            "/var/log/alternatives.log",
            "/var/log/apt/*",
        ],
        "changes": [f"ENV PATH={IMAGE_PATH}", *(f"ENV {k}={v}" for k, v in CA_ENV.items()), 'CMD ["bash"]'],
    }


def python_recipe(debian_hash: str) -> dict[str, object]:
    return {"revision": 1, "parent": debian_hash, "dockerfile": PYTHON_DOCKERFILE}


def node_recipe(debian_hash: str) -> dict[str, object]:
    # The same pins node_runtime.stage() installs: a new Node or npm changes the hash.
    return {
        "revision": 1,
        "parent": debian_hash,
        "dockerfile": NODE_DOCKERFILE,
        "packages": node_runtime.pinned_packages(),
    }


# --------------------------------------------------------------------------------------------
# Building the base images
# --------------------------------------------------------------------------------------------


# The cache's tmp dir is shared with other builders (tools/minikube/images.py's
# "minikube-image-*"): the base images' work dirs carry a prefix of their own, and only those
# are cleaned up (a wider pattern once removed a minikube image's build context mid-build).
WORK_PREFIX = "base-image-"


def _work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=WORK_PREFIX + prefix, dir=cache_dir() / "tmp"))


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def _remove_tree(path: Path) -> None:
    """Delete a build directory, but never through a mount debootstrap may have left behind."""
    for mount in sorted(_mounts_under(path), reverse=True):
        run(["umount", "--lazy", mount], check=False)
    if _mounts_under(path):
        raise DockerError(f"refusing to delete {path}: still has mounts {_mounts_under(path)}")
    shutil.rmtree(path, ignore_errors=True)


def pem_certs(text: str) -> dict[str, str]:
    """PEM certificates keyed by their base64 body without whitespace."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return {"".join(b.splitlines()[1:-1]).replace(" ", ""): b + "\n" for b in blocks}


def _trust_host_cas(rootfs: Path, host_bundle: str) -> None:
    """Make the image trust every CA the host trusts (the TLS proxy's CA is one of them).

    The extra CAs go to /usr/local/share/ca-certificates, so they survive any later
    update-ca-certificates run inside a Dockerfile, not just into today's bundle file.
    """
    bundle = rootfs / CA_BUNDLE.lstrip("/")
    host = pem_certs(host_bundle)
    extra = [pem for key, pem in host.items() if key not in pem_certs(bundle.read_text())]
    local = rootfs / "usr/local/share/ca-certificates"
    local.mkdir(parents=True, exist_ok=True)
    for index, pem in enumerate(extra):
        (local / f"todo-host-{index}.crt").write_text(pem)
    if extra:
        run(["chroot", str(rootfs), "update-ca-certificates"], timeout=300)
    missing = set(host) - set(pem_certs(bundle.read_text()))
    if missing:
        raise DockerError(f"{len(missing)} host CA certificates did not make it into {bundle}")


def _build_debian(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    del no_cache  # debootstrap always starts from nothing
    phases: dict[str, float] = {}
    work = _work_dir("debian-rootfs-")
    rootfs = work / "rootfs"
    try:
        start = time.monotonic()
        boot = recipe["debootstrap"]
        run(["nice", "debootstrap", *boot["options"], boot["suite"], str(rootfs), boot["mirror"]], timeout=1800)
        phases["debootstrap"] = time.monotonic() - start

        start = time.monotonic()
        _trust_host_cas(rootfs, HOST_CA_BUNDLE.read_text())
        for path, (mode, text) in recipe["files"].items():
            target = rootfs / path.lstrip("/")
            if target.is_symlink():  # never write through a link that could point at the host
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(mode)
        for pattern in recipe["remove"]:
            for found in rootfs.glob(pattern.lstrip("/")):
                if found.is_dir() and not found.is_symlink():
                    shutil.rmtree(found)
                else:
                    found.unlink()
        phases["configure"] = time.monotonic() - start

        start = time.monotonic()
        changes = [*recipe["changes"], f"LABEL {RECIPE_LABEL}={digest}"]
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                [
                    docker_cli(),
                    "import",
                    *(f"--change={c}" for c in changes),
                    "--message",
                    f"debootstrap {SUITE} minbase",
                    "-",
                    DEBIAN_TAG,
                ],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise DockerError(f"docker import of {DEBIAN_TAG} failed:\n{imported.stderr}")
        phases["import"] = time.monotonic() - start
    finally:
        start = time.monotonic()
        _remove_tree(work)
        phases["cleanup"] = time.monotonic() - start
    return phases


def _build_python(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    work = _work_dir("python-context-")
    try:
        (work / "Dockerfile").write_text(recipe["dockerfile"])
        start = time.monotonic()
        docker_build(work, None, PYTHON_TAG, labels={RECIPE_LABEL: digest}, no_cache=no_cache)
        return {"docker build": time.monotonic() - start}
    finally:
        _remove_tree(work)


def _build_node(recipe: Mapping, digest: str, *, no_cache: bool) -> dict[str, float]:
    phases: dict[str, float] = {}
    work = _work_dir("node-context-")
    try:
        start = time.monotonic()
        try:
            node_runtime.stage(work / "usr/local")
        except node_runtime.NodeRuntimeError as exc:
            raise DockerError(str(exc)) from exc
        (work / "Dockerfile").write_text(recipe["dockerfile"])
        phases["download and stage"] = time.monotonic() - start

        start = time.monotonic()
        docker_build(work, None, NODE_TAG, labels={RECIPE_LABEL: digest}, no_cache=no_cache)
        phases["docker build"] = time.monotonic() - start
    finally:
        _remove_tree(work)
    return phases


_BUILDERS = {"debian": _build_debian, "python": _build_python, "node": _build_node}


@dataclasses.dataclass(frozen=True)
class BaseImageResult:
    name: str
    tag: str
    built: bool  # False: an image with the same recipe hash was reused
    seconds: float
    phases: dict[str, float]


def ensure_base_images(force: bool = False) -> list[BaseImageResult]:
    """Build (or reuse) the three base images in dependency order. force: rebuild, no build cache."""
    ensure_daemon()
    (cache_dir() / "tmp").mkdir(exist_ok=True)
    results = []
    with file_lock("base-images"):
        for stale in (cache_dir() / "tmp").glob(f"{WORK_PREFIX}*"):  # left by a killed run; we hold the lock
            _remove_tree(stale)
        debian = debian_recipe(host_apt_sources(), HOST_CA_BUNDLE.read_bytes())
        debian_hash = recipe_hash(debian)
        recipes = {
            "debian": debian,
            "python": python_recipe(debian_hash),
            "node": node_recipe(debian_hash),
        }
        for name, recipe in recipes.items():
            tag, digest = BASE_TAGS[name], recipe_hash(recipe)
            start = time.monotonic()
            built = force or image_labels(tag).get(RECIPE_LABEL) != digest
            phases = {}
            if built:
                previous = image_id(tag)
                phases = _BUILDERS[name](recipe, digest, no_cache=force)
                if previous and previous != image_id(tag):  # drop the replaced image unless something uses it
                    docker("image", "rm", previous, check=False)
            results.append(BaseImageResult(name, tag, built, time.monotonic() - start, phases))
    return results


def build_base_images(force: bool = False) -> dict[str, str]:
    """Ensure the base images exist and are current; return {"debian"|"python"|"node": tag}."""
    return {result.name: result.tag for result in ensure_base_images(force)}
