#!/usr/bin/env bash
# Set up (cached), start the real Kafka and Redis, then lint, type-check and run the
# whole test suite against them. Every step runs even when an earlier one fails; one
# summary of all of them closes the output, and the exit status is non-zero if any failed.
# Extra arguments go to every pytest run.
#
# Under CI (CI set; .ci/run sets it) a test skipped for a missing tool, service or data
# set fails, unless tests/skips.py allows that skip with its reason.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
export PATH="$(pwd)/.venv/bin:$PATH"
# helm, kubeconform, kustomize and the Kubernetes schemas for tests/deploy (built once).
eval "$(bash scripts/install_k8s_tools.sh)" || { echo "test tools failed" >&2; exit 1; }

names=() codes=() lines=()
step() { # name command...: run, keep its exit code and pytest's closing line
  local name=$1 log rc
  shift
  echo "== $name"
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  names+=("$name") codes+=("$rc")
  lines+=("$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' "$log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')")
  rm -f "$log"
}

step "ruff check" ruff check streamproc trainers tests
step "ruff format" ruff format --check streamproc trainers tests
step "mypy" mypy

services=$(bash scripts/services.sh start) || { echo "services failed to start" >&2; exit 1; }
eval "$services"
trap 'bash scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
export STREAMPROC_KAFKA_BOOTSTRAP STREAMPROC_REDIS_URL STREAMPROC_KAFKA_BIN
echo "Kafka $STREAMPROC_KAFKA_BOOTSTRAP, Redis $STREAMPROC_REDIS_URL"
# Tests that start Ray Serve inside the pytest process get an interpreter of their own:
# after them, a later test that drives another Ray cluster from the same process timed
# out in CI (each passes alone; the exact cause is not pinned down yet).
step "pytest (main)" python -m pytest -ra --ignore=tests/serving \
  --ignore=tests/evaluation/test_eval_chaos_serve.py "$@"
# The chaos suite's model-service scenarios deploy Serve on a private local Ray in-process:
# the same reason, an interpreter of their own (a later test's Ray timed out after them).
step "pytest (chaos serve)" python -m pytest -ra tests/evaluation/test_eval_chaos_serve.py "$@"
step "pytest (serving)" python -m pytest -ra tests/serving \
  --ignore=tests/serving/test_serving_http.py "$@"
# The HTTP ingress test runs its local Ray with a token of its own, and Ray caches the
# token per process: a later local Ray in the same interpreter then fails to start.
step "pytest (serving http)" python -m pytest -ra tests/serving/test_serving_http.py "$@"

echo
echo "== summary"
failed=0 passed=0 fails=0 skips=0
count() { # WORDS LINE: the sum of the numbers before any of WORDS in LINE
  local total=0 n
  for n in $(grep -oE "[0-9]+ ($1)" <<<"$2" | grep -oE '^[0-9]+'); do total=$((total + n)); done
  echo "$total"
}
for i in "${!names[@]}"; do
  verdict=ok
  [ "${codes[$i]}" = 0 ] || { verdict="FAILED (exit ${codes[$i]})"; failed=$((failed + 1)); }
  printf '%-22s %-18s %s\n' "${names[$i]}" "$verdict" "${lines[$i]}"
  passed=$((passed + $(count passed "${lines[$i]}")))
  skips=$((skips + $(count skipped "${lines[$i]}")))
  n=$(count 'failed|errors?' "${lines[$i]}")
  # A step that failed without a failing test (lint, types, a crashed run) counts as one.
  [ "${codes[$i]}" != 0 ] && [ "$n" = 0 ] && n=1
  fails=$((fails + n))
done
# The plain closing line, over every step.
echo "all: $passed passed, $fails failed, $skips skipped"
[ "$failed" = 0 ]
