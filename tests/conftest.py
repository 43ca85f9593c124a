"""Shared test set-up: the helpers in ``tests/support`` (random architectures, the PyTorch
oracle) are importable from every wing's tests as top-level modules. A test module that needs
torch starts with ``pytest.importorskip("torch")``, so the suite also runs without it
(``scripts/test-notorch.sh``)."""

import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))
