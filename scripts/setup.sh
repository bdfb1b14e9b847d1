#!/usr/bin/env bash
# Everything streamproc needs on a fresh Debian machine, idempotent and cached:
#   - a virtualenv outside the clone, installed from requirements.lock and keyed by its
#     hash (torch from PyPI is a multi-GB CUDA build: it is downloaded once per lock),
#     linked as ./.venv, with streamproc installed editable into it;
#   - Kafka (from Maven Central) and redis-server (Debian) via install_services.sh.
# Usage: bash scripts/setup.sh [--no-services]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
PYTHON=${STREAMPROC_PYTHON:-python3}
VENV_ROOT=${STREAMPROC_VENV_ROOT:-$HOME/.cache/streamproc/venvs}
log() { printf '[setup] %s\n' "$*" >&2; }

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' 2>/dev/null \
  || { log "ERROR: $PYTHON must be Python >= 3.11 (set STREAMPROC_PYTHON)"; exit 1; }

# The key: python version + the lock's hash. The lock (requirements.lock, refreshed by
# scripts/lock.sh) pins every package of the resolved environment with its hashes, so a
# fresh machine installs exactly what CI tested; editing pyproject's tool settings or
# ranges alone never reinstalls torch.
KEY=$("$PYTHON" - <<'PY'
import hashlib, sys
blob = repr(sys.version_info[:2]).encode() + open("requirements.lock", "rb").read()
print(hashlib.sha256(blob).hexdigest()[:16])
PY
)
VENV="$VENV_ROOT/$KEY"
if [ ! -f "$VENV/.complete" ]; then
  log "creating virtualenv $VENV from requirements.lock (first time for this lock; torch is large, a few minutes)"
  rm -rf "$VENV"
  mkdir -p "$VENV_ROOT"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --progress-bar off --require-hashes --no-deps -r requirements.lock
  "$VENV/bin/pip" install --quiet --no-deps -e .
  touch "$VENV/.complete"
else
  log "using cached virtualenv $VENV"
  "$VENV/bin/pip" install --quiet --no-deps --no-build-isolation -e . 2>/dev/null \
    || "$VENV/bin/pip" install --quiet --no-deps -e .
fi
ln -sfn "$VENV" "$ROOT/.venv"
log "python: $ROOT/.venv/bin/python ($("$VENV/bin/python" -c 'import torch, ray; print("torch", torch.__version__, "ray", ray.__version__)'))"

if [ "${1:-}" != "--no-services" ]; then
  bash scripts/install_services.sh >&2
fi
log "done"
