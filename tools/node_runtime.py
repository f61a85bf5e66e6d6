"""The project's Node.js: the LTS release the todo-frontend image runs, for the host as well.

The frontend's dependencies, build, unit tests, the e2e stack's `node server.js` and the
benches run on the same Node as the image ships, not on whatever `node` the host has
(Debian bookworm's is 18, this CI machine's /usr/bin/node is 20, past its end of life, and
Node 20 renders our pages about a third slower than 24). Like the base image, the runtime is
the official build as the npm registry ships it (package node-linux-<arch>: bin/node and
include/) plus the npm release that Node line bundles, verified against pinned integrity
hashes (public checksums, not secrets) and kept under $TODO_CACHE/tools.

    python -m tools.node_runtime install   # once; links node, npm, npx into $TODO_CACHE/tools/bin
    python -m tools.node_runtime bin       # prints the directory holding node, npm and npx

The Makefile puts $TODO_CACHE/tools/bin first on PATH; Python harness code that starts node
outside make asks `bin_dir()` instead of trusting PATH.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tools.cache import cache_root, tools_bin

# Node 24 is the LTS line (Node 20 reached end of life in April 2026); 24.22.0's changelog:
# "upgrade npm to 11.19.1".
NODE_VERSION = "24.22.3"
NPM_VERSION = "11.19.1"
NODE_DISTS = {
    "x64": "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",  # pragma: allowlist secret  # noqa: E501
    "arm64": "sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==",  # pragma: allowlist secret  # noqa: E501
}
NPM_INTEGRITY = "sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g=="  # pragma: allowlist secret  # noqa: E501
LINKED_TOOLS = ("node", "npm", "npx")


class NodeRuntimeError(RuntimeError):
    """The pinned Node.js could not be fetched, verified or installed; the message says why."""


def node_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def pinned_packages(arch: str | None = None) -> list[list]:
    """[name, version, integrity] of the registry tarballs that make up the runtime (the base
    image's recipe lists them too, so that a new pin changes its hash)."""
    arch = arch or node_arch()
    return [[f"node-linux-{arch}", NODE_VERSION, NODE_DISTS.get(arch)], ["npm", NPM_VERSION, NPM_INTEGRITY]]


def npm_package(name: str, version: str, integrity: str | None) -> Path:
    """The registry tarball of name@version, cached in $TODO_CACHE/downloads and verified."""
    downloads = cache_root() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    path = downloads / f"{name}-{version}.tgz"

    def verified() -> bool:
        if not path.is_file():
            return False
        if integrity is None:
            return True
        algo, expected = integrity.split("-", 1)
        digest = hashlib.new(algo, path.read_bytes()).digest()
        return base64.b64encode(digest).decode() == expected

    if not verified():
        _fetch(name, version, downloads)
        if not verified():
            path.unlink(missing_ok=True)
            raise NodeRuntimeError(f"{name}@{version} from the npm registry does not match {integrity}")
    return path


def _fetch(name: str, version: str, downloads: Path) -> None:
    """`npm pack` when there is an npm (it honours the user's registry, proxy and CA settings),
    else straight from the registry: a machine without any Node can still get ours."""
    npm = shutil.which("npm")
    if npm is not None:
        fetched = subprocess.run(
            [npm, "pack", f"{name}@{version}", "--pack-destination", str(downloads), "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if fetched.returncode != 0:
            raise NodeRuntimeError(f"npm pack {name}@{version} failed:\n{fetched.stderr.strip()[-2000:]}")
        return
    registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/").rstrip("/")
    url = f"{registry}/{name}/-/{name}-{version}.tgz"
    if not url.startswith(("https://", "http://")):
        raise NodeRuntimeError(f"NPM_CONFIG_REGISTRY must be an http(s) URL, not {registry!r}")
    try:
        with urllib.request.urlopen(url, timeout=600) as response:  # noqa: S310 (scheme checked above)
            (downloads / f"{name}-{version}.tgz").write_bytes(response.read())
    except OSError as exc:
        raise NodeRuntimeError(f"cannot download {url}: {exc} (set NPM_CONFIG_REGISTRY for a mirror)") from exc


def extract_package(tgz: Path, dest: Path, keep: Sequence[str] = ("",)) -> None:
    """Unpack an npm tarball's package/ directory into dest (only paths starting with `keep`)."""
    with tarfile.open(tgz) as archive:
        members = []
        for member in archive.getmembers():
            relative = member.name.split("/", 1)[1] if "/" in member.name else ""
            if relative and relative.startswith(tuple(keep)):
                member.name = relative
                members.append(member)
        archive.extractall(dest, members=members, filter="data")


def stage(prefix: Path) -> None:
    """Lay out Node and npm under prefix as an official install does (prefix/bin/node,
    prefix/bin/npm -> prefix/lib/node_modules/npm): /usr/local in the base image, the cache here."""
    arch = node_arch()
    if arch not in NODE_DISTS:
        raise NodeRuntimeError(f"no pinned Node.js build for the {arch} CPU (pinned: {', '.join(NODE_DISTS)})")
    node_tgz, npm_tgz = (npm_package(*package) for package in pinned_packages(arch))
    npm_dir = prefix / "lib/node_modules/npm"
    npm_dir.mkdir(parents=True)
    extract_package(node_tgz, prefix, keep=("bin/", "include/", "share/"))
    extract_package(npm_tgz, npm_dir)
    for tool in ("npm", "npx"):
        (npm_dir / f"bin/{tool}-cli.js").chmod(0o755)
        (prefix / "bin" / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")


def home() -> Path:
    return cache_root() / "tools" / f"node-v{NODE_VERSION}"


def bin_dir() -> Path:
    """The directory with the pinned node, npm and npx; installs them first if needed."""
    if sys.platform != "linux":
        return _host_node_dir()
    if not (home() / "bin" / "node").is_file():
        _install()
    return home() / "bin"


def _host_node_dir() -> Path:
    """Off Linux there is no pinned build: use the host's node if it is the same major version."""
    node = shutil.which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else ""
    wanted = f"v{NODE_VERSION.split('.')[0]}."
    if not version.startswith(wanted):
        raise NodeRuntimeError(
            f"Node.js {wanted}x (LTS) is needed, found {version or 'no node on PATH'}: "
            f"install Node {NODE_VERSION} (https://nodejs.org/en/download) and put it first on PATH"
        )
    return Path(node).resolve().parent


def _install() -> None:
    """Stage into a temporary directory beside the final one, then rename: an interrupted
    install never leaves a half-extracted runtime that looks complete."""
    home().parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".node-v{NODE_VERSION}-", dir=home().parent))
    try:
        stage(staging)
        version = subprocess.run(
            [str(staging / "bin" / "node"), "--version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
        if version != f"v{NODE_VERSION}":
            raise NodeRuntimeError(f"the staged node says {version!r}, expected v{NODE_VERSION}")
        shutil.rmtree(home(), ignore_errors=True)
        staging.rename(home())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def link_tools() -> Path:
    """node, npm and npx in $TODO_CACHE/tools/bin, the Makefile's first PATH entry."""
    source = bin_dir()
    links = tools_bin()
    links.mkdir(parents=True, exist_ok=True)
    for tool in LINKED_TOOLS:
        link = links / tool
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source / tool)
    return links


def with_node_on_path(env: dict[str, str]) -> dict[str, str]:
    """env with the pinned node's directory first on PATH (npm scripts run `node` from PATH)."""
    return {**env, "PATH": os.pathsep.join([str(bin_dir()), env.get("PATH", os.defpath)])}


def main(argv: Sequence[str] | None = None) -> int:
    action = (argv if argv is not None else sys.argv[1:]) or ["install"]
    try:
        if action == ["install"]:
            links = link_tools()
            print(f"node: v{NODE_VERSION} (npm {NPM_VERSION}) in {bin_dir()}; {', '.join(LINKED_TOOLS)} -> {links}")
        elif action == ["bin"]:
            print(bin_dir())
        else:
            print("usage: python -m tools.node_runtime [install|bin]", file=sys.stderr)
            return 2
    except NodeRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
