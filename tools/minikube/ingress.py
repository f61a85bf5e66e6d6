"""The images of minikube's ingress addon, built here, and the `--images=` that points the addon at them.

`minikube addons enable ingress --images=IngressController=<name:tag>,KubeWebhookCertgenCreate=
<name:tag>,KubeWebhookCertgenPatch=<name:tag>` renders minikube's own manifests
(deploy/addons/ingress/ingress-deploy.yaml.tmpl: RBAC, Services, the controller Deployment, the
two certgen Jobs, IngressClass `nginx`, the ValidatingWebhookConfiguration) with `image: <name:tag>`.

Ingress controller substitute. ingress-nginx cannot be built here (no Go module of it, and
Debian's nginx lacks the Lua modules its template needs), so the controller image runs Traefik
v3.6.12 (tools/cluster/build.py) with its kubernetesIngressNGINX provider (IngressClass `nginx`,
controller class k8s.io/ingress-nginx) behind a launcher, `/nginx-ingress-controller`
(ingress/controller.py), that takes the addon's flags. Kept as the addon expects: the command and
its flags, uid 101 with only NET_BIND_SERVICE (file capability on the traefik binary, as the
nginx image sets on nginx), hostPorts 80/443, GET /healthz on 10254 (liveness and readiness),
preStop `/wait-shutdown`, the webhook on :8443 with the certgen-made cert answering AdmissionReview
v1 at /networking/v1/ingresses, retry of a refused endpoint on the next one (nginx's
proxy_next_upstream: the NEXT_ENDPOINT_MIDDLEWARE), the node address in Ingress status, and no
new request to a Pod that is shutting down (its endpoint terminating): Traefik is built with
TRAEFIK_PATCH (tools/cluster/build.py) for that, hence the image tag's suffix.

What it does NOT share with ingress-nginx (also in tools/minikube/README.md):
- matching: `Prefix` is segment-wise as the Ingress spec says (/api matches /api and /api/x, not
  /apix), but `ImplementationSpecific` is treated as `Prefix` (nginx: a plain string prefix), and
  `use-regex` paths are Go regexps anchored at the start and case-sensitive (nginx: PCRE, `~*`);
  among overlapping rules Traefik picks by rule length, nginx by its location order;
- annotations: only the 30 Traefik implements (controller.SUPPORTED_ANNOTATIONS: CORS, auth,
  affinity/session cookie, SSL redirect/passthrough, backend protocol, proxy-ssl-*, service-upstream,
  use-regex); rewrite-target, proxy-body-size, timeouts, rate limits, canary, etc. are ignored (the
  webhook warns); `*-snippet` annotations are denied, as ingress-nginx's default does;
- the ConfigMap (--configmap, tcp/udp-services) is not read: no nginx options, no TCP/UDP
  services; no `--default-ssl-certificate` (Traefik's own default certificate on :443);
- the webhook checks snippets and host/path collisions with other Ingresses of the class; it does
  not render and test an nginx configuration (`nginx -t`), so it accepts what only nginx refuses;
- no leader election (--election-id ignored; the addon runs one replica); the status address
  is the node's, set by every replica;
- errors and defaults: Traefik's 404 and 502/503 pages, no custom error pages, no
  `X-Forwarded-*`/real-IP options beyond Traefik's defaults, Traefik's timeouts and buffering;
- metrics on :10254/metrics are Traefik's (traefik_*), not nginx_ingress_controller_*.

certgen: github.com/jet/kube-webhook-certgen v1.5.2 with the admissionregistration/v1 patch of
tools/minikube/gobuild.py, on a scratch image as user nonroot (the Jobs run as uid 2000).
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Mapping
from pathlib import Path

from tools.cache import file_lock
from tools.cluster import build as cluster_build
from tools.cluster import pins
from tools.docker import base_images
from tools.docker.engine import DockerError, ensure_daemon
from tools.minikube import gobuild, images

FILES = Path(__file__).with_name("ingress")
CONTROLLER_IMAGE = (
    f"todo-minikube/ingress-controller:traefik-{pins.TRAEFIK_VERSION}-{cluster_build.TRAEFIK_PATCH_LABEL}"
)
CERTGEN_IMAGE = f"todo-minikube/kube-webhook-certgen:{gobuild.CERTGEN_VERSION}-v1api"
CONTROLLER_UID = 101

# Binding :80/:443 as uid {CONTROLLER_UID} with only NET_BIND_SERVICE: a file capability, as on nginx,
# set in the rootfs stage (it has setcap) and copied in, so the 178 MB binary is one layer, not two.
CONTROLLER_DOCKERFILE = (
    images.ROOTFS_STAGE
    + f"""\
