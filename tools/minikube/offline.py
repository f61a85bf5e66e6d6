"""`make minikube-offline`: what a real `minikube start` and `minikube addons enable ingress`
download, prepared from what a machine without container registries can reach.

Steps (each cached; a rerun with nothing changed only checks):
  1. compile minikube, cri-dockerd and crictl (tools/minikube/build.py), storage-provisioner
     (gobuild.py, patched: see STORAGE_PROVISIONER_PATCH) and Kubernetes, etcd, CoreDNS and
     Traefik (tools/cluster/build.py, shared with the other clusters of the tests);
  2. the kic base image from Debian packages (tools/minikube/kicbase.py);
  3. kubeadm, kubelet and kubectl into minikube's binary cache;
  4. the control-plane and storage-provisioner images into minikube's image cache, and the
     images of the ingress addon (controller substitute and certgen) and of the metrics-server
     addon into the local Docker engine (tools/minikube/images.py, ingress.py, metrics_server.py);
  5. the substitute of kindnet's image (the CNI of a multi-node profile) into minikube's cache,
     and it, pause, kube-proxy and CoreDNS on minikube's list of images loaded into every node
     as it starts (a worker node gets none of kubeadm's images otherwise; tools/minikube/kindnet.py);
  6. the record (`$MINIKUBE_HOME/.minikube/todo-offline.json`) of the extra flags this needs,
     which the minikube role reads and prints: after this the user's plain `make deploy` is
     the command.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from tools.cluster import build as cluster_build
from tools.cluster import pins
from tools.docker import base_images, engine
from tools.minikube import build, gobuild, images, ingress, kicbase, kindnet, metrics_server, paths

T = TypeVar("T")


@dataclass
class OfflineRecord:
    """What the deploy adds to minikube's commands on this machine (roles/minikube/tasks/offline.yml)."""

    kubernetes_version: str
    start_args: list[str]
    # addon name -> extra `minikube addons enable` arguments.
    addon_args: dict[str, list[str]]
    # Images the deploy loads into the node when it lacks them (`minikube image load`): the
    # local stand-ins of the public base images the app images build FROM.
    node_images: list[str] = field(default_factory=list)
    # addon name -> the images it runs, loaded the same way only when the deploy enables that
    # addon (a profile without autoscaling never gets metrics-server's).
    addon_images: dict[str, list[str]] = field(default_factory=dict)
    # Build args of the app images (PYTHON_IMAGE / NODE_IMAGE: the stand-ins, as the public
    # bases cannot be pulled).
    image_build_args: dict[str, str] = field(default_factory=dict)
    # Added to the environment of every minikube command (no update checks against GitHub).
    env: dict[str, str] = field(default_factory=dict)


# The API server reaches aggregated APIs (metrics-server's metrics.k8s.io) at their endpoints'
# addresses instead of their Service's. Here a connection to an address no route leads to is
# answered (with a 404 on :443) by this machine's network, not refused or left to time out as on
# a laptop. The aggregator checks an APIService the moment the addon creates it, before kube-proxy
# has the Service's rule, so it connects past kube-proxy to that answer, keeps the HTTP/2
# connection, and the APIService stays unavailable ("FailedDiscoveryCheck ... 404") for good;
# pod addresses are routed inside the node from the start. What real minikube on a laptop does
# not need, and only the aggregated APIs' routing differs.
AGGREGATOR_ROUTING = "--extra-config=apiserver.enable-aggregator-routing=true"

# The app Dockerfiles' base-image build args and the local stand-ins for them.
BASE_IMAGE_ARGS = {"PYTHON_IMAGE": base_images.PYTHON_TAG, "NODE_IMAGE": base_images.NODE_TAG}


def log(message: str) -> None:
    print(f"[minikube offline] {message}", flush=True)


def timed(name: str, timings: dict[str, float], step: Callable[[], T]) -> T:
    started = time.monotonic()
    result = step()
    timings[name] = time.monotonic() - started
    log(f"{name}: {timings[name]:.0f}s")
    return result


def fill_binaries_cache(kube_bin: Path, kubernetes_version: str) -> Path:
    target = paths.binaries_cache(kubernetes_version)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("kubeadm", "kubelet", "kubectl"):
        destination = target / name
        source = kube_bin / name
        if destination.is_file() and destination.stat().st_size == source.stat().st_size:
            continue
        staging = destination.with_name(name + ".new")
        shutil.copyfile(source, staging)
        staging.chmod(0o755)
        staging.replace(destination)
    return target


