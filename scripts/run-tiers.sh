#!/usr/bin/env bash
# Runs the named test tiers (make test-<tier>) one after another, times each, keeps going
# after a failure so one run shows every broken tier, and ends with a summary line that
# counts the test cases of all tiers (from their junit files).
set -uo pipefail

artifacts=${ARTIFACTS:-test-artifacts}
rm -rf "$artifacts/junit"
mkdir -p "$artifacts/junit"

declare -a rows
failed=0
total_start=$(date +%s)
for tier in "$@"; do
  echo
  echo "=============================== tier: $tier ==============================="
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
echo "all tiers: $(( $(date +%s) - total_start ))s wall"
python3 scripts/junit_summary.py "$artifacts/junit" --failed-tiers "$failed"
