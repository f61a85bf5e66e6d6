"""A real Helm 4 for the tests, compiled from its Go module (helm.sh/helm/v4, served by the Go
module proxy) into $TODO_CACHE/build/helm-<version>/helm and reused from there; the Go module and
build caches are $TODO_CACHE/go/{mod,build}, shared with the project's other Go builds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VERSION = "v4.0.1"
MODULE = "helm.sh/helm/v4"


def cache_dir() -> Path:
    return Path(os.environ.get("TODO_CACHE", Path.home() / ".cache" / "todo"))


def built(helm: Path) -> bool:
    """Ours and complete: the version, and the Kubernetes version its `helm template` assumes."""
    if not helm.exists():
        return False
    said = subprocess.run([helm, "version"], capture_output=True, text=True, check=False).stdout
    return f'Version:"{VERSION}"' in said and 'KubeClientVersion:"v1.' in said


def binary() -> Path:
    """The helm 4 binary, built on first use (minutes: it compiles client-go) with the ldflags of
    helm's own Makefile (without the k8s version ones, `helm template` assumes Kubernetes 1.20)."""
    root = cache_dir() / "build" / f"helm-{VERSION}"
    helm = root / "helm"
    if built(helm):
        return helm
    go = shutil.which("go")
    assert go, f"building Helm {VERSION} for the tests needs Go (1.25 or newer) on PATH"
    root.mkdir(parents=True, exist_ok=True)
    (root / "go.mod").write_text(f"module todo.local/helm-build\n\ngo 1.25\n\nrequire {MODULE} {VERSION}\n")
    (root / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{MODULE}/cmd/helm"\n')
    env = {
        **os.environ,
        "GOMODCACHE": str(cache_dir() / "go" / "mod"),
        "GOCACHE": str(cache_dir() / "go" / "build"),
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }

    def go_run(*args: str) -> str:
        done = subprocess.run(["nice", "-n", "10", go, *args], cwd=root, env=env, capture_output=True, text=True,
                              check=False)  # fmt: skip
        assert done.returncode == 0, f"go {' '.join(args)} failed in {root}:\n{done.stderr[-3000:]}"
        return done.stdout

    go_run("mod", "tidy")
    # As helm's Makefile: client-go v0.34.1 -> Kubernetes 1.34.
    client_go = go_run("list", "-m", "-f", "{{.Version}}", "k8s.io/client-go").strip().lstrip("v").split(".")
    major, minor = str(int(client_go[0]) + 1), client_go[1]
    ldflags = [f"-X {MODULE}/internal/version.version={VERSION}"]
    for package in ("pkg/chart/v2/lint/rules", "pkg/internal/v3/lint/rules", "pkg/chart/common"):
        ldflags += [f"-X {MODULE}/{package}.k8sVersionMajor={major}", f"-X {MODULE}/{package}.k8sVersionMinor={minor}"]
    ldflags += [f"-X {MODULE}/internal/version.kubeClientVersionMajor={major}",
                f"-X {MODULE}/internal/version.kubeClientVersionMinor={minor}"]  # fmt: skip
    go_run("build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", "helm", f"{MODULE}/cmd/helm")
    assert built(helm), f"{helm} was built but does not say it is Helm {VERSION}"
    return helm
