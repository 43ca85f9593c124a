#!/usr/bin/env bash
# Set up a virtual environment (torch pinned to the CPU build) and run lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,torch,service,tables]'
# pdflatex (with booktabs) for the test that compiles the LaTeX design table: installed from
# Debian's packages in CI; where it cannot be installed that one test skips and says why.
if [ -n "${CI:-}" ] && ! command -v pdflatex >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends texlive-latex-base texlive-latex-recommended; } >/dev/null 2>&1 \
    || echo "note: could not install pdflatex; the LaTeX compile test will be skipped" >&2
fi
ruff check cnncalc api tests
mypy
python -m pytest "$@"
