"""The whole mesh at a glance: the source node x destination /128 matrix, and its checks.

From every node's live model (and, when gathered, its kernel facts):

* :func:`build_matrix` — for each source node and each node's /128, the
  first hop, the metric, and the path traced hop by hop through the other
  nodes' tables, hence the relay the path crosses and the relays it could
  fall back to;
* :func:`check_mesh` — findings: nodes that cannot reach some /128, routes
  babeld says are installed but the kernel table lacks, relays that carry
  nothing, destinations that depend on a single relay, nodes without data;
* :func:`summarize` — the counts of the Mesh view's summary row: nodes down,
  stale or connecting, pairs unreachable, pending, on a standby relay (one the
  inventory's rxcosts rank below another) or on a single relay, degrading links;
* :func:`row_words` and :func:`scope_choices` — what the view's filter and its
  role / site keys match a node's row on.

This module holds the checks (:func:`check_mesh`, :func:`mesh_report`) and is the
one import for all of it: the matrix lives in :mod:`meshtui.core.mesh_matrix`, the
finding types in :mod:`meshtui.core.mesh_findings`, the summary in
:mod:`meshtui.core.mesh_summary`, the filter's words in :mod:`meshtui.core.mesh_scope`.

Pure: no I/O; names come from :class:`~meshtui.core.names.Names`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshtui.core.facts import NodeFacts
from meshtui.core.mesh_findings import CheckKind, Finding, Severity, format_findings
from meshtui.core.mesh_matrix import (
    Cell,
    CellState,
    Matrix,
    build_matrix,
    changed_cells,
    format_matrix,
)
from meshtui.core.mesh_scope import row_words, scope_choices
from meshtui.core.mesh_summary import (
    NAME_LIMIT,
    MeshSummary,
    Problem,
    ProblemKind,
    degrading_links,
    on_standby_relay,
    preferred_relay,
    summarize,
)
from meshtui.core.model import NodeModel
from meshtui.core.names import Names

__all__ = [
    "NAME_LIMIT",
    "Cell",
    "CellState",
    "CheckKind",
    "Finding",
    "Matrix",
    "MeshReport",
    "MeshSummary",
    "Problem",
    "ProblemKind",
    "Severity",
    "build_matrix",
    "changed_cells",
    "check_mesh",
    "degrading_links",
    "format_findings",
    "format_matrix",
    "mesh_report",
    "on_standby_relay",
    "preferred_relay",
    "row_words",
    "scope_choices",
    "summarize",
]

KERNEL_SETTLE = 2.0


@dataclass(frozen=True)
class MeshReport:
    """The matrix and the findings, together."""

    matrix: Matrix
    findings: list[Finding]

    def of(self, kind: CheckKind) -> list[Finding]:
        """The findings of one kind."""
        return [f for f in self.findings if f.kind is kind]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "matrix": self.matrix.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


def check_mesh(
    models: Mapping[str, NodeModel | None],
    names: Names,
    facts: Mapping[str, NodeFacts] | None = None,
    matrix: Matrix | None = None,
    errors: Mapping[str, str] | None = None,
    settle: float = KERNEL_SETTLE,
) -> list[Finding]:
    """Every finding, most severe first.

    Args:
        models: as for :func:`build_matrix`.
        names: the names.
        facts: kernel facts per node (enables the installed-but-not-in-kernel check).
        matrix: the matrix, when already built.
        errors: why a node has no live data (shown in its finding).
        settle: a route that changed less than this many seconds from the moment
            the kernel was read is not compared (the two views may straddle a switch).
    """
    matrix = matrix or build_matrix(models, names)
    facts = facts or {}
    errors = errors or {}
    findings: list[Finding] = []

    for node in matrix.sources:
        if models.get(node) is None:
            why = errors.get(node) or "no live data"
            why = why.removeprefix(f"{node}: ")
            findings.append(
                Finding(CheckKind.NODE_DOWN, Severity.WARNING, f"{node}: {why}", node=node)
            )

    for cell in matrix.cells.values():
        if cell.state is CellState.UNREACHABLE:
            findings.append(
                Finding(
                    CheckKind.UNREACHABLE,
                    Severity.ERROR,
                    f"{cell.source} cannot reach {cell.dest} ({cell.prefix})",
                    node=cell.source,
                    prefix=cell.prefix,
                    dest=cell.dest,
                )
            )

    findings.extend(_kernel_findings(models, names, facts, settle))
    findings.extend(_relay_findings(matrix, names, models))
    findings.extend(_single_relay_findings(matrix))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(key=lambda f: (order[f.severity], f.kind.value, f.node or "", f.prefix or ""))
    return findings


def _kernel_findings(
    models: Mapping[str, NodeModel | None],
    names: Names,
    facts: Mapping[str, NodeFacts],
    settle: float,
) -> list[Finding]:
    out = []
    for node, model in models.items():
        f = facts.get(node)
        if model is None or f is None or f.routes is None:
            continue
        for dest in model.destinations():
            sel = dest.selected
            if sel is None or dest.src not in ("::/0", "0.0.0.0/0") or ":" not in dest.prefix:
                continue
            if f.has_kernel_route(dest.prefix, sel.via, sel.interface):
                continue
            if abs(max(sel.last_change, dest.since) - f.time) < settle:
                continue  # babeld switched around the time the kernel was read
            present = [r for r in f.kernel_routes(dest.prefix)]
            if present:
                r = present[0]
                where = f"{r.type} via {r.gateway or '-'} dev {r.dev or '-'} proto {r.protocol}"
                have = f"the kernel has {where}"
            else:
                have = "the kernel has no route for it"
            hop = names.describe_hop(node, sel.via, sel.interface)
            out.append(
                Finding(
                    CheckKind.NOT_IN_KERNEL,
                    Severity.ERROR,
                    f"{node}: babeld has {names.describe_prefix(dest.prefix)} installed via "
                    f"{hop}, but {have}",
                    node=node,
                    prefix=dest.prefix,
                    dest=names.node_of_prefix(dest.prefix),
                )
            )
    return out


def _relay_findings(
    matrix: Matrix, names: Names, models: Mapping[str, NodeModel | None]
) -> list[Finding]:
    """Idle relays, judged only from what was read: never about a relay that was not read,
    and only while every source of the matrix was read (an unread source's paths are unknown).
    """
    if any(models.get(source) is None for source in matrix.sources):
        return []
    relays = [n for n in names.nodes if names.is_relay(n) and models.get(n) is not None]
    carried = {r: 0 for r in relays}
    standby = {r: 0 for r in relays}
    for cell in matrix.cells.values():
        if cell.relay in carried:
            carried[cell.relay] += 1
        for alt in cell.alternatives[1:]:
            if alt in standby and alt != cell.relay:
                standby[alt] += 1
    out = []
    for relay in relays:
        if carried[relay]:
            continue
        if standby[relay]:
            severity = Severity.INFO
            detail = f"it is the standby for {standby[relay]} path(s)"
        else:
            severity = Severity.WARNING
            detail = "and is not even a standby"
        out.append(
            Finding(
                CheckKind.IDLE_RELAY,
                severity,
                f"relay {relay} carries no path; {detail}",
                node=relay,
                relay=relay,
            )
        )
    return out


def _single_relay_findings(matrix: Matrix) -> list[Finding]:
    by_dest: dict[str, list[Cell]] = {}
    for cell in matrix.cells.values():
        if cell.single_relay:
            by_dest.setdefault(cell.prefix, []).append(cell)
    out = []
    for prefix, cells in by_dest.items():
        relays = sorted({c.relay for c in cells if c.relay})
        sources = tuple(c.source for c in cells)
        dest = cells[0].dest
        out.append(
            Finding(
                CheckKind.SINGLE_RELAY,
                Severity.WARNING,
                f"{dest} depends on {' / '.join(relays)} alone from {', '.join(sources)}",
                prefix=prefix,
                dest=dest,
                relay=relays[0] if len(relays) == 1 else None,
                nodes=sources,
            )
        )
    return out


def mesh_report(
    models: Mapping[str, NodeModel | None],
    names: Names,
    facts: Mapping[str, NodeFacts] | None = None,
    errors: Mapping[str, str] | None = None,
) -> MeshReport:
    """The matrix and its findings."""
    matrix = build_matrix(models, names)
    return MeshReport(matrix, check_mesh(models, names, facts, matrix, errors))
