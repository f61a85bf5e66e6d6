#!/usr/bin/env bash
# Installs the Debian packages the test tiers need, only those that are missing.
# Needs root (or sudo); without it, prints the apt command to run and fails.
set -euo pipefail

packages=(
  postgresql          # app tier: real PostgreSQL for backend and e2e tests
  docker.io           # images tier: a real Docker engine
  iptables            # dockerd's bridge networking
  debootstrap         # images tier: local stand-ins for public base images
  chromium            # frontend e2e: a real browser (Playwright cannot download one here)
  chromium-driver
  runc                # what the runc shim for Minikube's --privileged node calls (tools/docker)
  iproute2            # the minikube tier reads docker0's address
  gcc                 # the pause image of the offline Minikube: a tiny static binary
  libc6-dev
  openssl             # the Neon-like database's test certificate
  git
  ca-certificates
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all present (${packages[*]})"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "system-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
