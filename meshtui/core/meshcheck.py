"""The whole mesh at a glance: the source node x destination /128 matrix, and its checks.

From every node's live model (and, when gathered, its kernel facts):

* :func:`build_matrix` — for each source node and each node's /128, the
  first hop, the metric, and the path traced hop by hop through the other
  nodes' tables, hence the relay the path crosses and the relays it could
  fall back to;
* :func:`check_mesh` — findings: nodes that cannot reach some /128, routes
  babeld says are installed but the kernel table lacks, relays that carry
  nothing, destinations that depend on a single relay, nodes without data.

Pure: no I/O; names come from :class:`~meshtui.core.names.Names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from meshtui.core.facts import NodeFacts
from meshtui.core.model import NodeModel
from meshtui.core.names import Hop, Names

__all__ = [
    "Cell",
    "CellState",
    "CheckKind",
    "Finding",
    "Matrix",
    "MeshReport",
    "Severity",
    "build_matrix",
    "changed_cells",
    "check_mesh",
    "format_findings",
    "format_matrix",
    "mesh_report",
]

MAX_HOPS = 32
KERNEL_SETTLE = 2.0


class CellState(Enum):
    """How a source reaches a destination."""

    OK = "ok"
    PENDING = "pending"  # a better (or first) route is not installed yet
    UNREACHABLE = "unreachable"
    SELF = "self"  # the source is the destination
    UNKNOWN = "unknown"  # no live data from the source


@dataclass(frozen=True, slots=True)
class Cell:
    """How ``source`` reaches ``dest``'s /128.

    Attributes:
        hop: the source's selected next hop (None when none is selected).
        metric: the selected route's metric.
        path: nodes along the way, source first, as far as the tables trace it.
        complete: the traced path reaches the destination.
        relay: the first relay on the path (None when it crosses none, or unknown).
        alternatives: the distinct next hops (named) of the node that picks the
            relay, selected first; with one relay among them only, the
            destination depends on that relay.
        standby: the source's own alternative next hops, best first.
    """

    source: str
    dest: str
    prefix: str
    state: CellState
    hop: Hop | None = None
    metric: int | None = None
    path: tuple[str, ...] = ()
    complete: bool = False
    relay: str | None = None
    alternatives: tuple[str, ...] = ()
    standby: tuple[Hop, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """(source, prefix): the cell's stable identity."""
        return (self.source, self.prefix)

    @property
    def single_relay(self) -> bool:
        """The path crosses a relay and its chooser has no other way."""
        return self.relay is not None and self.alternatives == (self.relay,)

    @property
    def label(self) -> str:
        """Short text: the relay (or first hop) and the metric; ``-`` self, ``x`` unreachable."""
        if self.state is CellState.SELF:
            return "-"
        if self.state is CellState.UNKNOWN:
            return "?"
        if self.hop is None:
            return "x" if self.state is CellState.UNREACHABLE else "~"
        name = self.relay or self.hop.node or f"{self.hop.via}%{self.hop.interface}"
        flag = "*" if self.state is CellState.PENDING else ""
        return f"{name} {self.metric}{flag}"

    @property
    def signature(self) -> tuple[Any, ...]:
        """What a change of the cell is judged on."""
        hop = (self.hop.via, self.hop.interface) if self.hop else None
        return (self.state, hop, self.metric, self.relay)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "source": self.source,
            "dest": self.dest,
            "prefix": self.prefix,
            "state": self.state.value,
            "hop": None
            if self.hop is None
            else {"node": self.hop.node, "via": self.hop.via, "interface": self.hop.interface},
            "metric": self.metric,
            "path": list(self.path),
            "complete": self.complete,
            "relay": self.relay,
            "alternatives": list(self.alternatives),
            "standby": [str(h) for h in self.standby],
            "single_relay": self.single_relay,
        }


@dataclass(frozen=True)
class Matrix:
    """Sources (rows) x destinations (columns: node name and /128)."""

    sources: tuple[str, ...]
    destinations: tuple[tuple[str, str], ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, source: str, prefix: str) -> Cell | None:
        """The cell for ``source`` and a destination /128."""
        return self.cells.get((source, prefix))

    def row(self, source: str) -> list[Cell]:
        """The source's cells, in column order."""
        return [c for _, p in self.destinations if (c := self.cells.get((source, p)))]

    def column(self, prefix: str) -> list[Cell]:
        """The cells towards one destination, in row order."""
        return [c for s in self.sources if (c := self.cells.get((s, prefix)))]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "sources": list(self.sources),
            "destinations": [{"node": n, "prefix": p} for n, p in self.destinations],
            "cells": [c.to_json() for c in self.cells.values()],
        }


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


# ------------------------------------------------------------------ matrix


def _own_prefixes(model: NodeModel) -> set[str]:
    return {x.prefix for x in model.xroutes.values()}


