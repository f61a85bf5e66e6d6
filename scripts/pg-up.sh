#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's) and lets the current user administer it
# over the Unix socket with peer auth, so tests need no password in the repo:
# they connect as admin with postgresql:///postgres and create throwaway roles/databases.
set -euo pipefail

version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$version" ]; then
  echo "pg-up: PostgreSQL server not installed; run scripts/system-deps.sh" >&2
  exit 1
fi
cluster=main
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {found=1} END {exit !found}'; then
  echo "pg-up: creating cluster $version/$cluster"
  pg_createcluster "$version" "$cluster"
fi
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c && $4=="online" {ok=1} END {exit !ok}'; then
  echo "pg-up: starting PostgreSQL $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start
fi
for _ in $(seq 1 30); do
  pg_isready -q && break
  sleep 1
done
pg_isready || { echo "pg-up: PostgreSQL did not become ready; see /var/log/postgresql/" >&2; exit 1; }

me=$(id -un)
if [ "$me" != postgres ]; then
  exists=$(runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$me'")
  if [ "$exists" != 1 ]; then
    echo "pg-up: creating superuser role '$me' (peer auth over the socket)"
    runuser -u postgres -- createuser --superuser "$me"
  fi
  exists=$(psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$me'")
  [ "$exists" = 1 ] || createdb "$me"
fi
echo "pg-up: PostgreSQL $version ready on $(pg_isready | cut -d' ' -f1) and port 5432"
