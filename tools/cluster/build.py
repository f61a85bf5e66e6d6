"""Build the cluster binaries from the Go module proxy, cached by version.

k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging modules
(k8s.io/api, k8s.io/apiserver, ...) with local ./staging paths that do not exist in the
module zip. So we generate a tiny wrapper module that requires k8s.io/kubernetes and
replaces every staging module with its published v0.X.Y, then `go build` the commands.
etcd's server module is built the same way (its ../ replaces are ignored when it is a
dependency, so the wrapper only has to require it). kwok is `go install`able as is.

Module downloads (GOMODCACHE) and the Go build cache (GOCACHE) are shared by every Go build of
the harness (pins.go_dir()); the wrapper modules and the binaries live under pins.version_dir();
the repo never sees any of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

from tools.cache import file_lock
from tools.cluster import pins

KUBE_COMMANDS = pins.KUBE_COMMANDS

# (file, old, new): every occurrence of `old` in `file` becomes `new`; each must occur.
Patch = tuple[tuple[str, str, str], ...]

# Traefik v3.6.12 sends new requests to a Pod that is shutting down until its address leaves the
# EndpointSlice, which is after the Pod has stopped: on Minikube, rollouts and pod deletions
# failed a few requests each at the Pod's SIGTERM (a 502, or no answer once its address was
# gone). Two upstream defects, patched here:
# 1. an EndpointSlice update whose addresses did not change is dropped as "no change", so a
#    change of conditions alone (a Pod terminating, no longer serving, or a new Pod becoming
#    ready) rebuilds nothing (upstream fixed this after 3.6: traefik/traefik#13405);
# 2. the kubernetesIngressNGINX provider works out which endpoints are terminating but does not
#    mark their servers fenced (its siblings, kubernetesIngress and kubernetesCRD, do), so even a
#    rebuild kept them in the rotation. A fenced server gets no new request (unless every one
#    is fenced); what it is already serving finishes. ingress-nginx drops a terminating endpoint
#    from its upstreams at once, which comes to the same.
TRAEFIK_PATCH_LABEL = "endpoint-conditions"
TRAEFIK_PATCH: Patch = (
    (
        "pkg/provider/kubernetes/k8s/event_handler.go",
        "func endpointChanged(a, b discoveryv1.Endpoint) bool {\n",
        "// conditionChanged: nil, true and false are three states (nil reads as true).\n"
        "func conditionChanged(a, b *bool) bool {\n"
        "\treturn (a == nil) != (b == nil) || (a != nil && *a != *b)\n"
        "}\n\n"
        "func endpointChanged(a, b discoveryv1.Endpoint) bool {\n"
        "\tif conditionChanged(a.Conditions.Ready, b.Conditions.Ready) ||\n"
        "\t\tconditionChanged(a.Conditions.Serving, b.Conditions.Serving) ||\n"
        "\t\tconditionChanged(a.Conditions.Terminating, b.Conditions.Terminating) {\n"
        "\t\treturn true\n"
        "\t}\n\n",
    ),
    (
        "pkg/provider/kubernetes/ingress-nginx/kubernetes.go",
        '\t\t\tURL: fmt.Sprintf("%s://%s", scheme, addr.Address),\n',
        '\t\t\tURL:    fmt.Sprintf("%s://%s", scheme, addr.Address),\n\t\t\tFenced: addr.Fenced,\n',
    ),
)


class BuildError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[cluster build] {message}", flush=True)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(pins.go_dir() / "mod"),
        GOCACHE=str(pins.go_dir() / "build"),
        # Never fetch another toolchain: the local go must be new enough (checked below).
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod -buildvcs=false",
        CGO_ENABLED="0",
    )
    return env


def require_go() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError("`go` not found on PATH; install Go >= 1.24 (kwok needs it) and retry")
    out = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < (1, 24):
        raise BuildError(f"Go >= 1.24 is required, found: {out.strip()}")
    return go


def run_go(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    # nice: the machine is shared and compiling Kubernetes eats every core it gets.
    command = ["nice", "-n", "10", *args]
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(args)}\nin {cwd}\n{proc.stderr[-4000:]}")
    return proc.stdout


def binary_dir(binary: str) -> Path:
    if binary == "traefik":
        # Patched: a dir of its own, named by version and patch, so that a build of another
        # checkout sharing the cache (plain, or another patch) never replaces this one.
        return pins.addon_bin_dir() / wanted_stamp(binary).replace("+", "-")
    return pins.addon_bin_dir() if binary in pins.ADDONS else pins.bin_dir()


# The cache locks (tools/cache.py) builds hold: one for the control plane's binaries, one for the
# add-ons'.
CONTROL_PLANE_LOCK = "go-kubernetes"
ADDONS_LOCK = "go-addons"


def build_lock(binary: str) -> str:
    """The lock a build of `binary` holds."""
    return ADDONS_LOCK if binary in pins.ADDONS else CONTROL_PLANE_LOCK


def binary_path(binary: str) -> Path:
    return binary_dir(binary) / binary


def stamp_path(binary: str) -> Path:
    return binary_dir(binary) / f".{binary}.version"


def wanted_stamp(binary: str) -> str:
    if binary == "traefik":
        return f"{pins.TRAEFIK_VERSION}+{TRAEFIK_PATCH_LABEL}-{patch_hash(TRAEFIK_PATCH)}"
    if binary == "etcd":
        return pins.ETCD_VERSION
    if binary == "kwok":
        return pins.KWOK_VERSION
    if binary in pins.ADDONS:
        return pins.ADDONS[binary]
    return pins.KUBERNETES_VERSION


def is_built(binary: str) -> bool:
    path = binary_path(binary)
    stamp = stamp_path(binary)
    return path.is_file() and stamp.is_file() and stamp.read_text().strip() == wanted_stamp(binary)


def mark_built(binary: str) -> None:
    stamp_path(binary).write_text(wanted_stamp(binary) + "\n")


def module_info(module: str, version: str, env: dict[str, str], cwd: Path) -> dict:
    out = run_go(["go", "mod", "download", "-json", f"{module}@{version}"], cwd, env)
    return json.loads(out)


def patch_hash(patch: Patch) -> str:
    return hashlib.sha256(repr(patch).encode()).hexdigest()[:12]


def patched_source(pristine: Path, patch: Patch, target: Path) -> Path:
    """A copy of a module's source (`pristine`, its GOMODCACHE dir) at `target` with `patch`
    applied, reused while `target` holds the same patch."""
    if (target / ".patched").is_file() and (target / ".patched").read_text() == repr(patch) + "\n":
        return target
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(pristine, target)
    for path in [target, *target.rglob("*")]:  # GOMODCACHE files are read-only
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for relative, old, new in patch:
        file = target / relative
        text = file.read_text()
        if old not in text:
            raise BuildError(f"patch of {pristine.name}: {old!r} not found in {relative}")
        file.write_text(text.replace(old, new))
    (target / ".patched").write_text(repr(patch) + "\n")
    return target


def staging_modules(kubernetes_gomod: Path) -> list[str]:
    """Every `k8s.io/x => ./staging/...` replace line of the release's go.mod."""
    text = kubernetes_gomod.read_text()
    modules = re.findall(r"^\s*(\S+)\s*=>\s*\./staging/", text, flags=re.MULTILINE)
    if not modules:
        raise BuildError(f"no staging replace lines found in {kubernetes_gomod}")
    return modules


