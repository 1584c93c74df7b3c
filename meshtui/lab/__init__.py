"""A lab of real babeld daemons in network namespaces (root only).

See :class:`meshtui.lab.lab.Lab` for the Python API and ``meshtui lab --help``
for the command line.
"""

from __future__ import annotations

from meshtui.lab.lab import (
    Lab,
    LabError,
    LabTimeout,
    NodeStatus,
    lab_unavailable,
    missing_prerequisites,
)
from meshtui.lab.state import clean_stale, destroy_lab, list_labs
from meshtui.lab.topology import LabConfig

__all__ = [
    "Lab",
    "LabConfig",
    "LabError",
    "LabTimeout",
    "NodeStatus",
    "clean_stale",
    "destroy_lab",
    "lab_unavailable",
    "list_labs",
    "missing_prerequisites",
]
