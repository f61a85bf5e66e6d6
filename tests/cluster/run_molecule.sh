#!/usr/bin/env bash
# The single entry for the molecule `cluster` scenario (make test-cluster runs it through
# tests/cluster/test_molecule_cluster.py). Extra arguments go to molecule, e.g.
#   tests/cluster/run_molecule.sh            # molecule test -s cluster
#   tests/cluster/run_molecule.sh converge   # molecule converge -s cluster (keeps the cluster)
#
# The three secrets are generated here, at test time, so the run is hermetic: nothing from
# the caller's environment (a real Neon URL or OpenAI key) ever reaches the test cluster.
# Nothing connects to the database URL: kwok only pretends to run the pods.
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
host="db-$(python3 -c 'import secrets; print(secrets.token_hex(4))').invalid"
DATABASE_URL="postgresql://todo_ci:$(gen 18)@${host}/todo?sslmode=require&channel_binding=require"
OPENAI_API_KEY="sk-test-$(gen 24)"
export DATABASE_URL OPENAI_API_KEY
# AUTH_SECRET stays unset on purpose: the secrets role generates it once and must reuse it
# from the live Secret on the second converge (idempotence proves that).
unset AUTH_SECRET

command="${1:-test}"
shift || true
exec molecule "$command" -s cluster "$@"
