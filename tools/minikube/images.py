"""minikube's image cache, filled from binaries built here: no registry is reachable.

`minikube start --kubernetes-version v1.35.1 --container-runtime docker --preload=false` loads
every image kubeadm v1.35.1 asks for (plus its storage-provisioner) from
`<MiniPath>/cache/images/amd64/<registry>/<path>_<tag>` into the node with `docker load`, and
kubeadm then pulls nothing. Read from minikube v1.38.1's own source:

- `localpath.MiniPath()`: $MINIKUBE_HOME if its basename is `.minikube`, else
  $MINIKUBE_HOME/.minikube (~/.minikube without the variable); `detect.ImageCacheDir()` adds
  cache/images/<GOARCH>; `localpath.SanitizeCacheDir` turns every `:` into `_`.
- The file is a docker-save archive (`image.writeImage` uses go-containerregistry's
  tarball.Write, which `docker load` reads; `docker save` writes the same layout). Only its
  existence is checked before `sudo cat <tar> | docker load` in the node
  (`machine.transferAndLoadCachedImage`, `cruntime.Docker.LoadImage`).
- Names and tags: `bootstrapper/images.essentials()` (= `kubeadm config images list
  --kubernetes-version v1.35.1`, tags from `constants.KubeadmImages["v1.35.1"]`) and
  `auxiliary()`: gcr.io/k8s-minikube/storage-provisioner:<storageProvisionerVersion> (v5, the
  tag minikube's Makefile and our build pass).

The images hold what the pods run, as kubeadm's manifests call it: `kube-apiserver`,
`kube-controller-manager`, `kube-scheduler` and `etcd` from PATH (/usr/local/bin),
`/usr/local/bin/kube-proxy` (with iptables, ip6tables, conntrack and ipset: Debian), `/coredns`
(non-root with cap_net_bind_service, as upstream's image), `/pause`, `/storage-provisioner`.
Static Go binaries sit on a scratch image with a small root filesystem (passwd/group with
nonroot 65532, /tmp, the CA bundle), like the distroless bases upstream uses.

Each image carries RECIPE_LABEL, a hash of its Dockerfile, its files' contents and its base
image's own recipe hash; an image with the current hash is reused, and a cache tar is rewritten
only when its manifest does not name the current image ID.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tools.cache import file_lock
from tools.cluster import pause, pins
from tools.docker import base_images
from tools.docker.engine import DockerError, cache_dir, docker, docker_build, ensure_daemon, image_id
from tools.minikube import paths

KUBERNETES_VERSION = pins.KUBERNETES_VERSION
STORAGE_PROVISIONER_TAG = "v5"
ARCH = "amd64"
RECIPE_LABEL = "todo.minikube-image.recipe-sha256"

# What kubeadm v1.35.1 and minikube v1.38.1 ask for, keyed by the binary each image runs.
IMAGES: dict[str, str] = {
    "kube-apiserver": f"registry.k8s.io/kube-apiserver:{KUBERNETES_VERSION}",
    "kube-controller-manager": f"registry.k8s.io/kube-controller-manager:{KUBERNETES_VERSION}",
    "kube-scheduler": f"registry.k8s.io/kube-scheduler:{KUBERNETES_VERSION}",
    "kube-proxy": f"registry.k8s.io/kube-proxy:{KUBERNETES_VERSION}",
    "pause": "registry.k8s.io/pause:3.10.1",
    "etcd": "registry.k8s.io/etcd:3.6.6-0",
    "coredns": "registry.k8s.io/coredns/coredns:v1.13.1",
    "storage-provisioner": f"gcr.io/k8s-minikube/storage-provisioner:{STORAGE_PROVISIONER_TAG}",
}
# What a worker node's kubelet needs before any Pod of ours: kubeadm's images are loaded into the
# control plane only (bootstrapper UpdateCluster; a worker relies on the preload tarball or a
# registry, neither of which exists here), so these go on the list loaded into every node.
WORKER_IMAGES = ("pause", "kube-proxy", "coredns")
# Binaries the caller passes (the lead's Kubernetes and minikube builds); etcd and coredns may be
# passed too, otherwise tools.minikube.gobuild builds them; pause is compiled from pause.py.
REQUIRED_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "storage-provisioner")

NONROOT = 65532

# A distroless-like root filesystem assembled in a Debian stage and copied onto scratch.
# libcap2-bin gives setcap for binaries that bind low ports as non-root (coredns, traefik).
ROOTFS_STAGE = f"""\
FROM {base_images.DEBIAN_TAG} AS rootfs
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends libcap2-bin \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /out/tmp /out/etc/ssl/certs /out/home/nonroot \\
 && chmod 1777 /out/tmp \\
 && printf 'root:x:0:0:root:/root:/sbin/nologin\\n' > /out/etc/passwd \\
 && printf 'nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\\n' >> /out/etc/passwd \\
 && printf 'root:x:0:\\nnonroot:x:{NONROOT}:\\n' > /out/etc/group \\
 && printf 'hosts: files dns\\n' > /out/etc/nsswitch.conf \\
 && chown {NONROOT}:{NONROOT} /out/home/nonroot \\
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/
"""
PATH_ENV = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def static_dockerfile(
    binary: str, target: str, *, user: int = 0, net_bind: bool = False, entrypoint: bool = True
) -> str:
    """A scratch image with the root filesystem above and one static binary at `target`.

    entrypoint=False: the binary is only the CMD, so `docker run <image> etcd --flags` works
    the way kubeadm's manifests call the control plane (`command: [etcd, ...]`).
    """
    setcap = f"RUN setcap cap_net_bind_service=+ep /out{target}\n" if net_bind else ""
    run = f'ENTRYPOINT ["{target}"]' if entrypoint else f'CMD ["{target}"]'
    return (
        ROOTFS_STAGE
        + f"COPY {binary} /out{target}\n"
        + setcap
        + f"FROM scratch\nCOPY --from=rootfs /out/ /\n{PATH_ENV}\nUSER {user}:{user}\n{run}\n"
    )


# Debian's iptables is iptables-nft by default; kube-proxy must use the same backend as the node's
# kubelet and dockerd. Like upstream's iptables-wrapper (kube-proxy's image), pick the backend
# whose tables already hold kubelet's/Docker's chains, once, on the first call.
IPTABLES_WRAPPER = r"""#!/bin/sh
# Chooses iptables-legacy or iptables-nft by the rules the node already has (upstream's
# iptables-wrapper, simplified), points the alternatives at it, removes itself from PATH and
# runs the chosen binary.
set -e
count() { ("$1-save" -t mangle; "$1-save"; "$2-save" -t mangle) 2>/dev/null | grep -c '^-' || true; }
mode=nft
if iptables-legacy-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then
  mode=legacy
