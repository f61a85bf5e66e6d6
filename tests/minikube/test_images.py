"""minikube's image cache filled by tools.minikube.images, checked with the real Docker engine."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tools.docker.engine import docker, image_id
from tools.minikube import images

pytestmark = pytest.mark.slow


def test_cache_path_follows_minikube_localpath(tmp_path: Path) -> None:
    # localpath.MiniPath(): MINIKUBE_HOME itself when it ends in .minikube, else MINIKUBE_HOME/.minikube
    assert images.cache_path(tmp_path, "registry.k8s.io/etcd:3.6.6-0") == (
        tmp_path / ".minikube/cache/images/amd64/registry.k8s.io/etcd_3.6.6-0"
    )
    home = tmp_path / ".minikube"
    assert images.cache_path(home, "registry.k8s.io/coredns/coredns:v1.13.1") == (
        home / "cache/images/amd64/registry.k8s.io/coredns/coredns_v1.13.1"
    )


def test_names_are_what_kubeadm_asks_for(minikube_binaries: dict[str, Path]) -> None:
    listed = subprocess.run(
        [str(minikube_binaries["kubeadm"]), "config", "images", "list", "--kubernetes-version", "v1.35.1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ours = [ref for name, ref in images.IMAGES.items() if name != "storage-provisioner"]
    assert sorted(listed) == sorted(ours)


@pytest.fixture(scope="module")
def cached(minikube_binaries: dict[str, Path], minikube_home: Path, docker_daemon: None) -> dict[str, Path]:
    return images.build_cache_images(minikube_binaries, minikube_home)


def test_every_image_is_cached_where_minikube_loads_it(cached: dict[str, Path], minikube_home: Path) -> None:
    assert set(cached) == set(images.IMAGES.values())
    for ref, path in cached.items():
        assert path == images.cache_path(minikube_home, ref)
        assert path.is_file()


def test_docker_load_of_each_cache_tar_gives_its_name(cached: dict[str, Path]) -> None:
    """What the node does (`cat <tar> | docker load`), done here after removing the image."""
    for ref, path in cached.items():
        before = image_id(ref)
        docker("image", "rm", ref)
        loaded = docker("load", "--input", str(path), timeout=600).stdout
        assert f"Loaded image: {ref}" in loaded
        assert image_id(ref) == before


def test_rebuild_with_same_inputs_reuses_image_and_tar(
    cached: dict[str, Path], minikube_binaries: dict[str, Path], minikube_home: Path
) -> None:
    ids = {ref: image_id(ref) for ref in cached}
    stamps = {ref: path.stat().st_mtime_ns for ref, path in cached.items()}
    again = images.build_cache_images(minikube_binaries, minikube_home)
    assert {ref: image_id(ref) for ref in again} == ids
    assert {ref: path.stat().st_mtime_ns for ref, path in again.items()} == stamps


@pytest.mark.parametrize(
    ("name", "command", "expected"),
    [
        ("kube-apiserver", ["kube-apiserver", "--version"], r"Kubernetes v1\.35\.1"),
        ("kube-controller-manager", ["kube-controller-manager", "--version"], r"Kubernetes v1\.35\.1"),
        ("kube-scheduler", ["kube-scheduler", "--version"], r"Kubernetes v1\.35\.1"),
        ("kube-proxy", ["/usr/local/bin/kube-proxy", "--version"], r"Kubernetes v1\.35\.1"),
        ("kube-proxy", ["conntrack", "--version"], r"conntrack v1\."),
        ("kube-proxy", ["iptables", "--version"], r"iptables v1\.8\.\d+ \((nf_tables|legacy)\)"),
        ("kube-proxy", ["ip6tables-save", "--version"], r"ip6tables-(nft|legacy)-save v1\.8\.\d+"),
        ("etcd", ["etcd", "--version"], r"etcd Version: 3\.6\.6"),
        ("coredns", ["/coredns", "-version"], r"CoreDNS-1\.13\.1"),
    ],
)
def test_images_run_what_kubeadm_calls(cached: dict[str, Path], name: str, command: list[str], expected: str) -> None:
    """Commands as kubeadm's manifests write them (PATH lookups for the control plane)."""
    proc = docker("run", "--rm", "--entrypoint", command[0], images.IMAGES[name], *command[1:], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(expected, proc.stdout + proc.stderr)


def test_coredns_binds_53_as_nonroot_with_only_net_bind_service(cached: dict[str, Path], tmp_path: Path) -> None:
    """kubeadm's CoreDNS runs the image's user with all capabilities dropped but NET_BIND_SERVICE."""
    (tmp_path / "Corefile").write_text(".:53 {\n    whoami\n}\n")
    tmp_path.chmod(0o755)
    (tmp_path / "Corefile").chmod(0o644)
    name = "todo-test-coredns-bind"
    docker("rm", "--force", name, check=False)
    try:
        docker(
            "run", "--detach", "--name", name, "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
            "--volume", f"{tmp_path}:/etc/coredns:ro", images.IMAGES["coredns"], "-conf", "/etc/coredns/Corefile",
        )  # fmt: skip
        user = docker("inspect", "--format", "{{.Config.User}}", name).stdout.strip()
        assert user == f"{images.NONROOT}:{images.NONROOT}"
        logs = ""
        for _ in range(120):  # until CoreDNS prints its banner or exits; bounded by count
            logs = docker("logs", name).stdout + docker("logs", name).stderr
            state = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
            if "CoreDNS-1.13.1" in logs or state != "true":
                break
            time.sleep(0.5)
        assert "CoreDNS-1.13.1" in logs, logs
        assert "permission denied" not in logs
        assert docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true", logs
    finally:
        docker("rm", "--force", name, check=False)


def test_pause_image_is_the_static_pause(cached: dict[str, Path]) -> None:
    config = docker(
        "image", "inspect", "--format", "{{json .Config.Entrypoint}} {{.Config.User}}", images.IMAGES["pause"]
    )
    assert config.stdout.strip() == '["/pause"] 65535:65535'