def _destinations(
    names: Names, models: Mapping[str, NodeModel | None], only: Iterable[str] | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    wanted = list(only) if only is not None else None
    candidates = wanted if wanted is not None else names.nodes
    for node in candidates:
        prefix = names.prefix_of(node)
        if prefix and prefix not in seen:
            seen.add(prefix)
            out.append((node, prefix))
    if wanted is None:
        for model in models.values():
            if model is None:
                continue
            # what the nodes announce, then what they route to (without an
            # inventory, that is all there is to know of the other nodes)
            routed = {d.prefix for d in model.destinations()}
            for prefix in [*sorted(_own_prefixes(model)), *sorted(routed)]:
                if prefix.endswith("/128") and prefix not in seen and names.in_mesh(prefix):
                    seen.add(prefix)
                    label = names.describe_prefix(prefix)
                    if any(label == used for used, _ in out):  # a node's second address
                        label = prefix
                    out.append((label, prefix))
    return out


def _hop_name(hop: Hop) -> str:
    return hop.node or f"{hop.via}%{hop.interface}"


def _trace(
    source: str,
    prefix: str,
    owner: str | None,
    models: Mapping[str, NodeModel | None],
    names: Names,
) -> tuple[tuple[str, ...], bool]:
    path = [source]
    current = source
    for _ in range(MAX_HOPS):
        if current == owner:
            return tuple(path), True
        model = models.get(current)
        if model is None:
            break
        if prefix in _own_prefixes(model):
            return tuple(path), True
        selected = model.destination(prefix).selected
        if selected is None:
            break
        nxt = names.neighbour(current, selected.via, selected.interface)
        if nxt is None or nxt in path:
            break
        path.append(nxt)
        current = nxt
    return tuple(path), path[-1] == owner


def _alternatives(
    chooser: str, prefix: str, models: Mapping[str, NodeModel | None], names: Names
) -> tuple[str, ...]:
    model = models.get(chooser)
    if model is None:
        return ()
    dest = model.destination(prefix)
    routes = ([dest.selected] if dest.selected else []) + list(dest.standby)
    out: list[str] = []
    for route in routes:
        name = _hop_name(names.hop(chooser, route))
        if name not in out:
            out.append(name)
    return tuple(out)


def _cell(
    source: str,
    dest: str,
    prefix: str,
    models: Mapping[str, NodeModel | None],
    names: Names,
) -> Cell:
    owner = names.node_of_prefix(prefix)
    model = models.get(source)
    if owner == source or (model is not None and prefix in _own_prefixes(model)):
        return Cell(source, dest, prefix, CellState.SELF, path=(source,), complete=True)
    if model is None:
        return Cell(source, dest, prefix, CellState.UNKNOWN)
    d = model.destination(prefix)
    standby = tuple(names.hop(source, r) for r in d.standby)
    if d.selected is None:
        state = CellState.PENDING if d.standby else CellState.UNREACHABLE
        return Cell(source, dest, prefix, state, standby=standby)
    hop = names.hop(source, d.selected)
    path, complete = _trace(source, prefix, owner, models, names)
    relay = None
    alternatives: tuple[str, ...] = ()
    for i, node in enumerate(path[1:], start=1):
        if node == owner:
            break
        if names.is_relay(node):
            relay = node
            alternatives = _alternatives(path[i - 1], prefix, models, names)
            break
    state = CellState.PENDING if d.state == "pending" else CellState.OK
    return Cell(
        source,
        dest,
        prefix,
        state,
        hop=hop,
        metric=d.selected.metric,
        path=path,
        complete=complete,
        relay=relay,
        alternatives=alternatives,
        standby=standby,
    )


def build_matrix(
    models: Mapping[str, NodeModel | None],
    names: Names,
    destinations: Iterable[str] | None = None,
    sources: Iterable[str] | None = None,
) -> Matrix:
    """The source x destination matrix.

    Args:
        models: each node's live model; None for a node without live data.
        names: the names (build it from the same models).
        destinations: node names whose /128 make the columns (default: every
            node known, then any other /128 a node redistributes).
        sources: the rows (default: every node known to ``names``, then the
            models' other nodes).
    """
    rows = list(sources) if sources is not None else names.nodes
    for node in models:
        if node not in rows and sources is None:
            rows.append(node)
    cols = _destinations(names, models, destinations)
    cells = {}
    for source in rows:
        for dest, prefix in cols:
            cells[(source, prefix)] = _cell(source, dest, prefix, models, names)
    return Matrix(tuple(rows), tuple(cols), cells)


def changed_cells(old: Matrix | None, new: Matrix) -> set[tuple[str, str]]:
    """Keys of the cells whose state, hop, metric or relay differ (all, when there is no old)."""
    if old is None:
        return set(new.cells)
    out = set()
    for key, cell in new.cells.items():
        before = old.cells.get(key)
        if before is None or before.signature != cell.signature:
            out.add(key)
    return out


# ------------------------------------------------------------------ checks


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


# ------------------------------------------------------------------ text


def format_matrix(matrix: Matrix) -> str:
    """The matrix as a plain text table (rows: sources; columns: destinations)."""
    headers = ["from \\ to", *(name for name, _ in matrix.destinations)]
    rows = [[s, *(c.label for c in matrix.row(s))] for s in matrix.sources]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding, severity first."""
    lines = [f"{f.severity.value:7} {f.message}" for f in findings]
    return "\n".join(lines) if lines else "no findings"
