#!/usr/bin/env bash
# Everything streamproc needs on a fresh Debian machine, idempotent and cached:
#   - a virtualenv outside the clone, keyed by the dependency list (torch from PyPI is
#     a multi-GB CUDA build: it is downloaded once per dependency set, not per run),
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

# The key: python version + the [project] dependency lists (not the whole pyproject,
# so editing tool settings does not reinstall torch).
KEY=$("$PYTHON" - <<'PY'
import hashlib, sys, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
blob = repr((sys.version_info[:2], p["dependencies"], p.get("optional-dependencies", {})))
print(hashlib.sha256(blob.encode()).hexdigest()[:16])
PY
)
VENV="$VENV_ROOT/$KEY"
if [ ! -f "$VENV/.complete" ]; then
  log "creating virtualenv $VENV (first time for this dependency set; torch is large)"
  rm -rf "$VENV"
  mkdir -p "$VENV_ROOT"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet --progress-bar off -e ".[dev,onnx]"
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
