#!/usr/bin/env bash
# Fails in a second, before any install, when `make deploy` cannot possibly work here.
# The prerequisites role checks versions and daemon health in depth; this checks the Python
# version, that it can make a venv, and that the other tools are present.
#
#   bash scripts/preflight.sh          # everything (make deploy)
#   bash scripts/preflight.sh python   # the Python part only (make venv): interpreter, venv, .venv
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
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
if (( major < 3 || (major == 3 && minor < 11) )); then
  echo "deploy: '$python' is ${version#Python }; Ansible (ansible-core 2.19) needs Python 3.11 or newer. $how_to_get" >&2
  exit 1
fi

# `python -m venv` needs the venv and ensurepip modules. Debian and Ubuntu ship them apart from
# the interpreter (python3.X-venv); without them `python -m venv` leaves a .venv without pip.
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  os_id=$( (. /etc/os-release 2>/dev/null && echo "${ID:-} ${ID_LIKE:-}") || true)
  case " $os_id " in
    *" debian "* | *" ubuntu "*) fix="run \`sudo apt-get install python$major.$minor-venv\`" ;;
    *" fedora "* | *" rhel "* | *" centos "*) fix="run \`sudo dnf install python$major.$minor\` (ensurepip comes with the interpreter there)" ;;
    *" alpine "*) fix="run \`sudo apk add python3 py3-pip\`" ;;
    *" suse "* | *" opensuse "*) fix="run \`sudo zypper install python$major$minor\`" ;;
    *) fix="install the package of your system that provides Python $major.$minor's venv and ensurepip modules" ;;
  esac
  echo "deploy: '$python' (${version#Python }) cannot make a virtual environment: its venv/ensurepip modules are missing. To fix it, $fix, then run make again." >&2
  exit 1
fi

venv=${VENV:-.venv}
if [[ -x $venv/bin/python ]] && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "deploy: $venv was made with Python older than 3.11. Remove it (\`rm -rf $venv\`) and run \`make deploy PYTHON=python3.11\`." >&2
  exit 1
fi
# A venv whose python has no pip was left half-made (python -m venv failed at ensurepip, or was
# interrupted): pip install would say "No module named pip". Make it again instead of reusing it.
if [[ -e $venv ]] && ! { [[ -x $venv/bin/python ]] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; }; then
  echo "deploy: $venv is incomplete (no working $venv/bin/python with pip: an earlier \`python -m venv\` failed or was interrupted); removing it so that it is made again." >&2
  rm -rf -- "$venv"
fi
[[ ${1:-} == python ]] && exit 0

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "deploy: '$1' not found on PATH. $2" >&2
    missing=1
  fi
}
need docker "Install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then start it."
case "$(uname -s)/$(uname -m)" in
  Darwin/*) minikube_hint="brew install minikube" ;;
  Linux/aarch64 | Linux/arm64) minikube_hint="the minikube-linux-arm64 binary into /usr/local/bin/minikube" ;;
  *) minikube_hint="the minikube-linux-amd64 binary into /usr/local/bin/minikube" ;;
esac
need minikube "Install Minikube (https://minikube.sigs.k8s.io/docs/start/), e.g. $minikube_hint."
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  echo "deploy: Docker is installed but its daemon is not reachable (docker info failed). Start Docker (systemctl start docker, or open Docker Desktop) and check that your user may use it." >&2
  missing=1
fi
exit $missing