def go_directive(gomod: Path) -> str:
    match = re.search(r"^go (\S+)", gomod.read_text(), flags=re.MULTILINE)
    return match[1] if match else "1.23"


def write_wrapper(directory: Path, module: str, go_version: str, requires: list[str], replaces: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"module {module}", "", f"go {go_version}", "", "require ("]
    lines += [f"\t{req}" for req in requires]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{rep}" for rep in replaces]
        lines.append(")")
    (directory / "go.mod").write_text("\n".join(lines) + "\n")


def kube_ldflags(build_date: str) -> str:
    version = pins.KUBERNETES_VERSION
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        # The module zip carries no git metadata; say so instead of inventing a SHA.
        "gitCommit": "unknown-go-module-proxy",
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X '{package}.{key}={value}'" for key, value in values.items()]
    return " ".join(flags)


def build_kubernetes(go: str, env: dict[str, str]) -> None:
    wrapper = pins.version_dir() / "wrapper" / "kubernetes"
    wrapper.mkdir(parents=True, exist_ok=True)
    info = module_info("k8s.io/kubernetes", pins.KUBERNETES_VERSION, env, wrapper)
    gomod = Path(info["GoMod"])
    staging = pins.staging_version()
    replaces = [f"{mod} => {mod} {pins.STAGING_OVERRIDES.get(mod, staging)}" for mod in staging_modules(gomod)]
    write_wrapper(
        wrapper,
        "todo.local/kubernetes-wrapper",
        go_directive(gomod),
        [f"k8s.io/kubernetes {pins.KUBERNETES_VERSION}"],
        replaces,
    )
    # The release time from the proxy keeps buildDate reproducible.
    build_date = json.loads(Path(info["Info"]).read_text())["Time"]
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBE_COMMANDS]
    log(f"resolving modules for k8s.io/kubernetes {pins.KUBERNETES_VERSION} ({len(replaces)} staging replaces)")
    run_go([go, "mod", "download"], wrapper, env)
    log("compiling " + ", ".join(KUBE_COMMANDS) + " (first time: many minutes)")
    started = time.monotonic()
    run_go(
        [go, "build", "-trimpath", "-ldflags", kube_ldflags(build_date), "-o", str(pins.bin_dir()) + "/", *packages],
        wrapper,
        env,
    )
    log(f"compiled Kubernetes commands in {time.monotonic() - started:.0f}s")
    for name in KUBE_COMMANDS:
        mark_built(name)


