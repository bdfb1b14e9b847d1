#!/usr/bin/env bash
# Set up (cached), start the real Kafka and Redis, then lint, type-check and run the
# whole test suite against them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$(pwd)/.venv/bin:$PATH"

echo "== ruff"; ruff check streamproc trainers tests; ruff format --check streamproc trainers tests
echo "== mypy"; mypy

eval "$(bash scripts/services.sh start)"
trap 'bash scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
export STREAMPROC_KAFKA_BOOTSTRAP STREAMPROC_REDIS_URL
echo "== pytest (Kafka $STREAMPROC_KAFKA_BOOTSTRAP, Redis $STREAMPROC_REDIS_URL)"
# Tests that start Ray Serve inside the pytest process get an interpreter of their own:
# after them, a later test that drives another Ray cluster from the same process timed
# out in CI (each passes alone; the exact cause is not pinned down yet).
python -m pytest -ra --ignore=tests/serving "$@"
python -m pytest -ra tests/serving --ignore=tests/serving/test_serving_http.py "$@"
# The HTTP ingress test runs its local Ray with a token of its own, and Ray caches the
# token per process: a later local Ray in the same interpreter then fails to start.
python -m pytest -ra tests/serving/test_serving_http.py "$@"
