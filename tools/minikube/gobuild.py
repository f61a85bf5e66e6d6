"""The Go programs inside minikube's images: kube-webhook-certgen, compiled here from the Go
module proxy at the version the ingress addon uses and cached under
${TODO_CACHE:-~/.cache/todo}/minikube/bin/; etcd and CoreDNS are the ones tools/cluster/build.py
builds for every cluster (pins.py holds their versions, kubeadm v1.35.1's own).

Each one is built through a wrapper module (`require <module> <version>`): `go install m@v`
is refused where a module's go.mod has replace lines, and a dependency's replaces are
ignored anyway. A stamp file `.<name>.version` next to each binary holds what it was built
from (version, plus the patch's hash for certgen); a matching stamp means "reuse".

kube-webhook-certgen v1.5.2 (the addon's create/patch Jobs) reads and updates the
ValidatingWebhookConfiguration through admissionregistration.k8s.io/v1beta1, which the API
server stopped serving in Kubernetes 1.22. CERTGEN_PATCH moves it to admissionregistration/v1
(the same Go types and fields; only the import path, its alias and the clientset's group
accessor change). The module source is copied out of GOMODCACHE into a build dir, patched
there, and the wrapper `replace`s the module with that dir. Its client-go stays v0.19.2: an
Update through its v1 types drops webhook fields newer than 1.19 (matchConditions); the
addon's webhook configuration has none.

Build environment: GOMODCACHE/GOCACHE under the shared ~/.cache/todo/go, GOTOOLCHAIN=local,
-mod=mod, no VCS stamping, CGO_ENABLED=0 (static binaries for FROM-scratch images), `nice`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tools.cache import cache_root
from tools.cluster import build as cluster_build

CERTGEN_MODULE, CERTGEN_VERSION = "github.com/jet/kube-webhook-certgen", "v1.5.2"

# (file, old, new): every occurrence of `old` in `file` becomes `new`; each must occur.
CERTGEN_PATCH: tuple[tuple[str, str, str], ...] = (
    *(
        (path, old, new)
        for path in ("cmd/root.go", "cmd/patch.go", "pkg/k8s/k8s.go")
        for old, new in (
            ('"k8s.io/api/admissionregistration/v1beta1"', '"k8s.io/api/admissionregistration/v1"'),
            ("admissionv1beta1", "admissionv1"),
        )
    ),
    ("pkg/k8s/k8s.go", "AdmissionregistrationV1beta1()", "AdmissionregistrationV1()"),
)


class GoBuildError(RuntimeError):
    pass


def minikube_cache() -> Path:
    return cache_root() / "minikube"


def bin_dir() -> Path:
    return minikube_cache() / "bin"


def go_env() -> dict[str, str]:
    go_root = cache_root() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(go_root / "mod"),
        "GOCACHE": str(go_root / "build"),
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "CGO_ENABLED": "0",
    }


def run_go(args: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    go = shutil.which("go", path=env.get("PATH"))
    if go is None:
        raise GoBuildError("`go` is not on PATH (Go >= 1.24 is needed)")
    proc = subprocess.run(["nice", "-n", "10", go, *args], cwd=cwd, env=dict(env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise GoBuildError(f"go {' '.join(args)} failed in {cwd} (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def module_dir(module: str, version: str, env: Mapping[str, str]) -> Path:
    """Download module@version into GOMODCACHE (if needed) and return its source dir."""
    scratch = minikube_cache() / "wrapper"
    scratch.mkdir(parents=True, exist_ok=True)
    out = run_go(["mod", "download", "-json", f"{module}@{version}"], scratch, env)
    return Path(json.loads(out)["Dir"])


def _stamped(name: str, stamp: str) -> Path | None:
    binary, stamp_file = bin_dir() / name, bin_dir() / f".{name}.version"
    if binary.is_file() and stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        return binary
    return None


def build_in_wrapper(
    name: str,
    module: str,
    version: str,
    package: str,
    ldflags: str,
    stamp: str,
    replace: Path | None = None,
) -> Path:
    """Build `package` of module@version into bin_dir()/name unless the stamp matches; return the path."""
    cached = _stamped(name, stamp)
    if cached:
        return cached
    env = go_env()
    wrapper = minikube_cache() / "wrapper" / f"{name}-{version}"
    if wrapper.exists():
        shutil.rmtree(wrapper)
    wrapper.mkdir(parents=True)
    lines = [f"module todo.local/{name}-wrapper", "", "go 1.24", "", f"require {module} {version}"]
    if replace is not None:
        lines += ["", f"replace {module} => {replace}"]
    (wrapper / "go.mod").write_text("\n".join(lines) + "\n")
    # A blank import keeps `go mod tidy` from dropping the requirement.
    (wrapper / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{package}"\n')
    run_go(["mod", "tidy"], wrapper, env)
    bin_dir().mkdir(parents=True, exist_ok=True)
    output = bin_dir() / name
    partial = output.with_name(f".{name}.partial")
    run_go(["build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), package], wrapper, env)
    partial.replace(output)
    (bin_dir() / f".{name}.version").write_text(stamp + "\n")
    return output


def build_etcd() -> Path:
    """etcd (registry.k8s.io/etcd for Kubernetes v1.35.1): the one tools/cluster/build.py builds."""
    return _cluster_binary("etcd", cluster_build.build_etcd)


def build_coredns() -> Path:
    """CoreDNS (registry.k8s.io/coredns/coredns): the one tools/cluster/build.py builds."""
    return _cluster_binary("coredns", cluster_build.build_coredns)


def _cluster_binary(name: str, builder) -> Path:
    if not cluster_build.is_built(name):
        cluster_build.binary_dir(name).mkdir(parents=True, exist_ok=True)
        builder(cluster_build.require_go(), cluster_build.go_env())
    return cluster_build.binary_path(name)


def certgen_patch_hash() -> str:
    return hashlib.sha256(repr(CERTGEN_PATCH).encode()).hexdigest()[:12]


def patched_certgen_source(env: Mapping[str, str] | None = None) -> Path:
    """A copy of kube-webhook-certgen v1.5.2 with CERTGEN_PATCH applied (admissionregistration/v1)."""
    env = env or go_env()
    pristine = module_dir(CERTGEN_MODULE, CERTGEN_VERSION, env)
    target = minikube_cache() / "src" / f"kube-webhook-certgen-{CERTGEN_VERSION}-v1api-{certgen_patch_hash()}"
    if (target / ".patched").is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(pristine, target)
    for path in [target, *target.rglob("*")]:  # GOMODCACHE files are read-only
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for relative, old, new in CERTGEN_PATCH:
        file = target / relative
        text = file.read_text()
        if old not in text:
            raise GoBuildError(f"certgen patch: {old!r} not found in {relative}")
        file.write_text(text.replace(old, new))
    leftovers = [str(p) for p in target.rglob("*.go") if "v1beta1" in p.read_text() and not p.name.endswith("_test.go")]
    if leftovers:
        raise GoBuildError(f"certgen patch left admissionregistration v1beta1 in {leftovers}")
    (target / ".patched").write_text(repr(CERTGEN_PATCH) + "\n")
    return target


def build_certgen() -> Path:
    """kube-webhook-certgen v1.5.2, patched to admissionregistration/v1 (see CERTGEN_PATCH)."""
    stamp = f"{CERTGEN_VERSION}+v1api-{certgen_patch_hash()}"
    if _stamped("kube-webhook-certgen", stamp):
        return bin_dir() / "kube-webhook-certgen"
    source = patched_certgen_source()
    return build_in_wrapper(
        "kube-webhook-certgen",
        CERTGEN_MODULE,
        CERTGEN_VERSION,
        CERTGEN_MODULE,
        f"-s -w -X 'github.com/jet/kube-webhook-certgen/core.Version={stamp}'",
        stamp,
        replace=source,
    )


def build_all() -> dict[str, Path]:
    """{name: binary} for etcd, coredns and kube-webhook-certgen (built or reused)."""
    return {"kube-webhook-certgen": build_certgen(), "etcd": build_etcd(), "coredns": build_coredns()}


if __name__ == "__main__":
    for binary_name, binary_path in build_all().items():
        print(f"{binary_name}: {binary_path}")
