# Sourced by scripts/test.sh, test-notorch.sh and serve.sh: create a virtual environment and
# install cnncalc in it (editable) with some extras, saying what it does while pip works.
#
#   setup_venv DIR EXTRAS        e.g. setup_venv .venv dev,torch,service,tables
#
# With "torch" among the extras, torch is installed first, alone, from PyTorch's CPU wheel index
# (TORCH_INDEX, default https://download.pytorch.org/whl/cpu): from the default index,
# torch==2.13.0 on Linux is the CUDA build and pulls gigabytes of CUDA libraries. Set
# TORCH_INDEX= (empty) to use pip's configured index instead, e.g. a mirror or a CUDA build.
# The version is the pin in constraints.txt. An environment already set up for the same
# pyproject.toml, constraints.txt and extras is left as it is (a stamp file in DIR); remove DIR
# to set it up afresh. PYTHON picks the interpreter that creates DIR (default python3).
#
# With "models" among the extras (timm, which needs torchvision), torchvision is installed next,
# alone and with --no-deps (the pin in constraints.txt): as a plain dependency pip may replace
# torch. Its wheel's compiled ops are built for the CUDA torch; cnncalc.pytorch.tvshim lets
# its models import over the CPU build (docs/models.md).

TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}

step() { printf '==> %s\n' "$*"; }

setup_venv() {
  local dir=$1 extras=$2 py=${PYTHON:-python3} quiet=
  # On a terminal pip shows what it downloads, with progress bars; in logs (CI) it stays quiet.
  [ -t 1 ] || quiet=-q
  if [ ! -x "$dir/bin/python" ]; then
    step "creating the virtual environment $dir"
    "$py" -m venv "$dir"
    echo '*' > "$dir/.gitignore"
  fi
  local stamp="$dir/.cnncalc-setup" want
  want="$extras $(cat pyproject.toml constraints.txt | "$dir/bin/python" -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    step "$dir is up to date (cnncalc[$extras])"
    return 0
  fi
  local pip="$dir/bin/python -m pip install $quiet --disable-pip-version-check"
  if [[ ",$extras," == *,torch,* ]]; then
    local pin
    pin=$(sed -n 's/^torch==\([^ ]*\).*/\1/p' constraints.txt)
    if ! "$dir/bin/python" -c \
        "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$pin')" >/dev/null 2>&1
    then
      step "installing torch $pin from ${TORCH_INDEX:-the configured index} (CPU build: 200 MB)"
      $pip --no-deps --retries 2 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "torch==$pin"
    fi
  fi
  if [[ ",$extras," == *,models,* ]]; then
    local tv
    tv=$(sed -n 's/^torchvision==\([^ ]*\).*/\1/p' constraints.txt)
    if ! "$dir/bin/python" -c "import importlib.metadata as m, sys; \
        sys.exit(m.version('torchvision').split('+')[0] != '$tv')" >/dev/null 2>&1; then
      step "installing torchvision $tv (--no-deps, over torch)"
      $pip --no-deps --retries 2 "torchvision==$tv"
    fi
  fi
  step "installing cnncalc[$extras] and its dependencies into $dir (a minute or two)"
  $pip -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
  step "$dir is ready"
}
