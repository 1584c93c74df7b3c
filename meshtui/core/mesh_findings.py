"""What the mesh checks find: :class:`Finding` (a kind and a severity) and its text.

Pure: the result types of :func:`meshtui.core.meshcheck.check_mesh`, shared by the
summary of problems (:mod:`meshtui.core.mesh_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["CheckKind", "Finding", "Severity", "format_findings"]


class Severity(Enum):
    """How much a finding matters."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class CheckKind(Enum):
    """What a finding is about."""

    NODE_DOWN = "node_down"
    UNREACHABLE = "unreachable"
    NOT_IN_KERNEL = "not_in_kernel"
    IDLE_RELAY = "idle_relay"
    SINGLE_RELAY = "single_relay"


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of the mesh checks."""

    kind: CheckKind
    severity: Severity
    message: str
    node: str | None = None
    prefix: str | None = None
    dest: str | None = None
    relay: str | None = None
    nodes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "message": self.message,
            "node": self.node,
            "prefix": self.prefix,
            "dest": self.dest,
            "relay": self.relay,
            "nodes": list(self.nodes),
        }


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding, severity first."""
    lines = [f"{f.severity.value:7} {f.message}" for f in findings]
    return "\n".join(lines) if lines else "no findings"
