"""The Mesh view's summary row: nodes down, stale or connecting, pairs unreachable,
pending, on a standby relay or a single relay, routes missing from the kernel,
degrading links — counted by :func:`summarize`, most severe first.

Pure: no I/O. A relay is a standby one when the inventory's rxcosts (read through
:class:`~meshtui.core.names.Names`) rank it below another for the node that picks it
(:func:`preferred_relay`, :func:`on_standby_relay`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from meshtui.core.mesh_findings import CheckKind, Finding, Severity
from meshtui.core.mesh_matrix import Cell, CellState, Matrix
from meshtui.core.model import NodeModel
from meshtui.core.names import Names

__all__ = [
    "DEFAULT_TUNNEL_RXCOST",
    "NAME_LIMIT",
    "MeshSummary",
    "Problem",
    "ProblemKind",
    "degrading_links",
    "on_standby_relay",
    "preferred_relay",
    "summarize",
]

NAME_LIMIT = 3
"""A problem names its nodes, pairs or links when there are at most this many."""

DEFAULT_TUNNEL_RXCOST = 96
"""babeld's rxcost on a tunnel whose inventory entry gives none."""


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
