#!/usr/bin/env bash
# Set up .venv (torch 2.13.0, the CPU build: scripts/venv.sh; torchvision, timm, onnx and
# onnxruntime for the import tests) and run lint, types and the tests.
# Arguments go to pytest: bash scripts/test.sh tests/core -x
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
setup_venv .venv dev,torch,models,onnx,service,tables,peers,browser,cluster,cost
. .venv/bin/activate
# pdflatex (with booktabs) for the test that compiles the LaTeX design table: installed from
# Debian's packages in CI; where it cannot be installed that one test skips and says why.
if [ -n "${CI:-}" ] && ! command -v pdflatex >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  step "installing pdflatex for the LaTeX table test"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends texlive-latex-base texlive-latex-recommended; } >/dev/null 2>&1 \
    || echo "note: could not install pdflatex; the LaTeX compile test will be skipped" >&2
fi
# Debian's Chromium for the page's browser tests (tests/browser, driven by Playwright with the
# system browser: nothing is downloaded); where it cannot be installed those tests skip.
if [ -n "${CI:-}" ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  step "installing chromium for the browser tests"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends chromium; } >/dev/null 2>&1 \
    || echo "note: could not install chromium; the browser tests will be skipped" >&2
fi
step "ruff"
ruff check cnncalc api tests scripts
step "mypy"
mypy
step "pytest"
python -m pytest "$@"
