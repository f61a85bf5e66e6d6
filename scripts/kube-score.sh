#!/usr/bin/env bash
# Run kube-score (pinned) built from the Go module proxy into the cache dir.
# Why: an independent scanner (none of us wrote its checks) next to checkov in the chart tier.
# The binary is built once per version and stamped; a fresh clone builds it on first use.
#
#   scripts/kube-score.sh --install-only     # just make sure it is built
#   scripts/kube-score.sh score rendered.yaml ...   # any kube-score arguments
set -euo pipefail

KUBE_SCORE_VERSION="v1.20.0"
CACHE="${TODO_CACHE:-$HOME/.cache/todo}"
DIR="$CACHE/tools/kube-score-$KUBE_SCORE_VERSION"
BIN="$DIR/kube-score"

if [[ "$(cat "$DIR/.version" 2>/dev/null)" != "$KUBE_SCORE_VERSION" || ! -x "$BIN" ]]; then
  command -v go >/dev/null 2>&1 || { echo "kube-score.sh: Go is needed to build kube-score" >&2; exit 1; }
  echo "kube-score.sh: building kube-score $KUBE_SCORE_VERSION into $DIR" >&2
  rm -rf "$DIR"
  mkdir -p "$DIR/wrapper"
  # A wrapper module pins the version (the module proxy refuses version listings).
  cat > "$DIR/wrapper/go.mod" <<MOD
module todo.local/kube-score-wrapper

go 1.24

require github.com/zegl/kube-score $KUBE_SCORE_VERSION
MOD
  # Shared with the other Go builds of this project, so modules are downloaded once.
  export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS="-mod=mod" \
    GOTOOLCHAIN=local CGO_ENABLED=0
  (cd "$DIR/wrapper" && nice -n 10 go build -o "$BIN" github.com/zegl/kube-score/cmd/kube-score)
  echo "$KUBE_SCORE_VERSION" > "$DIR/.version"
fi

if [[ "${1:-}" == "--install-only" ]]; then
  "$BIN" version
  exit 0
fi
exec "$BIN" "$@"
