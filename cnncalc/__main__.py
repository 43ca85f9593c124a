"""``python -m cnncalc``: the ``cnncalc`` command."""

import sys

from .cli import main

sys.exit(main())
