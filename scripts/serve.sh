#!/usr/bin/env bash
# Set up .venv (scripts/venv.sh) and start the HTTP service on 127.0.0.1 (PORT, default 8000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
setup_venv .venv service,torch
. .venv/bin/activate
step "starting the service on http://127.0.0.1:${PORT:-8000} (API docs at /docs)"
# WORKERS > 1: one uvicorn process per worker on a shared port (SO_REUSEPORT), see api/serve.py.
exec python -m api.serve --host 127.0.0.1 --port "${PORT:-8000}" --workers "${WORKERS:-1}"
