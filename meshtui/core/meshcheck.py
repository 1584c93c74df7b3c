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

Pure: no I/O; names come from :class:`~meshtui.core.names.Names`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from meshtui.core.facts import NodeFacts
from meshtui.core.model import Destination, NodeModel, Route
from meshtui.core.names import Hop, Names

__all__ = [
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

    def describe(self) -> str:
        """One line for the cell under the Mesh view's cursor: state, metric, path, relays."""
        head = f"{self.source} → {self.dest}"
        if self.state is CellState.SELF:
            return f"{head}: itself"
        if self.state is CellState.UNKNOWN:
            return f"{head}: no live data from {self.source}"
        standby = ", ".join(str(h) for h in self.standby)
        if self.hop is None:
            what = "unreachable: no route" if self.state is CellState.UNREACHABLE else "pending"
            return f"{head}: {what}" + (f"; standbys {standby}" if standby else "")
        pending = " (a better route pending)" if self.state is CellState.PENDING else ""
        parts = [f"{head}: metric {self.metric}{pending}"]
        trail = " › ".join(self.path) + ("" if self.complete else " › ?")
        parts.append(f"path {trail}")
        if self.relay is not None:
            others = [a for a in self.alternatives if a != self.relay]
            relays = f"relay {self.relay}"
            relays += f", else {', '.join(others)}" if others else " alone"
            parts.append(relays)
        elif standby:
            parts.append(f"standbys {standby}")
        return "; ".join(parts)

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
            # inventory, that is all there is to know of the other nodes); the
            # routes' prefixes, not model.destinations(), which ranks every one
            routed = {r.prefix for r in model.routes.values()}
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


class _Tables:
    """The models and names of one matrix build, with what the traces ask again and again.

    At 50 nodes every path of a site crosses the same edge and relay: their
    destinations, own /128s and named next hops are looked up once per build.
    """

    def __init__(self, models: Mapping[str, NodeModel | None], names: Names) -> None:
        self.models = models
        self.names = names
        self._own: dict[str, set[str]] = {}
        self._dests: dict[tuple[str, str], Destination] = {}
        self._hops: dict[tuple[str, str, str], Hop] = {}
        self._next: dict[tuple[str, str], str | None] = {}

    def own(self, node: str) -> set[str]:
        own = self._own.get(node)
        if own is None:
            model = self.models.get(node)
            own = self._own[node] = _own_prefixes(model) if model is not None else set()
        return own

    def destination(self, node: str, prefix: str) -> Destination | None:
        key = (node, prefix)
        dest = self._dests.get(key)
        if dest is None:
            model = self.models.get(node)
            if model is None:
                return None
            dest = self._dests[key] = model.destination(prefix)
        return dest

    def hop(self, node: str, route: Route) -> Hop:
        key = (node, route.via, route.interface)
        hop = self._hops.get(key)
        if hop is None:
            hop = self._hops[key] = self.names.hop(node, route)
        return hop

    def next_node(self, node: str, prefix: str) -> str | None:
        """The neighbour ``node``'s selected route to ``prefix`` goes through (None: none)."""
        key = (node, prefix)
        if key in self._next:
            return self._next[key]
        dest = self.destination(node, prefix)
        selected = dest.selected if dest is not None else None
        nxt = (
            self.names.neighbour(node, selected.via, selected.interface)
            if selected is not None
            else None
        )
        self._next[key] = nxt
        return nxt


def _trace(
    source: str, prefix: str, owner: str | None, tables: _Tables
) -> tuple[tuple[str, ...], bool]:
    path = [source]
    current = source
    for _ in range(MAX_HOPS):
        if current == owner:
            return tuple(path), True
        if current not in tables.models or tables.models[current] is None:
            break
        if prefix in tables.own(current):
            return tuple(path), True
        nxt = tables.next_node(current, prefix)
        if nxt is None or nxt in path:
            break
        path.append(nxt)
        current = nxt
    return tuple(path), path[-1] == owner


def _alternatives(chooser: str, prefix: str, tables: _Tables) -> tuple[str, ...]:
    dest = tables.destination(chooser, prefix)
    if dest is None:
        return ()
    routes = ([dest.selected] if dest.selected else []) + list(dest.standby)
    out: list[str] = []
    for route in routes:
        name = _hop_name(tables.hop(chooser, route))
        if name not in out:
            out.append(name)
    return tuple(out)


def _cell(source: str, dest: str, prefix: str, owner: str | None, tables: _Tables) -> Cell:
    names = tables.names
    model = tables.models.get(source)
    if owner == source or (model is not None and prefix in tables.own(source)):
        return Cell(source, dest, prefix, CellState.SELF, path=(source,), complete=True)
    if model is None:
        return Cell(source, dest, prefix, CellState.UNKNOWN)
    d = tables.destination(source, prefix)
    assert d is not None
    standby = tuple(tables.hop(source, r) for r in d.standby)
    if d.selected is None:
        state = CellState.PENDING if d.standby else CellState.UNREACHABLE
        return Cell(source, dest, prefix, state, standby=standby)
    hop = tables.hop(source, d.selected)
    path, complete = _trace(source, prefix, owner, tables)
    relay = None
    alternatives: tuple[str, ...] = ()
    for i, node in enumerate(path[1:], start=1):
        if node == owner:
            break
        if names.is_relay(node):
            relay = node
            alternatives = _alternatives(path[i - 1], prefix, tables)
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
    *,
    previous: Matrix | None = None,
    changed: Collection[str] | None = None,
) -> Matrix:
    """The source x destination matrix.

    Args:
        models: each node's live model; None for a node without live data.
        names: the names (build it from the same models).
        destinations: node names whose /128 make the columns (default: every
            node known, then any other /128 a node redistributes).
        sources: the rows (default: every node known to ``names``, then the
            models' other nodes).
        previous: the matrix of the same nodes before, and ``changed``: the nodes
            whose model changed since (routes, or no data / data). A cell reads only
            the models of its source and of the nodes its path crosses: when none of
            them changed, and the rows and columns are the same, the previous cell is
            kept. Names are assumed the same (build from scratch when they moved).
    """
    rows = list(sources) if sources is not None else names.nodes
    for node in models:
        if node not in rows and sources is None:
            rows.append(node)
    cols = _destinations(names, models, destinations)
    tables = _Tables(models, names)
    owners = [names.node_of_prefix(prefix) for _, prefix in cols]
    old_cells: dict[tuple[str, str], Cell] = {}
    if (
        previous is not None
        and changed is not None
        and previous.sources == tuple(rows)
        and previous.destinations == tuple(cols)
    ):
        old_cells = previous.cells
    dirty = set(changed or ())
    cells = {}
    for source in rows:
        source_dirty = source in dirty
        for (dest, prefix), owner in zip(cols, owners, strict=True):
            key = (source, prefix)
            if old_cells and not source_dirty:
                old = old_cells.get(key)
                if old is not None and dirty.isdisjoint(old.path):
                    cells[key] = old
                    continue
            cells[key] = _cell(source, dest, prefix, owner, tables)
    return Matrix(tuple(rows), tuple(cols), cells)


