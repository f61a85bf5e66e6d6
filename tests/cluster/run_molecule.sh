#!/usr/bin/env bash
# The single entry for the molecule `cluster` scenario (make test-cluster runs it through
# tests/cluster/test_molecule_cluster.py). Extra arguments go to molecule, e.g.
#   tests/cluster/run_molecule.sh            # molecule test -s cluster
#   tests/cluster/run_molecule.sh converge   # molecule converge -s cluster (keeps the cluster)
#
# The secrets are generated here, at test time, so the run is hermetic: nothing from the
# caller's environment (a real Neon URL or OpenAI key) ever reaches the test cluster.
# DATABASE_URL points at the cluster's own TLS + SCRAM PostgreSQL, which `create` starts with
# the password generated here (TODO_CLUSTER_DB_PASSWORD).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

export TODO_CACHE="${TODO_CACHE:-$HOME/.cache/todo}"
export PATH="$TODO_CACHE/tools/bin:$repo/.venv/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1

for tool in molecule ansible-playbook helm python3; do
  command -v "$tool" >/dev/null || { echo "run_molecule.sh: $tool not found (make setup)" >&2; exit 2; }
done

gen() { python3 -c "import secrets, sys; print(secrets.token_urlsafe(int(sys.argv[1])))" "$1"; }
generate_secrets() {
  local password
  password="$(gen 18)"
  printf 'TODO_CLUSTER_DB_PASSWORD=%q\nDATABASE_URL=%q\nOPENAI_API_KEY=%q\n' \
    "$password" \
    "$(TODO_CLUSTER_DB_PASSWORD="$password" TODO_CLUSTER_PORT_BASE=16843 \
       "$repo/.venv/bin/python" -m tools.cluster database-url)" \
    "sk-test-$(gen 24)"
}

command="${1:-test}"
shift || true

# `test` gets fresh values and keeps them only in memory. Single steps (create, converge,
# idempotence, verify, ...) share one set through a 0600 file outside the repo, so a second
# converge sees the same inputs; `destroy` deletes it.
secrets_file="$TODO_CACHE/molecule-cluster/secrets.env"
if [[ "$command" == test ]]; then
  eval "$(generate_secrets)"
else
  if [[ ! -s "$secrets_file" ]]; then
    mkdir -p "$(dirname "$secrets_file")"
    (umask 077 && generate_secrets >"$secrets_file")
  fi
  # shellcheck disable=SC1090
  source "$secrets_file"
  if [[ "$command" == destroy ]]; then rm -f "$secrets_file"; fi
fi
export TODO_CLUSTER_DB_PASSWORD DATABASE_URL OPENAI_API_KEY
# AUTH_SECRET stays unset on purpose: the secrets role generates it once and must reuse it
# from the live Secret on the second converge (idempotence proves that).
unset AUTH_SECRET

exec molecule "$command" -s cluster "$@"
