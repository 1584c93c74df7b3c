"""``python -m meshtui``: the same entry point as the ``meshtui`` command."""

from __future__ import annotations

import sys

from meshtui.cli import main

sys.exit(main())