COPY traefik /traefik
RUN setcap cap_net_bind_service=+ep /traefik

FROM {base_images.DEBIAN_TAG}
ARG DEBIAN_FRONTEND=noninteractive
# python3 runs the launcher; dumb-init is PID 1 as in the nginx image; the addon sets
# LD_PRELOAD=/usr/local/lib/libmimalloc.so, so that file exists (Debian's mimalloc).
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 dumb-init libmimalloc2.0 \\
 && rm -rf /var/lib/apt/lists/* \\
 && ln -s /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 /usr/local/lib/libmimalloc.so \\
 && groupadd --system --gid {CONTROLLER_UID} ingress-nginx \\
 && useradd --system --uid {CONTROLLER_UID} --gid {CONTROLLER_UID} --home-dir /etc/ingress-controller \\
      --no-create-home --shell /usr/sbin/nologin ingress-nginx \\
 && install -d -o {CONTROLLER_UID} -g {CONTROLLER_UID} /etc/ingress-controller
COPY --from=rootfs /traefik /usr/local/bin/traefik
COPY controller.py /nginx-ingress-controller
COPY wait_shutdown.py /wait-shutdown
RUN chmod 0755 /nginx-ingress-controller /wait-shutdown
WORKDIR /etc/ingress-controller
USER {CONTROLLER_UID}:{CONTROLLER_UID}
ENTRYPOINT ["/usr/bin/dumb-init", "--"]
CMD ["/nginx-ingress-controller"]
"""
)


def certgen_dockerfile() -> str:
    return images.static_dockerfile(
        "kube-webhook-certgen", "/kube-webhook-certgen", user=images.NONROOT
    )  # fmt: skip


def addon_images_flag(controller: str = CONTROLLER_IMAGE, certgen: str = CERTGEN_IMAGE) -> str:
    """The value of `minikube addons enable ingress --images=`."""
    return f"IngressController={controller},KubeWebhookCertgenCreate={certgen},KubeWebhookCertgenPatch={certgen}"


def load_controller_module() -> types.ModuleType:
    """ingress/controller.py as a module (it is a script in the image, not a package member)."""
    spec = importlib.util.spec_from_file_location("ingress_controller", FILES / "controller.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traefik_binary() -> Path:
    """The repo's Traefik build (tools/cluster/build.py), compiled first if it is missing."""
    if not cluster_build.is_built("traefik"):
        cluster_build.build_traefik(cluster_build.require_go(), cluster_build.go_env())
    return cluster_build.binary_path("traefik")


def build_ingress_images(
    traefik: Path | None = None, certgen: Path | None = None, *, force: bool = False
) -> dict[str, str]:
    """Build (or reuse) the controller and certgen images; return {"controller"|"certgen": ref}."""
    ensure_daemon()
    base_images.ensure_base_images()
    traefik = traefik or traefik_binary()
    certgen = certgen or gobuild.build_certgen()
    for path in (traefik, certgen):
        if not Path(path).is_file():
            raise DockerError(f"missing binary {path}")
    controller_files = {
        "traefik": Path(traefik),
        "controller.py": FILES / "controller.py",
        "wait_shutdown.py": FILES / "wait_shutdown.py",
    }
    with file_lock("minikube-images"):
        images.build_image(CONTROLLER_IMAGE, CONTROLLER_DOCKERFILE, controller_files, force=force)
        images.build_image(CERTGEN_IMAGE, certgen_dockerfile(), {"kube-webhook-certgen": Path(certgen)}, force=force)
    return {"controller": CONTROLLER_IMAGE, "certgen": CERTGEN_IMAGE}


def build_cache_ingress_images(
    minikube_home: Path, binaries: Mapping[str, Path] | None = None, *, force: bool = False
) -> dict[str, Path]:
    """Build the addon's images and save them into minikube's image cache (so `minikube cache add`
    and `minikube image load` find them offline); return {ref: cache tar}."""
    binaries = binaries or {}
    refs = build_ingress_images(binaries.get("traefik"), binaries.get("kube-webhook-certgen"), force=force)
    cached = {}
    with file_lock("minikube-image-cache"):
        for ref in refs.values():
            destination = images.cache_path(minikube_home, ref)
            images.save_to_cache(ref, destination)
            cached[ref] = destination
    return cached