def prepare(with_metrics_server: bool = False) -> OfflineRecord:
    """Build and record what `minikube start` downloads. metrics-server (only autoscaling needs
    it, and its compile is one of the longest) is built when asked for, and recorded whenever
    its image is here."""
    if not engine.privileged_containers_work():
        raise engine.DockerError(
            "this Docker daemon cannot start --privileged containers here (the sandbox lacks "
            "CAP_SYS_RESOURCE) and minikube always starts its node that way; start dockerd with "
            "`python -m tools.docker ensure-daemon` (it adds runc-shim) or restart yours with its "
            f"--add-runtime/--default-runtime flags ({engine.SHIM_RUNTIME})"
        )
    timings: dict[str, float] = {}
    version = pins.KUBERNETES_VERSION
    timed("kubernetes binaries", timings, lambda: cluster_build.build(addons=True))
    programs = timed("minikube binaries", timings, build.build)
    base_image = timed(
        "kic base image",
        timings,
        lambda: kicbase.ensure(pins.MINIKUBE_VERSION, build.minikube_module_dir(), programs, build.cri_dockerd_units()),
    )
    timed("binary cache", timings, lambda: fill_binaries_cache(pins.bin_dir(), version))
    binaries = {name: pins.bin_dir() / name for name in (*pins.KUBE_COMMANDS, "etcd")}
    binaries["coredns"] = cluster_build.binary_path("coredns")
    binaries["storage-provisioner"] = timed("storage-provisioner", timings, gobuild.build_storage_provisioner)
    minikube_home = minikube_home_env()
    timed("image cache", timings, lambda: images.build_cache_images(binaries, minikube_home))
    addon = timed(
        "ingress addon images",
        timings,
        lambda: ingress.build_ingress_images(cluster_build.binary_path("traefik"), gobuild.build_certgen()),
    )
    metrics = None
    if with_metrics_server or engine.image_id(metrics_server.IMAGE):
        metrics = timed(
            "metrics-server addon image",
            timings,
            lambda: metrics_server.build_metrics_server_image(gobuild.build_metrics_server()),
        )
    else:
        log("metrics-server addon image: not built (only autoscaling needs it: make minikube-offline-autoscaling)")
    timed("kindnet image", timings, kindnet.build_image)
    timed("kindnet in minikube's cache", timings, lambda: kindnet.save_to_cache(minikube_home))
    every_node = [kindnet.IMAGE, *(images.IMAGES[name] for name in images.WORKER_IMAGES)]
    images.list_for_every_node(minikube_home, every_node)
    addon_args = {"ingress": [f"--images={ingress.addon_images_flag()}"]}
    addon_images = {"ingress": [addon["controller"], addon["certgen"]]}
    if metrics:
        addon_args[metrics_server.ADDON] = [f"--images={metrics_server.addon_images_flag(metrics)}"]
        addon_images[metrics_server.ADDON] = [metrics]
    record = OfflineRecord(
        kubernetes_version=version,
        # --force: minikube refuses the docker driver as root without it (CI runs as root).
        start_args=[
            f"--base-image={base_image}",
            "--preload=false",
            *(["--force"] if os.geteuid() == 0 else []),
            AGGREGATOR_ROUTING,
        ],
        addon_args=addon_args,
        node_images=list(BASE_IMAGE_ARGS.values()),
        addon_images=addon_images,
        image_build_args=dict(BASE_IMAGE_ARGS),
        env={"MINIKUBE_WANTUPDATENOTIFICATION": "false"},
    )
    write_record(record)
    return record


def minikube_home_env() -> Path:
    """MINIKUBE_HOME as given (images.mini_path resolves it as minikube does), or the home dir."""
    return Path(os.environ.get("MINIKUBE_HOME") or Path.home())


def write_record(record: OfflineRecord) -> Path:
    path = paths.record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    staging.write_text(json.dumps(asdict(record), indent=2) + "\n")
    staging.replace(path)
    return path


def main(with_metrics_server: bool = False) -> None:
    record = prepare(with_metrics_server)
    log(f"recorded in {paths.record_path()}; `make deploy` adds to minikube start: {' '.join(record.start_args)}")
