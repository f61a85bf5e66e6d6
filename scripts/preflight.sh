#!/usr/bin/env bash
# Fails in a second, before any install, when `make deploy` cannot possibly work here.
# The prerequisites role checks versions and daemon health in depth; this only checks presence.
set -uo pipefail
missing=0
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy: '$1' not found on PATH. $2" >&2
    missing=1
  fi
}
need docker "Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it."
need minikube "Install Minikube (https://minikube.sigs.k8s.io/docs/start/), e.g. the minikube-linux-amd64 binary into /usr/local/bin/minikube."
need python3 "Install Python 3.11 or newer (e.g. apt-get install python3 python3-venv)."
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  echo "deploy: Docker is installed but its daemon is not reachable (docker info failed). Start Docker (systemctl start docker, or open Docker Desktop) and check that your user may use it." >&2
  missing=1
fi
exit $missing
