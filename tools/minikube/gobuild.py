"""The Go programs inside minikube's images: kube-webhook-certgen (at the version the ingress
addon uses), metrics-server (the metrics-server addon's) and minikube's storage-provisioner,
compiled here from the Go module proxy and cached under ${TODO_CACHE:-~/.cache/todo}/minikube/bin/;
etcd and CoreDNS are the ones tools/cluster/build.py builds for every cluster (pins.py holds their versions, kubeadm
v1.35.1's own).

Each one is built through a wrapper module (`require <module> <version>`): `go install m@v`
is refused where a module's go.mod has replace lines, and a dependency's replaces are
ignored anyway. A stamp file `.<name>.version` next to each binary holds what it was built
from (version, plus the patch's hash); a matching stamp means "reuse". storage-provisioner is
patched too (STORAGE_PROVISIONER_PATCH: no leader election).

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

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from tools.cache import cache_root, file_lock
from tools.cluster import build as cluster_build
from tools.cluster import pins

CERTGEN_MODULE, CERTGEN_VERSION = "github.com/jet/kube-webhook-certgen", "v1.5.2"
# minikube v1.38.1's addon names v0.8.1; v0.8.0 is the release the Go module proxy serves here.
METRICS_SERVER_MODULE, METRICS_SERVER_VERSION = "sigs.k8s.io/metrics-server", "v0.8.0"

CERTGEN_PATCH: cluster_build.Patch = (
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


# minikube v1.38.1's storage-provisioner elects a leader through an Endpoints lock, which the
# client-go its go.mod requires no longer has: built as it is, it exits at once with "endpoints
# lock is removed, migrate to leases" (upstream's image v5 is a 2021 build of older code). It
# runs as one static Pod per node, so it needs no election at all.
STORAGE_PROVISIONER_PATCH: cluster_build.Patch = (
    (
        "pkg/storage/storage_provisioner.go",
        "serverVersion.GitVersion)",
        "serverVersion.GitVersion, controller.LeaderElection(false))",
    ),
)


class GoBuildError(cluster_build.BuildError):
    pass


def minikube_cache() -> Path:
    return cache_root() / "minikube"


def bin_dir() -> Path:
    return minikube_cache() / "bin"


# One Go environment and runner for every Go build of the harness (tools/cluster/build.py's).
go_env = cluster_build.go_env


def run_go(args: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    return cluster_build.run_go([cluster_build.require_go(), *args], cwd, dict(env))


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
    with file_lock(cluster_build.build_lock(name)):
        if not cluster_build.is_built(name):
            cluster_build.binary_dir(name).mkdir(parents=True, exist_ok=True)
            builder(cluster_build.require_go(), cluster_build.go_env())
    return cluster_build.binary_path(name)


def patched_source(module: str, version: str, patch: cluster_build.Patch, label: str) -> Path:
    """A copy of module@version's source with `patch` applied (cluster_build.patched_source)."""
    name = f"{module.rsplit('/', 1)[-1]}-{version}-{label}-{cluster_build.patch_hash(patch)}"
    return cluster_build.patched_source(module_dir(module, version, go_env()), patch, minikube_cache() / "src" / name)


def patched_certgen_source() -> Path:
    """A copy of kube-webhook-certgen v1.5.2 with CERTGEN_PATCH applied (admissionregistration/v1)."""
    target = patched_source(CERTGEN_MODULE, CERTGEN_VERSION, CERTGEN_PATCH, "v1api")
    leftovers = [str(p) for p in target.rglob("*.go") if "v1beta1" in p.read_text() and not p.name.endswith("_test.go")]
    if leftovers:
        raise GoBuildError(f"certgen patch left admissionregistration v1beta1 in {leftovers}")
    return target


def build_certgen() -> Path:
    """kube-webhook-certgen v1.5.2, patched to admissionregistration/v1 (see CERTGEN_PATCH)."""
    with file_lock("go-kube-webhook-certgen"):
        return _build_certgen()


def _build_certgen() -> Path:
    stamp = f"{CERTGEN_VERSION}+v1api-{cluster_build.patch_hash(CERTGEN_PATCH)}"
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


def build_metrics_server() -> Path:
    """metrics-server (cmd/metrics-server), static, with its version where upstream's Makefile
    puts it (client-go's version package: `/metrics-server --version` and its User-Agent)."""
    with file_lock("go-metrics-server"):
        return build_in_wrapper(
            "metrics-server",
            METRICS_SERVER_MODULE,
            METRICS_SERVER_VERSION,
            f"{METRICS_SERVER_MODULE}/cmd/metrics-server",
            f"-s -w -X k8s.io/client-go/pkg/version.gitVersion={METRICS_SERVER_VERSION}",
            METRICS_SERVER_VERSION,
        )


def build_storage_provisioner() -> Path:
    """minikube's storage-provisioner (gcr.io/k8s-minikube/storage-provisioner), static, with
    STORAGE_PROVISIONER_PATCH (no leader election), and its version as minikube's Makefile sets it."""
    with file_lock("go-storage-provisioner"):
        return _build_storage_provisioner()


def _build_storage_provisioner() -> Path:
    from tools.minikube import build  # minikube's own facts (its Makefile's tag)

    stamp = f"{pins.MINIKUBE_VERSION}+no-leader-election-{cluster_build.patch_hash(STORAGE_PROVISIONER_PATCH)}"
    if _stamped("storage-provisioner", stamp):
        return bin_dir() / "storage-provisioner"
    tag = build.minikube_facts().storage_provisioner_tag
    source = patched_source(
        build.MINIKUBE_MODULE, pins.MINIKUBE_VERSION, STORAGE_PROVISIONER_PATCH, "no-leader-election"
    )
    return build_in_wrapper(
        "storage-provisioner",
        build.MINIKUBE_MODULE,
        pins.MINIKUBE_VERSION,
        "k8s.io/minikube/cmd/storage-provisioner",
        f"-s -w -X k8s.io/minikube/pkg/storage.version={tag}",
        stamp,
        replace=source,
    )


def build_all() -> dict[str, Path]:
    """{name: binary} for etcd, coredns, kube-webhook-certgen, metrics-server and storage-provisioner
    (built or reused)."""
    return {
        "kube-webhook-certgen": build_certgen(),
        "metrics-server": build_metrics_server(),
        "etcd": build_etcd(),
        "coredns": build_coredns(),
        "storage-provisioner": build_storage_provisioner(),
    }


if __name__ == "__main__":
    for binary_name, binary_path in build_all().items():
        print(f"{binary_name}: {binary_path}")
