#!/usr/bin/env bash
# Run checkov (pinned) from its own venv under the cache dir.
# Why a separate venv: checkov pins many libraries (boto3, pydantic, ...) that clash with
# the root dev venv (ansible, molecule). The venv is created on first use and reused.
#
#   scripts/checkov.sh --install-only          # just make sure it is installed
#   scripts/checkov.sh -f rendered.yaml ...    # any checkov arguments
set -euo pipefail

CHECKOV_VERSION="3.3.30"
CACHE="${TODO_CACHE:-$HOME/.cache/todo}"
VENV="$CACHE/venvs/checkov"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

installed_version() {
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true
}

LOCK="$(dirname "${BASH_SOURCE[0]}")/checkov-requirements.txt"
LOCK_SUM="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [[ "$(installed_version)" != "$CHECKOV_VERSION" || "$(cat "$VENV/.lock-sha256" 2>/dev/null)" != "$LOCK_SUM" ]]; then
  echo "checkov.sh: installing checkov==$CHECKOV_VERSION and its pinned deps into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  # Every pin with its hashes (checkov-requirements.in -> .txt): a changed file on PyPI fails.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$LOCK" >&2
  echo "$LOCK_SUM" > "$VENV/.lock-sha256"
fi

if [[ "${1:-}" == "--install-only" ]]; then
  "$VENV/bin/checkov" --version
  exit 0
fi

# No network calls: no Bridgecrew platform, no version check, no guideline download.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec "$VENV/bin/checkov" --skip-download "$@"
