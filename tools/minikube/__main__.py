"""A real minikube, compiled here, and the offline preparation of what `minikube start` downloads.

python -m tools.minikube install   compile the pinned minikube and link it into
                                   $TODO_CACHE/tools/bin, unless you have a minikube of your own
python -m tools.minikube offline   everything a real `minikube start` and the ingress addon
                                   would download, prepared here (make minikube-offline)
python -m tools.minikube offline --with-metrics-server
                                   and the metrics-server addon's image, which only autoscaling
                                   needs (make minikube-offline-autoscaling)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from tools.cache import tools_bin
from tools.cluster import pins
from tools.cluster.build import BuildError
from tools.docker.engine import DockerError
from tools.minikube import build, offline


def users_minikube() -> str | None:
    """A minikube on PATH that is not the one we link (which `make` puts first on PATH)."""
    ours = tools_bin()
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != ours)
    return shutil.which("minikube", path=path)


def install() -> Path:
    theirs = users_minikube()
    if theirs:
        print(f"minikube: using yours ({theirs}); the pinned {pins.MINIKUBE_VERSION} is not linked")
        return Path(theirs)
    binary = build.build((build.MINIKUBE,))["minikube"]
    link = tools_bin() / "minikube"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == binary.resolve()):
        staging = link.with_name("minikube.new")
        staging.unlink(missing_ok=True)
        staging.symlink_to(binary)
        staging.replace(link)
    print(f"minikube: {pins.MINIKUBE_VERSION} (compiled from its Go module) -> {link}")
    return link


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.minikube", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("install", "offline"))
    parser.add_argument(
        "--with-metrics-server",
        action="store_true",
        help="offline: also build the metrics-server addon's image (autoscaling needs it)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install()
        else:
            install()
            offline.main(args.with_metrics_server)
    except (BuildError, DockerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