elif ! iptables-nft-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT \
     && [ "$(count iptables-legacy ip6tables-legacy)" -gt "$(count iptables-nft ip6tables-nft)" ]; then
  mode=legacy
fi
update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null 2>&1 || true
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null 2>&1 || true
rm -f /usr/local/sbin/iptables /usr/local/sbin/iptables-save /usr/local/sbin/iptables-restore \
      /usr/local/sbin/ip6tables /usr/local/sbin/ip6tables-save /usr/local/sbin/ip6tables-restore || true
name=$(basename "$0")
family=${name%%-*}
exec "/usr/sbin/$family-$mode${name#"$family"}" "$@"
"""

# The Dockerfile steps that put the wrapper (build-context file "iptables-wrapper") in front of
# iptables: kube-proxy's image and the kindnet substitute's (tools/minikube/kindnet.py).
IPTABLES_WRAPPER_STEPS = """\
COPY iptables-wrapper /usr/sbin/iptables-wrapper
RUN chmod 0755 /usr/sbin/iptables-wrapper \\
 && for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \\
      ln -sf /usr/sbin/iptables-wrapper /usr/local/sbin/$tool; done
"""

KUBE_PROXY_DOCKERFILE = f"""\
FROM {base_images.DEBIAN_TAG}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends iptables conntrack ipset kmod \\
 && rm -rf /var/lib/apt/lists/*
{IPTABLES_WRAPPER_STEPS}COPY kube-proxy /usr/local/bin/kube-proxy
CMD ["/usr/local/bin/kube-proxy"]
"""

PAUSE_DOCKERFILE = """\
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
"""


def dockerfiles() -> dict[str, str]:
    """The Dockerfile of each image, keyed like IMAGES."""
    files = {
        name: static_dockerfile(name, f"/usr/local/bin/{name}", entrypoint=False)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
    }
    files["coredns"] = static_dockerfile("coredns", "/coredns", user=NONROOT, net_bind=True)
    files["storage-provisioner"] = static_dockerfile("storage-provisioner", "/storage-provisioner")
    files["kube-proxy"] = KUBE_PROXY_DOCKERFILE
    files["pause"] = PAUSE_DOCKERFILE
    return files


# --------------------------------------------------------------------------------------------
# Where minikube looks
# --------------------------------------------------------------------------------------------


def mini_path(minikube_home: Path) -> Path:
    """localpath.MiniPath() for MINIKUBE_HOME=minikube_home (tools/minikube/paths.py owns the rule)."""
    return paths.mini_path({"MINIKUBE_HOME": str(minikube_home)})


def image_cache_dir(minikube_home: Path, arch: str = ARCH) -> Path:
    return mini_path(minikube_home) / "cache" / "images" / arch


def cache_path(minikube_home: Path, ref: str, arch: str = ARCH) -> Path:
    """The file minikube loads `ref` from: <cache>/<registry>/<path>_<tag>."""
    return image_cache_dir(minikube_home, arch) / ref.replace(":", "_")


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recipe_digest(dockerfile: str, files: Mapping[str, Path], base_recipe: str) -> str:
    recipe = {
        "revision": 1,
        "dockerfile": dockerfile,
        "files": {name: file_sha256(path) for name, path in sorted(files.items())},
        "base": base_recipe,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def build_image(ref: str, dockerfile: str, files: Mapping[str, Path], *, force: bool = False) -> bool:
    """Build `ref` from `dockerfile` with `files` (context name -> path) unless an image with
    the same recipe exists (the Debian base's own recipe hash is part of it when the Dockerfile
    uses that base). Returns True if built."""
    base_recipe = base_images.image_labels(base_images.DEBIAN_TAG).get(base_images.RECIPE_LABEL, "")
    if "FROM " + base_images.DEBIAN_TAG in dockerfile and not base_recipe:
        raise DockerError(f"{base_images.DEBIAN_TAG} is missing: run `python -m tools.docker base-images`")
    digest = recipe_digest(dockerfile, files, base_recipe if base_images.DEBIAN_TAG in dockerfile else "")
    if not force and base_images.image_labels(ref).get(RECIPE_LABEL) == digest:
        return False
    (cache_dir() / "tmp").mkdir(exist_ok=True)
    context = Path(tempfile.mkdtemp(prefix="minikube-image-", dir=cache_dir() / "tmp"))
    try:
        for name, path in files.items():
            target = context / name
            try:
                os.link(path, target)  # same filesystem: no copy of a 100 MB binary
            except OSError:
                shutil.copy2(path, target)
        (context / "Dockerfile").write_text(dockerfile)
        previous = image_id(ref)
        docker_build(context, None, ref, labels={RECIPE_LABEL: digest}, no_cache=force)
        if previous and previous != image_id(ref):
            docker("image", "rm", previous, check=False)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return True


def saved_image_ids(archive: Path) -> dict[str, str]:
    """{repo:tag: image ID} recorded in a docker-save archive's manifest.json."""
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member else []
    except (OSError, tarfile.TarError, KeyError, ValueError):
        return {}
    ids = {}
    for entry in manifest:
        config = entry.get("Config", "")
        image = "sha256:" + Path(config).name.removesuffix(".json").removeprefix("sha256:")
        for tag in entry.get("RepoTags") or []:
            ids[tag] = image
    return ids


def save_to_cache(ref: str, destination: Path) -> bool:
    """`docker save ref` into `destination` unless it already holds the current image. True if written."""
    current = image_id(ref)
    if current is None:
        raise DockerError(f"{ref} is not in the Docker engine")
    if destination.is_file() and saved_image_ids(destination).get(ref) == current:
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    docker("save", "--output", str(partial), ref, timeout=600)
    partial.replace(destination)
    return True


def image_inputs(binaries: Mapping[str, Path]) -> dict[str, dict[str, Path]]:
    """The build-context files of every image, keyed like IMAGES."""
    missing = [name for name in REQUIRED_BINARIES if not Path(binaries.get(name, "")).is_file()]
    if missing:
        raise DockerError(f"binaries missing for minikube's images: {', '.join(missing)}")
    resolved = dict(binaries)
    if "etcd" not in resolved or "coredns" not in resolved:
        from tools.minikube import gobuild

        resolved.setdefault("etcd", gobuild.build_etcd())
        resolved.setdefault("coredns", gobuild.build_coredns())
    pause_binary = cache_dir() / "minikube" / "pause"
    compiled = pause.pause_binary()
    if not pause_binary.is_file() or pause_binary.read_bytes() != compiled:
        pause_binary.parent.mkdir(parents=True, exist_ok=True)
        pause_binary.write_bytes(compiled)
        pause_binary.chmod(0o755)
    inputs: dict[str, dict[str, Path]] = {name: {name: Path(resolved[name])} for name in IMAGES if name != "pause"}
    inputs["pause"] = {"pause": pause_binary}
    inputs["kube-proxy"]["iptables-wrapper"] = iptables_wrapper_file()
    return inputs


def iptables_wrapper_file() -> Path:
    """IPTABLES_WRAPPER as a build-context file (kept in the cache, rewritten when it changes)."""
    wrapper = cache_dir() / "minikube" / "iptables-wrapper"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    if not wrapper.is_file() or wrapper.read_text() != IPTABLES_WRAPPER:
        wrapper.write_text(IPTABLES_WRAPPER)
    return wrapper


def build_images(binaries: Mapping[str, Path], *, force: bool = False) -> dict[str, str]:
    """Build (or reuse) every image in IMAGES in the local Docker engine; return {name: ref}.

    binaries: paths of kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy and
    storage-provisioner (linux/amd64, static), optionally etcd and coredns.
    """
    ensure_daemon()
    base_images.ensure_base_images()
    inputs = image_inputs(binaries)
    files = dockerfiles()
    with file_lock("minikube-images"):
        for name, ref in IMAGES.items():
            build_image(ref, files[name], inputs[name], force=force)
    return dict(IMAGES)


def build_cache_images(binaries: Mapping[str, Path], minikube_home: Path, *, force: bool = False) -> dict[str, Path]:
    """Build the images and write each into minikube's image cache; return {ref: cache tar}."""
    refs = build_images(binaries, force=force)
    cached = {}
    with file_lock("minikube-image-cache"):
        for ref in refs.values():
            destination = cache_path(minikube_home, ref)
            save_to_cache(ref, destination)
            cached[ref] = destination
    return cached


def config_file(minikube_home: Path) -> Path:
    """minikube's global config (localpath.ConfigFile()): <MiniPath>/config/config.json."""
    return mini_path(minikube_home) / "config" / "config.json"


def list_for_every_node(minikube_home: Path, refs: list[str]) -> None:
    """List images (already in the image cache) under `cache` in minikube's global config, which
    minikube loads into every node of a profile each time one of its nodes starts (node/start.go
    CacheAndLoadImagesInConfig; an image the node already has with the same ID is skipped). That
    is what `minikube cache add` writes (cmd/config AddToConfigMap: {"cache": {"<ref>": null}});
    the command itself cannot do it here: it refuses without an existing profile, and its --all
    is never read (v1.38.1 cmd/cache.go: the flag is not bound to viper)."""
    missing = [ref for ref in refs if not cache_path(minikube_home, ref).is_file()]
    if missing:
        raise DockerError(f"not in minikube's image cache: {', '.join(missing)}")
    with file_lock("minikube-image-cache"):
        path = config_file(minikube_home)
        config = json.loads(path.read_text()) if path.is_file() else {}
        listed = dict(config.get("cache") or {})
        if all(ref in listed for ref in refs):
            return
        config["cache"] = {**listed, **dict.fromkeys(refs)}
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".new")
        staging.write_text(json.dumps(config, indent=4) + "\n")
        staging.replace(path)
