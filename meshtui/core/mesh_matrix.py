"""The source node x destination /128 matrix: every path traced hop by hop through the tables.

* :func:`build_matrix` — for each source node and each node's /128, the first
  hop, the metric, and the path traced hop by hop through the other nodes'
  tables, hence the relay the path crosses and the relays it could fall back
  to; built again only where a changed model is read (``previous`` / ``changed``);
* :func:`changed_cells` — the cells two builds disagree on;
* :func:`format_matrix` — the matrix as plain text.

Pure: no I/O; names come from :class:`~meshtui.core.names.Names`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from meshtui.core.model import Destination, NodeModel, Route
from meshtui.core.names import Hop, Names

__all__ = [
    "MAX_HOPS",
    "Cell",
    "CellState",
    "Matrix",
    "build_matrix",
    "changed_cells",
    "format_matrix",
]

MAX_HOPS = 32


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


# ------------------------------------------------------------------ tracing


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