def changed_cells(old: Matrix | None, new: Matrix) -> set[tuple[str, str]]:
    """Keys of the cells whose state, hop, metric or relay differ (all, when there is no old)."""
    if old is None:
        return set(new.cells)
    out = set()
    for key, cell in new.cells.items():
        before = old.cells.get(key)
        if before is cell:  # kept by an incremental build
            continue
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


# ------------------------------------------------------------------ the summary of problems

NAME_LIMIT = 3
"""A problem names its nodes, pairs or links when there are at most this many."""

DEFAULT_TUNNEL_RXCOST = 96
"""babeld's rxcost on a tunnel whose inventory entry gives none."""

ROLE_ORDER = ("relay", "edge", "server")
"""The roles a mesh has, in the order the Mesh view cycles through them."""


class ProblemKind(Enum):
    """What the Mesh view's summary row counts, in the order it shows them."""

    DOWN = "down"  # no live data (the connection failed or was refused)
    STALE = "stale"  # was live, the connection is being re-established
    UNREACHABLE = "unreachable"  # pairs: no route at all
    NOT_IN_KERNEL = "not in kernel"  # routes babeld installed that the kernel lacks
    STANDBY_RELAY = "on a standby relay"  # pairs crossing a relay their chooser ranks lower
    SINGLE_RELAY = "single relay"  # pairs whose chooser has no other relay
    PENDING = "pending"  # pairs waiting for a better (or first) route
    DEGRADING = "degrading"  # links: Hellos missed or silent beyond the allowance
    CONNECTING = "connecting"  # not live yet (first connection, or syncing)
    NOT_READ = "not read"  # known by name only (a recording's other nodes): nobody reads them


