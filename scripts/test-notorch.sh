#!/usr/bin/env bash
# The suite without PyTorch: a second environment, .venv-notorch, with every extra but torch.
# Test modules that need torch skip (pytest.importorskip); everything else must pass, which
# shows that the core never needs torch. CI runs it after scripts/test.sh. Arguments go to
# pytest. CNNCALC_HYPOTHESIS_EXAMPLES defaults to 50 here (the random tests are the slow part).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
setup_venv .venv-notorch dev,service,tables,cluster
. .venv-notorch/bin/activate
if python -c 'import torch' >/dev/null 2>&1; then
  echo "error: torch is installed in .venv-notorch; remove the folder and rerun" >&2
  exit 1
fi
export CNNCALC_HYPOTHESIS_EXAMPLES=${CNNCALC_HYPOTHESIS_EXAMPLES:-50}
step "pytest without torch"
python -m pytest "$@"
