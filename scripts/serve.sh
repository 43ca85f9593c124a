#!/usr/bin/env bash
# Set up a virtual environment and start the HTTP service on 127.0.0.1 (PORT, default 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[service,torch]'
# WORKERS > 1: one uvicorn process per worker on a shared port (SO_REUSEPORT), see api/serve.py.
exec python -m api.serve --host 127.0.0.1 --port "${PORT:-8000}" --workers "${WORKERS:-1}"
