#!/usr/bin/env bash
# Fails in a second, before any install, when `make deploy` cannot possibly work here.
# The prerequisites role checks versions and daemon health in depth; this checks the Python
# version and that the other tools are present.
set -uo pipefail
missing=0

# First, before any pip install: ansible-core 2.19 needs Python 3.11 or newer, and with an older
# one `make deploy` dies deep inside pip. PYTHON is the interpreter the Makefile makes .venv with.
python=${PYTHON:-python3}
how_to_get="Install one (Ubuntu 22.04: \`sudo apt-get install python3.11 python3.11-venv\`; macOS: \`brew install python@3.12\`; or https://www.python.org/downloads/) and run \`make deploy PYTHON=python3.11\` (or python3.12, ...)."
if ! command -v "$python" >/dev/null 2>&1; then
  echo "deploy: '$python' not found on PATH. Python 3.11 or newer is needed. $how_to_get" >&2
  exit 1
fi
# `python --version` prints "Python 3.10.12" (stdout; stderr before 3.4).
version=$("$python" --version 2>&1)
if [[ ! $version =~ ^Python\ ([0-9]+)\.([0-9]+) ]]; then
  echo "deploy: cannot tell the version of '$python' (\`$python --version\` said: ${version:-nothing}). $how_to_get" >&2
  exit 1
fi
if (( BASH_REMATCH[1] < 3 || (BASH_REMATCH[1] == 3 && BASH_REMATCH[2] < 11) )); then
  echo "deploy: '$python' is ${version#Python }; Ansible (ansible-core 2.19) needs Python 3.11 or newer. $how_to_get" >&2
  exit 1
fi
venv=${VENV:-.venv}
if [[ -x $venv/bin/python ]] && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "deploy: $venv was made with Python older than 3.11. Remove it (\`rm -rf $venv\`) and run \`make deploy PYTHON=python3.11\`." >&2
  exit 1
fi

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy: '$1' not found on PATH. $2" >&2
    missing=1
  fi
}
need docker "Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it."
need minikube "Install Minikube (https://minikube.sigs.k8s.io/docs/start/), e.g. the minikube-linux-amd64 binary into /usr/local/bin/minikube."
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  echo "deploy: Docker is installed but its daemon is not reachable (docker info failed). Start Docker (systemctl start docker, or open Docker Desktop) and check that your user may use it." >&2
  missing=1
fi
exit $missing
