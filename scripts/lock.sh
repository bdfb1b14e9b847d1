#!/usr/bin/env bash
# Refresh requirements.lock: resolve pyproject's ranges anew (every package, exact
# version, hashes for every platform and Python >= 3.11), then run the whole suite
# against the new resolution so that an upgrade is a reviewed change, never a surprise.
#   bash scripts/lock.sh             re-resolve and test
#   bash scripts/lock.sh --no-test   re-resolve only
#   bash scripts/lock.sh --upgrade-package optuna   move one package, keep the rest
# The resolver is uv (pinned below), installed once into the tools cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=${STREAMPROC_UV_VERSION:-0.13.10}
TOOLS=${STREAMPROC_TOOLS:-$HOME/.cache/streamproc/tools}
PYTHON=${STREAMPROC_PYTHON:-python3}
UVENV="$TOOLS/uv-$UV_VERSION"
log() { printf '[lock] %s\n' "$*" >&2; }

test_after=1
args=()
for a in "$@"; do
  case "$a" in
    --no-test) test_after=0 ;;
    *) args+=("$a") ;;
  esac
done
if [ ! -x "$UVENV/bin/uv" ]; then
  log "installing uv $UV_VERSION into $UVENV"
  "$PYTHON" -m venv "$UVENV"
  "$UVENV/bin/pip" install --quiet "uv==$UV_VERSION"
fi
upgrade=(--upgrade)
for a in "${args[@]}"; do [ "$a" = "--upgrade-package" ] && upgrade=(); done
log "resolving pyproject.toml (+dev) for Python >= 3.11, all platforms"
"$UVENV/bin/uv" pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
  --generate-hashes --quiet "${upgrade[@]}" "${args[@]}" -o requirements.lock
git --no-pager diff --stat -- requirements.lock || true
if [ "$test_after" = 1 ]; then
  log "running the whole suite on the new resolution"
  exec bash scripts/test.sh
fi
