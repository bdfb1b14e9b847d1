#!/usr/bin/env bash
# Offline checks of the Helm chart and the plain manifests (CI runs them through
# tests/deploy/test_deploy_checks.py):
#   lint        helm lint --strict, default values and every helm/streamproc/ci/*.yaml
#   render      helm template with the same values sets (+ the RayJob templates)
#   kustomize   kustomize build of every k8s/overlays/*
#   schemas     kubeconform -strict on every rendered object: core kinds against the
#               Kubernetes JSON schemas (PyPI kubernetes-validate), KubeRay kinds against
#               the CRDs in ../shared/k8s-schemas/kuberay-v1.7.0 (skipped if absent)
#   config      the rendered config.yaml loads with streamproc's strict config loader
#   serve       the RayService's serveConfigV2 == `streamproc serve config` output
#   manifests   k8s/base and k8s/jobs == the chart's render (regenerate: --update)
# Usage: bash scripts/k8s_checks.sh [--update] [--chart DIR] [--steps lint,schemas,...]
#   --update  rewrite k8s/base and k8s/jobs from the chart (then review the diff)
#   --chart   check another copy of the chart (tests/deploy break copies on purpose)
#   --steps   run only these checks (render and kustomize always run)
# Exits non-zero if any check fails; every selected check runs either way.
set -uo pipefail
shopt -s nullglob
exec 2>&1  # one stream, in order, for CI logs
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)
# The config and serve checks import streamproc: this checkout's, even when the venv's
# editable install points at another worktree.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

CHART=helm/streamproc
UPDATE=0
STEPS=,lint,schemas,config,serve,manifests,
while [ $# -gt 0 ]; do
  case $1 in
    --update) UPDATE=1 ;;
    --chart) CHART=$2; shift ;;
    --steps) STEPS=",$2,"; shift ;;
    *) echo "usage: $0 [--update] [--chart DIR] [--steps LIST]" >&2; exit 2 ;;
  esac
  shift
done

PY=${PYTHON:-$ROOT/.venv/bin/python}
STREAMPROC=${STREAMPROC:-$ROOT/.venv/bin/streamproc}
CRDS=${KUBERAY_CRDS:-$ROOT/../shared/k8s-schemas/kuberay-v1.7.0}
TOOL=("$PY" "$ROOT/tests/deploy/k8s_check.py")
RELEASE=streamproc  # the release name k8s/ is rendered with

eval "$(bash scripts/install_k8s_tools.sh)" || { echo "FAIL: installing tools" >&2; exit 1; }
KUBE_VERSION=$K8S_SCHEMA_VERSION

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/render" "$WORK/overlays"
PASSED=0
FAILED=()

# step NAME COMMAND...: run one check, record its result, keep going.
step() {
  local name=$1; shift
  case $name in render | kustomize) ;; *) [[ $STEPS == *",$name,"* ]] || return 0 ;; esac
  echo "== $name"
  if "$@"; then
    PASSED=$((PASSED + 1))
  else
    echo "FAIL: $name" >&2
    FAILED+=("$name")
  fi
}

VALUE_SETS=(default)
for f in "$CHART"/ci/*.yaml; do [ -e "$f" ] && VALUE_SETS+=("$f"); done
values_args() { [ "$1" = default ] || echo "-f $1"; }
render_name() { if [ "$1" = default ]; then echo default; else basename "$1" .yaml; fi; }

lint() {
  local rc=0 v
  for v in "${VALUE_SETS[@]}"; do
    # shellcheck disable=SC2046
    "$HELM" lint --strict --quiet --kube-version "$KUBE_VERSION" "$CHART" $(values_args "$v") || rc=1
  done
  return $rc
}

# The RayJob templates are off by default; k8s/jobs holds them with these values.
JOB_SETS=(--set jobs.train.enabled=true --set jobs.search.enabled=true
  --set jobs.recalibrate.enabled=true --set jobs.recalibrate.camera=CAMERA_ID
  --set jobs.data.existingClaim=streamproc-data)

render() {
  local rc=0 v
  for v in "${VALUE_SETS[@]}"; do
    # shellcheck disable=SC2046
    "$HELM" template "$RELEASE" "$CHART" --kube-version "$KUBE_VERSION" $(values_args "$v") \
      >"$WORK/render/$(render_name "$v").yaml" || rc=1
  done
  "$HELM" template "$RELEASE" "$CHART" --kube-version "$KUBE_VERSION" "${JOB_SETS[@]}" \
    --show-only templates/rayjob-train.yaml --show-only templates/rayjob-search.yaml \
    --show-only templates/rayjob-recalibrate.yaml >"$WORK/jobs.yaml" || rc=1
  return $rc
}

kustomize_overlays() {
  local rc=0 d
  for d in k8s/overlays/*/; do
    $KUSTOMIZE "$d" >"$WORK/overlays/$(basename "$d").yaml" || { echo "kustomize $d failed" >&2; rc=1; }
  done
  return $rc
}

schemas() {
  local files=("$WORK"/render/*.yaml "$WORK"/overlays/*.yaml "$WORK/jobs.yaml") skip
  skip=$("${TOOL[@]}" schemas --out "$WORK/schemas" --k8s-schemas "$K8S_SCHEMA_DIR" \
    --kube-version "$KUBE_VERSION" --crds "$CRDS" "${files[@]}") || return 1
  "$KUBECONFORM" -strict -summary -n 2 -kubernetes-version "$KUBE_VERSION" \
    -schema-location "$WORK/schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$WORK/schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    ${skip:+-skip "$skip"} "${files[@]}"
}

manifests() {
  "${TOOL[@]}" split "$WORK/render/default.yaml" "$WORK/k8s/base" || return 1
  "${TOOL[@]}" split --no-kustomization "$WORK/jobs.yaml" "$WORK/k8s/jobs" || return 1
  if [ $UPDATE = 1 ] && [ ${#FAILED[@]} -eq 0 ]; then
    rm -rf k8s/base k8s/jobs && cp -r "$WORK/k8s/base" "$WORK/k8s/jobs" k8s/
    echo "updated k8s/base and k8s/jobs from $CHART"
  fi
  if ! diff -ru k8s/base "$WORK/k8s/base" || ! diff -ru k8s/jobs "$WORK/k8s/jobs"; then
    echo "k8s/ differs from the chart's render; run: bash scripts/k8s_checks.sh --update" >&2
    return 1
  fi
}

step lint lint
step render render
step kustomize kustomize_overlays
step schemas schemas
step config "${TOOL[@]}" config "$WORK"/render/*.yaml "$WORK"/overlays/*.yaml
step serve "${TOOL[@]}" serve-config --streamproc "$STREAMPROC" "$WORK"/render/*.yaml "$WORK"/overlays/*.yaml
step manifests manifests

echo "k8s-checks: $PASSED passed, ${#FAILED[@]} failed${FAILED[*]:+ (${FAILED[*]})}"
[ ${#FAILED[@]} -eq 0 ]
