"""The kic base image `minikube start --driver=docker` boots as its node, built here.

minikube's own image (gcr.io/k8s-minikube/kicbase) cannot be pulled on a machine that reaches
no container registry, so this builds one from Debian packages that installs what minikube's
`deploy/kicbase/Dockerfile` (in the module we compile) installs for the **docker** runtime:
systemd as init behind minikube's own `entrypoint` script (copied from the module, with kind's
cgroup v1 fixes), sshd and the passwordless-sudo `docker` user minikube provisions over ssh,
Docker Engine with cri-dockerd (compiled from its module) and its systemd units, crictl, the
CNI plugins, conntrack, socat, iptables and the rest of the upstream package list.

Where it differs from upstream (documented in tools/minikube/README.md): Debian's docker.io
(20.10) instead of docker-ce (linked at docker-ce's /usr/bin/dockerd, where minikube's unit
looks); no containerd-as-runtime extras (nerdctl, buildkit), cri-o,
podman or the NVIDIA toolkit; and runc sits behind `runc-shim` (tools/docker/runc-shim), because
kubelet asks for oom_score_adj -998 for each pod sandbox and this machine's sandbox lacks the
CAP_SYS_RESOURCE that lowering it needs. A laptop never runs this image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tools.cache import file_lock
from tools.docker import base_images, engine

REPOSITORY = "todo-offline/kicbase"
RECIPE_LABEL = "todo.kicbase.recipe-sha256"
RUNC_SHIM = Path(__file__).resolve().parents[1] / "docker" / "runc-shim"

# From the module's deploy/kicbase: the entry point and the files it COPYs for every runtime.
MODULE_FILES = {
    "entrypoint": "usr/local/bin/entrypoint",
    "clean-install": "usr/local/bin/clean-install",
    "10-network-security.conf": "etc/sysctl.d/10-network-security.conf",
    "11-tcp-mtu-probing.conf": "etc/sysctl.d/11-tcp-mtu-probing.conf",
}

# deploy/kicbase/Dockerfile's package list, less what only other runtimes use, plus Debian's
# Docker Engine (docker-ce there) and CNI plugins (a release tarball there).
PACKAGES = (
    "systemd dbus",
    "conntrack iptables iproute2 ethtool socat util-linux mount ebtables udev kmod",
    "libseccomp2 pigz",
    "bash ca-certificates curl rsync",
    "iputils-ping netcat-openbsd vim-tiny",
    "lz4 gnupg sudo openssh-server dnsutils",
    "docker.io containernetworking-plugins",
)

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
COPY rootfs/ /
# The steps of minikube's deploy/kicbase/Dockerfile, in its order, for the docker runtime.
RUN rm -f /usr/sbin/policy-rc.d \\
 && chmod +x /usr/local/bin/clean-install /usr/local/bin/entrypoint \\
 && DEBIAN_FRONTEND=noninteractive clean-install \\
      {packages} \\
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* \\
 && rm -f /etc/systemd/system/*.wants/* \\
 && rm -f /lib/systemd/system/local-fs.target.wants/* \\
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \\
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \\
 && rm -f /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -sf "$(which systemd)" /sbin/init \\
 && mkdir -p /etc/kubernetes/manifests \\
 && sed -i /usr/lib/systemd/system/systemd-tmpfiles-clean.timer -e 's#OnBootSec=.*#OnBootSec=1min#' \\
 && systemctl disable udev.service \\
 && systemctl mask systemd-binfmt.service \\
 && mkdir -p /opt/cni/bin && ln -s /usr/lib/cni/* /opt/cni/bin/ \\
 && printf '%s\\n' 'PubkeyAcceptedAlgorithms +ssh-rsa' 'HostkeyAlgorithms +ssh-rsa' \\
      'PubkeyAuthentication yes' 'PasswordAuthentication no' >> /etc/ssh/sshd_config \\
 && sed -i '/^\\[Service\\]/a LimitNOFILE=1048576' /lib/systemd/system/containerd.service \\
 && systemctl disable containerd \\
 && systemctl enable docker.service ssh.service \\
 && ln -s /usr/sbin/dockerd /usr/bin/dockerd \\
 && sed -ri 's/^(hosts:\\s*).*/\\1files dns/' /etc/nsswitch.conf \\
 && groupadd -f docker \\
 && useradd -m -s /bin/bash -g docker -G sudo docker \\
 && usermod -p '*' docker && passwd -u docker && passwd -d docker \\
 && echo '%sudo ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/20-passwordless-sudo \\
 && chmod 0440 /etc/sudoers.d/20-passwordless-sudo \\
 && install -d -o docker -g docker -m 0700 /home/docker/.ssh \\
 && mkdir -p /kind \\
 && echo '{version_json}' > /version.json \\
 && rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/local/* \\
 && cri-dockerd --version && crictl --version && runc --version && dockerd --version
EXPOSE 22
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"""


def module_file(module_dir: Path, name: str) -> Path:
    return module_dir / "deploy" / "kicbase" / name


def dockerfile(minikube_version: str) -> str:
    # The fields minikube reads (cmd/minikube/cmd/start.go versionJSON) to warn about a mismatch.
    version_json = json.dumps({"minikube_version": minikube_version, "kicbase_version": "todo-offline-debian"})
    return DOCKERFILE.format(packages=" \\\n      ".join(PACKAGES), version_json=version_json)


def _stage(rootfs: Path, module_dir: Path, binaries: Mapping[str, Path], cri_dockerd_units: Path) -> None:
    for name, target in MODULE_FILES.items():
        path = rootfs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module_file(module_dir, name), path)
    units = rootfs / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in ("cri-docker.service", "cri-docker.socket"):
        shutil.copyfile(cri_dockerd_units / unit, units / unit)
    placements = {
        "cri-dockerd": "usr/bin/cri-dockerd",
        "crictl": "usr/local/bin/crictl",
    }
    for name, target in placements.items():
        path = rootfs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binaries[name], path)
        path.chmod(0o755)
    shim = rootfs / "usr/local/sbin/runc"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RUNC_SHIM, shim)
    shim.chmod(0o755)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def ensure(minikube_version: str, module_dir: Path, binaries: Mapping[str, Path], cri_dockerd_units: Path) -> str:
    """Build the image unless one from the same recipe exists; return its `name:tag`.

    The tag carries the recipe's hash (never a digest: minikube only looks for a `--base-image`
    among local images when the reference has no `@sha256:`)."""
    with file_lock("kicbase"):
        return _ensure(minikube_version, module_dir, binaries, cri_dockerd_units)


def _ensure(minikube_version: str, module_dir: Path, binaries: Mapping[str, Path], cri_dockerd_units: Path) -> str:
    base_images.build_base_images()
    debian_recipe = engine.image_labels(base_images.DEBIAN_TAG)[base_images.RECIPE_LABEL]
    with tempfile.TemporaryDirectory(prefix="todo-kicbase-") as work:
        context = Path(work)
        _stage(context / "rootfs", module_dir, binaries, cri_dockerd_units)
        text = dockerfile(minikube_version)
        (context / "Dockerfile").write_text(text)
        recipe = hashlib.sha256("\0".join([text, debian_recipe, _tree_digest(context / "rootfs")]).encode()).hexdigest()
        tag = f"{REPOSITORY}:{minikube_version}-{recipe[:12]}"
        if engine.image_labels(tag).get(RECIPE_LABEL) == recipe:
            return tag
        engine.docker_build(context, None, tag, {"BASE_IMAGE": base_images.DEBIAN_TAG}, labels={RECIPE_LABEL: recipe})
    return tag
