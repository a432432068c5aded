#!/usr/bin/env bash
# Runs all the tests. Does its own set-up first (idempotent): system packages, .venv, dependencies and
# the compiled op library. Extra arguments go to pytest, e.g. scripts/test.sh -k correlation
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
