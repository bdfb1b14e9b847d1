#!/usr/bin/env bash
# Offline-capable tools for scripts/k8s_checks.sh, installed once into a cache dir:
#   helm         built from the Go module proxy (helm.sh/helm/v3)
#   kubeconform  built from the Go module proxy (github.com/yannh/kubeconform)
#   kustomize    `kubectl kustomize` if kubectl is installed, else built from the Go proxy
#   k8s schemas  the Kubernetes JSON schemas that the PyPI package kubernetes-validate
#                ships (kubeconform's usual schema source, GitHub, is not reachable here)
# Every step is skipped when its result is already in the cache. Prints nothing but
# "[tools] ..." progress lines on stderr and, on stdout, the shell exports to use:
#   eval "$(bash scripts/install_k8s_tools.sh)"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS=${STREAMPROC_TOOLS:-$HOME/.cache/streamproc/tools}
HELM_VERSION=${HELM_VERSION:-v3.20.2}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.8.0}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.5.0}
# kubernetes-validate carries schemas of Kubernetes 1.25 up to its own version number.
K8S_VALIDATE_VERSION=${K8S_VALIDATE_VERSION:-1.37.0}
K8S_SCHEMA_VERSION=${K8S_SCHEMA_VERSION:-1.32.0}
PYTHON=${PYTHON:-$(pwd)/.venv/bin/python}
log() { printf '[tools] %s\n' "$*" >&2; }

mkdir -p "$TOOLS/bin"

go_tool() { # name module@version binary-version-flag
  local name=$1 module=$2 stamp="$TOOLS/bin/.$1.version"
  if [ -x "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$module" ]; then
    return
  fi
  command -v go >/dev/null || { log "ERROR: go is needed to build $name"; exit 1; }
  log "building $module (once; a few minutes on 2 cores)"
  # -p 1: the machine is shared with training jobs; nice for the same reason.
  GOBIN="$TOOLS/bin" GOFLAGS="-buildvcs=false -p=1" nice -n 10 \
    go install -ldflags "-s -w ${3:-}" "$module" >&2
  echo "$module" >"$stamp"
}

go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
go_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  KUSTOMIZE="kubectl kustomize"
else
  go_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  KUSTOMIZE="$TOOLS/bin/kustomize build"
fi

SCHEMAS="$TOOLS/k8s-schemas/kubernetes-validate-$K8S_VALIDATE_VERSION"
VERSION_DIR="$SCHEMAS/v$K8S_SCHEMA_VERSION-local-strict"
if [ ! -f "$VERSION_DIR/.complete" ]; then
  log "fetching Kubernetes $K8S_SCHEMA_VERSION JSON schemas (PyPI kubernetes-validate==$K8S_VALIDATE_VERSION)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    "kubernetes-validate==$K8S_VALIDATE_VERSION" -d "$tmp" >&2
  # Only the strict schemas of one Kubernetes version: <kind>-<group>-<version>.json files
  # that $ref a shared _definitions.json (tests/deploy/k8s_check.py makes them standalone).
  unzip -q "$tmp"/kubernetes_validate-*.whl \
    "kubernetes_validate/kubernetes-json-schema/${VERSION_DIR##*/}/*" -d "$tmp/x"
  rm -rf "$VERSION_DIR" && mkdir -p "$SCHEMAS"
  mv "$tmp/x/kubernetes_validate/kubernetes-json-schema/${VERSION_DIR##*/}" "$VERSION_DIR"
  touch "$VERSION_DIR/.complete"
fi

cat <<EOF
export STREAMPROC_TOOLS='$TOOLS'
export HELM='$TOOLS/bin/helm'
export KUBECONFORM='$TOOLS/bin/kubeconform'
export KUSTOMIZE='$KUSTOMIZE'
export K8S_SCHEMA_DIR='$SCHEMAS'
export K8S_SCHEMA_VERSION='$K8S_SCHEMA_VERSION'
EOF
