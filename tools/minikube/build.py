"""Compile minikube and what its offline node needs from the Go module proxy, pinned and cached.

- minikube: through a wrapper module (`require k8s.io/minikube`), with the version variables
  minikube's own Makefile sets (without them it reports
  `v0.0.0-unset` and asks for a storage-provisioner image with an empty tag). The version
  facts come from the module itself: the commit from the proxy's origin record, the ISO and
  storage-provisioner tags from its Makefile. `-tags libvirt_dlopen` with cgo, as the Makefile
  builds it (the kvm2 driver's bindings need cgo; the tag avoids libvirt's headers). Its
  storage-provisioner runs in an image, so it is one of gobuild.py's image programs.
- cri-dockerd and crictl: built inside a copy of their own module (cri-dockerd's go.mod has
  `replace` lines, which a wrapper module would lose).

Everything lands in $TODO_CACHE/minikube/<name>/<version>/ with a stamp, and shares the one Go
module and build cache of the harness (tools/cluster/pins.go_dir()).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tools.cache import file_lock
from tools.cluster import build as cluster_build
from tools.cluster import pins

MINIKUBE_MODULE = "k8s.io/minikube"


@dataclass(frozen=True)
class GoProgram:
    name: str
    module: str
    version: str
    package: str


MINIKUBE = GoProgram("minikube", MINIKUBE_MODULE, pins.MINIKUBE_VERSION, "k8s.io/minikube/cmd/minikube")
CRI_DOCKERD = GoProgram("cri-dockerd", "github.com/Mirantis/cri-dockerd", pins.CRI_DOCKERD_VERSION, ".")
CRICTL = GoProgram("crictl", "sigs.k8s.io/cri-tools", pins.CRICTL_VERSION, "./cmd/crictl")
PROGRAMS = (MINIKUBE, CRI_DOCKERD, CRICTL)


def log(message: str) -> None:
    print(f"[minikube build] {message}", flush=True)


def root() -> Path:
    return pins.cache_root() / "minikube"


def binary_path(program: GoProgram) -> Path:
    return root() / program.name / program.version / program.name


def is_built(program: GoProgram) -> bool:
    return binary_path(program).is_file()


def module_dir(module: str, version: str) -> Path:
    """The module's source in the shared module cache (downloaded when missing)."""
    env = cluster_build.go_env()
    work = root() / "work"
    work.mkdir(parents=True, exist_ok=True)
    info = cluster_build.module_info(module, version, env, work)
    return Path(info["Dir"])


@dataclass(frozen=True)
class MinikubeFacts:
    commit: str
    iso_version: str
    storage_provisioner_tag: str


def minikube_facts(version: str = pins.MINIKUBE_VERSION) -> MinikubeFacts:
    env = cluster_build.go_env()
    work = root() / "work"
    work.mkdir(parents=True, exist_ok=True)
    info = cluster_build.module_info(MINIKUBE_MODULE, version, env, work)
    origin = json.loads(Path(info["Info"]).read_text()).get("Origin", {})
    makefile = (Path(info["Dir"]) / "Makefile").read_text()

    def make_var(name: str) -> str:
        match = re.search(rf"^{name}\s*\?=\s*(\S+)", makefile, flags=re.MULTILINE)
        if not match:
            raise cluster_build.BuildError(f"{name} not found in minikube {version}'s Makefile")
        return match[1]

    return MinikubeFacts(
        commit=origin.get("Hash", "unknown-go-module-proxy"),
        iso_version=make_var("ISO_VERSION"),
        storage_provisioner_tag=make_var("STORAGE_PROVISIONER_TAG"),
    )


def _build_minikube(go: str) -> None:
    """minikube itself, as its Makefile builds it: cgo on (the kvm2 driver's libvirt bindings do
    not compile without it), the libvirt_dlopen tag, and the version facts as -X flags."""
    facts = minikube_facts()
    env = dict(cluster_build.go_env(), CGO_ENABLED="1")
    wrapper = root() / "wrapper" / f"minikube-{pins.MINIKUBE_VERSION}"
    version_pkg = "k8s.io/minikube/pkg/version"
    ldflags = (
        f"-s -w -X {version_pkg}.version={pins.MINIKUBE_VERSION} -X {version_pkg}.gitCommitID={facts.commit}"
        f" -X {version_pkg}.isoVersion={facts.iso_version}"
        f" -X {version_pkg}.storageProvisionerVersion={facts.storage_provisioner_tag}"
    )
    started = time.monotonic()
    log(f"compiling minikube {MINIKUBE.version} (first time: several minutes)")
    output = binary_path(MINIKUBE)
    staging = output.with_name(output.name + ".new")
    cluster_build.build_in_wrapper(
        go, env, wrapper, MINIKUBE_MODULE, MINIKUBE.version, MINIKUBE.package, staging, ldflags,
        build_flags=["-tags", "libvirt_dlopen"],
    )  # fmt: skip
    staging.replace(output)
    log(f"compiled minikube in {time.monotonic() - started:.0f}s")


def _build_in_module_copy(go: str, program: GoProgram, ldflags: str) -> None:
    """`go build` inside a writable copy of the module, so its own go.mod (replace lines,
    vendor tree) applies."""
    source = module_dir(program.module, program.version)
    work = root() / "src" / f"{program.name}-{program.version}"
    if not work.is_dir():
        staging = work.with_name(work.name + ".copy")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        for path in [staging, *staging.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        staging.replace(work)
    # -mod=mod (go_env's): module zips carry no vendor tree, only its modules.txt.
    env = cluster_build.go_env()
    output = binary_path(program)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging_out = output.with_name(output.name + ".new")
    started = time.monotonic()
    log(f"compiling {program.name} {program.version}")
    cluster_build.run_go(
        [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging_out), program.package], work, env
    )
    staging_out.replace(output)
    log(f"compiled {program.name} in {time.monotonic() - started:.0f}s")


def build(programs: tuple[GoProgram, ...] = PROGRAMS, force: bool = False) -> dict[str, Path]:
    """Make sure each program is compiled; return {name: path}."""
    for program in programs:
        with file_lock(f"go-{program.name}"):
            if force or not is_built(program):
                _build(program)
    return {program.name: binary_path(program) for program in programs}


def _build(program: GoProgram) -> None:
    go = cluster_build.require_go()
    if program is MINIKUBE:
        _build_minikube(go)
    elif program is CRI_DOCKERD:
        _build_in_module_copy(
            go,
            CRI_DOCKERD,
            f"-s -w -X github.com/Mirantis/cri-dockerd/cmd/version.Version={CRI_DOCKERD.version.lstrip('v')}"
            " -X github.com/Mirantis/cri-dockerd/cmd/version.GitCommit=go-module-proxy",
        )
    elif program is CRICTL:
        _build_in_module_copy(go, CRICTL, f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={CRICTL.version}")
    else:
        raise ValueError(f"no build recipe for {program.name}")


def cri_dockerd_units() -> Path:
    """cri-dockerd's own systemd units (packaging/systemd in its module)."""
    return module_dir(CRI_DOCKERD.module, CRI_DOCKERD.version) / "packaging" / "systemd"


def minikube_module_dir() -> Path:
    return module_dir(MINIKUBE_MODULE, pins.MINIKUBE_VERSION)


if __name__ == "__main__":
    for name, path in build().items():
        print(f"{name}: {path} ({os.path.getsize(path) / 1e6:.0f} MB)")
