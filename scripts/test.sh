#!/usr/bin/env bash
# Set up a virtual environment (torch pinned to the CPU build) and run lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,torch,service]'
ruff check cnncalc api tests
mypy
python -m pytest "$@"