def build_in_wrapper(
    go: str,
    env: dict[str, str],
    wrapper: Path,
    module: str,
    version: str,
    package: str,
    output: Path,
    ldflags: str,
    replaces: list[str] | None = None,
    build_flags: list[str] | None = None,
) -> None:
    """`go build` a package of a module that cannot be `go install`ed as it is, through a
    wrapper module that requires it (and repeats the `replace` lines a dependency loses)."""
    wrapper.mkdir(parents=True, exist_ok=True)
    info = module_info(module, version, env, wrapper)
    write_wrapper(
        wrapper, f"todo.local/{wrapper.name}-wrapper", go_directive(Path(info["GoMod"])), [f"{module} {version}"],
        replaces or [],
    )  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    run_go(
        [go, "build", "-trimpath", *(build_flags or []), "-ldflags", ldflags, "-o", str(output), package], wrapper, env
    )


def build_etcd(go: str, env: dict[str, str]) -> None:
    log(f"compiling etcd {pins.ETCD_VERSION}")
    build_in_wrapper(
        go,
        env,
        pins.version_dir() / "wrapper" / "etcd",
        "go.etcd.io/etcd/server/v3",
        pins.ETCD_VERSION,
        "go.etcd.io/etcd/server/v3",
        pins.bin_dir() / "etcd",
        # etcd's version string is a constant in api/v3/version; only the SHA is a variable.
        "-s -w -X 'go.etcd.io/etcd/api/v3/version.GitSHA=go-module-proxy'",
    )
    mark_built("etcd")


def build_kwok(go: str, env: dict[str, str]) -> None:
    log(f"installing sigs.k8s.io/kwok/cmd/kwok@{pins.KWOK_VERSION}")
    install_env = dict(env, GOBIN=str(pins.bin_dir()), GOFLAGS="-buildvcs=false")
    run_go(
        [go, "install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{pins.KWOK_VERSION}"],
        pins.version_dir(),
        install_env,
    )
    mark_built("kwok")