_PROBLEM_SEVERITY = {
    ProblemKind.DOWN: Severity.ERROR,
    ProblemKind.STALE: Severity.WARNING,
    ProblemKind.UNREACHABLE: Severity.ERROR,
    ProblemKind.NOT_IN_KERNEL: Severity.ERROR,
    ProblemKind.STANDBY_RELAY: Severity.WARNING,
    ProblemKind.SINGLE_RELAY: Severity.WARNING,
    ProblemKind.PENDING: Severity.INFO,
    ProblemKind.DEGRADING: Severity.WARNING,
    ProblemKind.CONNECTING: Severity.INFO,
    ProblemKind.NOT_READ: Severity.INFO,
}

_UNIT = {
    ProblemKind.DOWN: "node",
    ProblemKind.STALE: "node",
    ProblemKind.CONNECTING: "node",
    ProblemKind.NOT_READ: "node",
    ProblemKind.DEGRADING: "link",
    ProblemKind.NOT_IN_KERNEL: "route",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One count of the summary row: how many nodes, pairs or links, and which.

    Attributes:
        kind: what is counted.
        count: how many.
        items: the first :data:`NAME_LIMIT` of them: nodes (``srv-a1``), pairs
            (``srv-a1→srv-b1``) or links (``edge-a→relay-1``).
        relays: for pairs on a standby relay, the relays carrying them (by how many, most first).
    """

    kind: ProblemKind
    count: int
    items: tuple[str, ...] = ()
    relays: tuple[str, ...] = ()

    @property
    def severity(self) -> Severity:
        """How much it matters (the view colours it by this)."""
        return _PROBLEM_SEVERITY[self.kind]

    @property
    def unit(self) -> str:
        """What is counted: node, pair, link or route."""
        return _UNIT.get(self.kind, "pair")

    def text(self) -> str:
        """``2 nodes down: relay-2, srv-a1``; more than :data:`NAME_LIMIT`: counted only."""
        unit = self.unit + ("s" if self.count != 1 else "")
        head = f"{self.count} {unit} {self.kind.value}"
        if self.count <= NAME_LIMIT and self.items:
            return f"{head}: {', '.join(self.items)}"
        if self.relays:
            return f"{head} ({', '.join(self.relays)})"
        return head


@dataclass(frozen=True)
class MeshSummary:
    """The Mesh view's summary row: live nodes and the problems, most severe first."""

    live: int
    nodes: int
    pairs: int
    problems: tuple[Problem, ...]

    def of(self, kind: ProblemKind) -> Problem | None:
        """The count of one kind (None: none of it)."""
        return next((p for p in self.problems if p.kind is kind), None)

    def count(self, kind: ProblemKind) -> int:
        """How many of one kind (0: none)."""
        problem = self.of(kind)
        return problem.count if problem is not None else 0

    def text(self) -> str:
        """The row as plain text."""
        parts = [f"{self.live}/{self.nodes} nodes live"]
        parts += [p.text() for p in self.problems] or ["no problems"]
        return " · ".join(parts)


def preferred_relay(names: Names, chooser: str) -> str | None:
    """The relay the inventory makes ``chooser`` prefer: its tunnel of lowest rxcost.

    None when the inventory does not say (no inventory, no tunnels to relays, or
    two relays tied at the lowest cost).
    """
    inventory = names.inventory
    node = inventory.nodes.get(chooser) if inventory is not None else None
    if node is None:
        return None
    costs = sorted(
        (t.rxcost if t.rxcost is not None else DEFAULT_TUNNEL_RXCOST, t.peer)
        for t in node.tunnels
        if names.is_relay(t.peer)
    )
    if not costs or (len(costs) > 1 and costs[0][0] == costs[1][0]):
        return None
    return costs[0][1]


def on_standby_relay(cell: Cell, names: Names, known: dict[str, str | None] | None = None) -> bool:
    """The cell's path crosses a relay other than the one its chooser prefers.

    ``known`` keeps each chooser's :func:`preferred_relay` across calls (a summary asks
    for thousands of cells and a few dozen choosers).
    """
    if cell.relay is None or cell.relay not in cell.path:
        return False
    index = cell.path.index(cell.relay)
    if index == 0:
        return False
    chooser = cell.path[index - 1]
    if known is None:
        known = {}
    if chooser not in known:
        known[chooser] = preferred_relay(names, chooser)
    preferred = known[chooser]
    return preferred is not None and preferred != cell.relay


def degrading_links(models: Mapping[str, NodeModel | None], names: Names) -> list[tuple[str, str]]:
    """(node, neighbour name) of every link whose last Hello was missed or that is silent
    beyond its allowance (the model's ``degrading_since``), in node order."""
    out = []
    for node, model in models.items():
        if model is None:
            continue
        for neigh in model.neighbours.values():
            if not neigh.up:
                continue
            missed = neigh.reach & 0xFFFF and not neigh.reach & 0x8000
            if missed or neigh.degrading_since is not None:
                name = names.neighbour(node, neigh.address, neigh.interface)
                out.append((node, name or f"{neigh.address}%{neigh.interface}"))
    return out


def _problem(kind: ProblemKind, items: list[str], relays: tuple[str, ...] = ()) -> Problem | None:
    if not items:
        return None
    return Problem(kind, len(items), tuple(items[:NAME_LIMIT]), relays)


def summarize(
    matrix: Matrix,
    models: Mapping[str, NodeModel | None],
    names: Names,
    findings: Iterable[Finding] = (),
    states: Mapping[str, str] | None = None,
) -> MeshSummary:
    """Count the mesh's problems for the summary row.

    Args:
        matrix: the matrix of ``models``.
        models: as for :func:`build_matrix` (None: no live data).
        names: the names (and the inventory, which says which relay each edge prefers).
        findings: :func:`check_mesh`'s findings (routes missing from the kernel are counted).
        states: each node's connection state (``live``, ``connecting``, ``syncing``,
            ``reconnecting``, ``failed``, ``stopped``); without it a node without data is
            down. A node neither in ``models`` nor in ``states`` (a name a recording or
            the live data told, that nobody reads) is "not read".
    """
    states = states or {}
    down: list[str] = []
    stale: list[str] = []
    connecting: list[str] = []
    unread: list[str] = []
    for node in matrix.sources:
        if models.get(node) is not None:
            continue
        if node not in models and node not in states:
            unread.append(node)
            continue
        state = states.get(node, "failed")
        if state == "reconnecting":
            stale.append(node)
        elif state in ("connecting", "syncing"):
            connecting.append(node)
        else:
            down.append(node)
    unreachable: list[str] = []
    pending: list[str] = []
    single: list[str] = []
    standby: list[str] = []
    standby_relays: dict[str, int] = {}
    pairs = 0
    preferred: dict[str, str | None] = {}
    for cell in matrix.cells.values():
        if cell.state is CellState.SELF:
            continue
        pairs += 1
        pair = f"{cell.source}→{cell.dest}"
        if cell.state is CellState.UNREACHABLE:
            unreachable.append(pair)
        elif cell.state is CellState.PENDING:
            pending.append(pair)
        if cell.single_relay:
            single.append(pair)
        if on_standby_relay(cell, names, preferred):
            standby.append(pair)
            relay = cell.relay or ""
            standby_relays[relay] = standby_relays.get(relay, 0) + 1
    kernel = [
        f"{f.node}→{f.dest or f.prefix}" for f in findings if f.kind is CheckKind.NOT_IN_KERNEL
    ]
    links = [f"{a}→{b}" for a, b in degrading_links(models, names)]
    ranked = tuple(sorted(standby_relays, key=lambda r: (-standby_relays[r], r)))
    problems = [
        _problem(ProblemKind.DOWN, down),
        _problem(ProblemKind.STALE, stale),
        _problem(ProblemKind.UNREACHABLE, unreachable),
        _problem(ProblemKind.NOT_IN_KERNEL, kernel),
        _problem(ProblemKind.STANDBY_RELAY, standby, ranked),
        _problem(ProblemKind.SINGLE_RELAY, single),
        _problem(ProblemKind.PENDING, pending),
        _problem(ProblemKind.DEGRADING, links),
        _problem(ProblemKind.CONNECTING, connecting),
        _problem(ProblemKind.NOT_READ, unread),
    ]
    live = sum(1 for s in matrix.sources if models.get(s) is not None)
    return MeshSummary(live, len(matrix.sources), pairs, tuple(p for p in problems if p))


def row_words(names: Names, node: str) -> str:
    """The words a filter matches a node's row on besides its cells: its role and site,
    plain and as ``role:relay`` / ``site:b`` (a bare site letter would match every name)."""
    words = []
    role = names.role(node)
    if role:
        words += [role, f"role:{role}"]
    site = names.site(node)
    if site:
        words.append(f"site:{site}")
    return " ".join(words).lower()


def scope_choices(names: Names, nodes: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(roles, sites) present among ``nodes``: roles in :data:`ROLE_ORDER` (then others,
    sorted), sites sorted — what the Mesh view's role and site keys cycle through."""
    roles: set[str] = set()
    sites: set[str] = set()
    for node in nodes:
        if role := names.role(node):
            roles.add(role)
        if site := names.site(node):
            sites.add(site)
    ordered = [r for r in ROLE_ORDER if r in roles] + sorted(roles - set(ROLE_ORDER))
    return tuple(ordered), tuple(sorted(sites))


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
