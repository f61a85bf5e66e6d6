#!/usr/bin/env bash
# Runs the named test tiers (make test-<tier>) one after another, times each, keeps going
# after a failure so one run shows every broken tier, and ends with a summary line that
# counts the test cases of all tiers (from their junit files).
#
#   run-tiers.sh [--meanwhile 'COMMAND'] TIER...
#
# --meanwhile runs COMMAND in the background (niced, output in $ARTIFACTS/meanwhile.log) while
# the tiers run: `make test` compiles what only the later tiers need (Kubernetes, minikube, the
# offline node's images; ~25 minutes on a fresh machine) while the early tiers test. A tier that
# needs something still being built waits on its cache lock (tools/cache.py) and then finds it
# built; if COMMAND fails, that tier builds it itself and shows the error.
set -uo pipefail

artifacts=${ARTIFACTS:-test-artifacts}
rm -rf "$artifacts/junit"
mkdir -p "$artifacts/junit"

meanwhile=""
if [ "${1:-}" = "--meanwhile" ]; then
  meanwhile=$2
  shift 2
fi

meanwhile_pid=""
meanwhile_log="$artifacts/meanwhile.log"
total_start=$(date +%s)
if [ -n "$meanwhile" ]; then
  # Its own process group, so an interrupted run stops all of it (make, python, go, docker build).
  setsid nice -n 10 bash -c "$meanwhile"'; rc=$?; echo "meanwhile: exit $rc after ${SECONDS}s"; exit $rc' \
    >"$meanwhile_log" 2>&1 &
  meanwhile_pid=$!
  trap '[ -n "$meanwhile_pid" ] && kill -- -"$meanwhile_pid" 2>/dev/null; exit 130' INT TERM
  echo "meanwhile (pid $meanwhile_pid, log $meanwhile_log): $meanwhile"
fi

meanwhile_progress() {
  [ -n "$meanwhile_pid" ] || return 0
  if kill -0 "$meanwhile_pid" 2>/dev/null; then
    local line
    line=$(grep -v "^\s*$" "$meanwhile_log" | tail -n 1)
    echo "meanwhile, still running after $(( $(date +%s) - total_start ))s${line:+: $line}"
  fi
}

declare -a rows
failed=0
for tier in "$@"; do
  echo
  echo "=============================== tier: $tier ==============================="
  meanwhile_progress
  start=$(date +%s)
  make --no-print-directory "test-$tier"
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $rc)"; failed=$((failed + 1)); fi
  rows+=("$(printf '%-10s %6ss  %s' "$tier" "$secs" "$verdict")")
  echo "tier $tier: $verdict in ${secs}s"
done

echo
echo "=============================== tier times ==============================="
printf '%s\n' "${rows[@]}"
if [ -n "$meanwhile_pid" ]; then
  wait "$meanwhile_pid"
  rc=$?
  meanwhile_pid=""
  if [ $rc -eq 0 ]; then
    echo "meanwhile: ok (log $meanwhile_log)"
  else
    # Not a failed tier by itself: the tiers that needed its work built it again in the
    # foreground, and fail there if it really cannot be built.
    echo "meanwhile: FAILED (exit $rc); last lines of $meanwhile_log:"
    tail -n 20 "$meanwhile_log"
  fi
fi
echo "all tiers: $(( $(date +%s) - total_start ))s wall"
python3 scripts/junit_summary.py "$artifacts/junit" --failed-tiers "$failed"