def build_coredns(go: str, env: dict[str, str]) -> None:
    log(f"installing github.com/coredns/coredns@{pins.COREDNS_VERSION}")
    install_env = dict(env, GOBIN=str(pins.addon_bin_dir()), GOFLAGS="-buildvcs=false")
    pins.addon_bin_dir().mkdir(parents=True, exist_ok=True)
    run_go(
        [go, "install", "-trimpath", "-ldflags", "-s -w", f"github.com/coredns/coredns@{pins.COREDNS_VERSION}"],
        pins.addon_bin_dir(),
        install_env,
    )
    mark_built("coredns")


def build_traefik(go: str, env: dict[str, str]) -> None:
    """Traefik's go.mod has replace lines, so `go install module@version` refuses it; the
    wrapper replaces the module with its source patched by TRAEFIK_PATCH."""
    log(f"compiling traefik {pins.TRAEFIK_VERSION} with {TRAEFIK_PATCH_LABEL} (first time: several minutes)")
    module, stamp = "github.com/traefik/traefik/v3", wanted_stamp("traefik")
    addons = pins.cache_root() / "addons"
    wrapper = addons / "wrapper" / f"traefik-{stamp.replace('+', '-')}"
    wrapper.mkdir(parents=True, exist_ok=True)
    pristine = Path(module_info(module, pins.TRAEFIK_VERSION, env, wrapper)["Dir"])
    source = patched_source(pristine, TRAEFIK_PATCH, addons / "src" / wrapper.name)
    binary_dir("traefik").mkdir(parents=True, exist_ok=True)
    # Built beside and renamed over: an image build may be reading the binary it replaces.
    partial = binary_dir("traefik") / ".traefik.partial"
    build_in_wrapper(
        go,
        env,
        wrapper,
        module,
        pins.TRAEFIK_VERSION,
        "github.com/traefik/traefik/v3/cmd/traefik",
        partial,
        f"-s -w -X 'github.com/traefik/traefik/v3/pkg/version.Version={stamp}'",
        [f"{module} => {source}", *pins.TRAEFIK_REPLACES],
    )
    partial.replace(binary_path("traefik"))
    mark_built("traefik")


def build_addons(force: bool = False) -> Path:
    """CoreDNS (the Minikube node's cluster DNS image) and Traefik (the ingress addon's controller
    image, tools/minikube/ingress.py); return their bin dir."""
    with file_lock(ADDONS_LOCK):
        return _build_addons(force)


def _build_addons(force: bool) -> Path:
    missing = [name for name in pins.ADDONS if force or not is_built(name)]
    if not missing:
        return pins.addon_bin_dir()
    go = require_go()
    env = go_env()
    started = time.monotonic()
    if "coredns" in missing:
        build_coredns(go, env)
    if "traefik" in missing:
        build_traefik(go, env)
    log(f"add-ons built in {time.monotonic() - started:.0f}s -> {pins.addon_bin_dir()}")
    return pins.addon_bin_dir()


def build(force: bool = False, addons: bool = True) -> Path:
    """Make sure every binary exists for the pinned versions; return the Kubernetes bin dir."""
    build_control_plane(force)
    if addons:
        build_addons(force)
    return pins.bin_dir()


def build_control_plane(force: bool = False) -> Path:
    with file_lock(CONTROL_PLANE_LOCK):
        return _build_control_plane(force)


def _build_control_plane(force: bool) -> Path:
    missing = [name for name in pins.BINARIES if force or not is_built(name)]
    if not missing:
        log(f"all binaries present in {pins.bin_dir()} (cached)")
        return pins.bin_dir()
    go = require_go()
    env = go_env()
    pins.bin_dir().mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if "kwok" in missing:
        build_kwok(go, env)
    if "etcd" in missing:
        build_etcd(go, env)
    if any(name in missing for name in KUBE_COMMANDS):
        build_kubernetes(go, env)
    log(f"build finished in {time.monotonic() - started:.0f}s -> {pins.bin_dir()}")
    return pins.bin_dir()
