"""The image minikube's kindnet CNI runs on a multi-node profile, built here under the name
minikube asks for, and put where every node gets it as it starts.

`minikube start --nodes 2` picks kindnet (pkg/minikube/cni/cni.go chooseDefault: more than one
node) and applies its DaemonSet (cni/kindnet.go) with image docker.io/kindest/kindnetd:
v20260213-ea8e5717 (bootstrapper/images/images.go KindNet), which no registry here serves and
whose source is not on the Go module proxy. The image built here has that name, so the user's
path is unchanged (a laptop pulls the real one), and runs kindnet/kindnetd.py: the CNI
configuration, the routes between the nodes' pod CIDRs and ip-masq-agent's rule (what it does
not share with kindnet: tools/minikube/README.md).

Getting it onto every node: the kubelet of a node that joins starts the DaemonSet's Pod at
once, and the node is NotReady until that Pod has written its CNI configuration, so `minikube
start --wait all` would time out before any step after it could load the image. minikube's own
list of images to cache (`minikube cache add`, its global config) is loaded into every node of
a profile each time one of its nodes starts (node/start.go CacheAndLoadImagesInConfig, just
after the join); the kubelet's first pull fails and its retry (10 s later) finds the image.
So the offline preparation saves the image where `minikube cache add` looks and lists it there
(images.list_for_every_node). The cost: every node of every profile of that MINIKUBE_HOME gets it
loaded as it starts (a 181 MB archive), single-node ones too.
"""

from __future__ import annotations

from pathlib import Path

from tools.cache import file_lock
from tools.docker import base_images
from tools.docker.engine import ensure_daemon
from tools.minikube import images

FILES = Path(__file__).with_name("kindnet")
# minikube v1.38.1's images.KindNet(""); the Docker engine stores it as kindest/kindnetd:<tag>.
IMAGE = "docker.io/kindest/kindnetd:v20260213-ea8e5717"
LOCAL_REF = IMAGE.removeprefix("docker.io/")

DOCKERFILE = f"""\
FROM {base_images.DEBIAN_TAG}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 iproute2 iptables \\
 && rm -rf /var/lib/apt/lists/*
{images.IPTABLES_WRAPPER_STEPS}COPY kindnetd.py /bin/kindnetd
RUN chmod 0755 /bin/kindnetd
CMD ["/bin/kindnetd"]
"""


def build_image(*, force: bool = False) -> str:
    """Build (or reuse) the substitute under minikube's name; return the reference."""
    ensure_daemon()
    base_images.ensure_base_images()
    files = {"kindnetd.py": FILES / "kindnetd.py", "iptables-wrapper": images.iptables_wrapper_file()}
    with file_lock("minikube-images"):
        images.build_image(LOCAL_REF, DOCKERFILE, files, force=force)
    return IMAGE


def save_to_cache(minikube_home: Path) -> Path:
    """The image as a docker-save archive where minikube's image cache has it."""
    destination = images.cache_path(minikube_home, IMAGE)
    with file_lock("minikube-image-cache"):
        images.save_to_cache(LOCAL_REF, destination)
    return destination
