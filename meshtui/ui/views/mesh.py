"""The Mesh view: every node at once — source x destination matrix, relays, and the checks.

Rows are source nodes, columns the /128 of every node; a cell shows the relay
the path crosses (or the first hop when it crosses none) and the metric,
coloured by state: selected, pending, unreachable, depends on one relay, no
data. A cell that changed lights up (theme role ``changed``) for
:data:`HIGHLIGHT` seconds. Below, the findings of
:func:`meshtui.core.meshcheck.check_mesh`, most severe first.

The view draws from a :class:`MeshInput` (every node's model, the
:class:`~meshtui.core.names.Names`, optional kernel facts and per-node
errors). It gets one from, in order: :meth:`MeshView.show` called directly,
the ``provider`` given to the constructor, or the context's ``mesh`` (the
dashboard's hub builds it). It never reaches a transport. Enter on a row posts
:class:`MeshView.NodeSelected` (the app shows that node).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from meshtui.core.facts import NodeFacts
from meshtui.core.meshcheck import (
    Cell,
    CellState,
    Finding,
    Matrix,
    MeshReport,
    Severity,
    build_matrix,
    changed_cells,
    check_mesh,
)
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.ui.views.base import View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

__all__ = ["HIGHLIGHT", "MeshInput", "MeshView", "cell_style"]

HIGHLIGHT = 5.0
"""Seconds a changed cell stays lit."""

_STATE_STYLE = {
    CellState.OK: "route-selected",
    CellState.PENDING: "route-pending",
    CellState.UNREACHABLE: "unreachable bold",
    CellState.SELF: "lost",
    CellState.UNKNOWN: "node-down dim",
}
_SEVERITY_STYLE = {Severity.ERROR: "unreachable bold", Severity.WARNING: "spof", Severity.INFO: ""}


@dataclass
class MeshInput:
    """What the Mesh view is drawn from.

    Attributes:
        models: every node's live model; None for a node without live data.
        names: names for next hops, router-ids and /128s (built from the same models).
        facts: kernel facts per node, when gathered (enables the kernel check).
        errors: why a node has no live data (its session's message).
    """

    models: Mapping[str, NodeModel | None]
    names: Names
    facts: Mapping[str, NodeFacts] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


def cell_style(cell: Cell, lit: bool) -> str:
    """The style spec of a matrix cell (a semantic role and modifiers)."""
    if lit:
        return "changed bold"
    if cell.state is CellState.OK and cell.single_relay:
        return "spof"
    return _STATE_STYLE[cell.state]


class MeshView(View):
    """The whole mesh at a glance: who reaches whom, through which relay, and what is wrong.

    | Key | Action |
    | :- | :- |
    | enter | Select the node of the row under the cursor (posts ``NodeSelected``). |
    """

    view_id = "mesh"
    title = "Mesh"

    DEFAULT_CSS = """
    MeshView .mesh-matrix {
        height: 2fr;
    }
    MeshView #mesh-findings {
        height: 1fr;
    }
    MeshView #mesh-summary {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    class NodeSelected(Message):
        """The user chose a source node (enter on its row)."""

        def __init__(self, node: str) -> None:
            super().__init__()
            self.node = node

    def __init__(
        self, provider: Callable[[], MeshInput] | None = None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.provider = provider
        self.report: MeshReport | None = None
        self._input: MeshInput | None = None
        self._matrix: Matrix | None = None
        self._lit: dict[tuple[str, str], float] = {}
        self._columns: tuple[str, ...] = ()
        self._now = 0.0
        self._generation = 0
        self._table: KeyedTable | None = None

    def compose(self) -> ComposeResult:
        """A title, the matrix, a summary line, the findings and the filter bar."""
        yield Static("Mesh: relay (or first hop) and metric, from each node to each /128",
                     classes="section", id="mesh-title")  # fmt: skip
        self._table = KeyedTable(
            [Column("from", "from \\ to")], self.style, id="mesh-matrix-0", classes="mesh-matrix"
        )
        yield self._table
        yield Static("", id="mesh-summary")
        yield Static("Checks", classes="section", id="mesh-checks-title")
        yield KeyedTable(
            [
                Column("severity", "severity", 8),
                Column("kind", "check", 14),
                Column("message", "finding"),
            ],
            self.style,
            id="mesh-findings",
        )
        yield FilterBar(id="mesh-filter")

    def main_widget(self) -> Widget | None:
        """The matrix."""
        return self._table

    @property
    def matrix_table(self) -> KeyedTable | None:
        """The matrix table now shown (it is replaced when the destinations change)."""
        return self._table

    # ------------------------------------------------------------ data

    def _get_input(self, ctx: ViewContext) -> MeshInput | None:
        if self.provider is not None:
            return self.provider()
        if ctx.mesh is not None:
            return ctx.mesh()
        return self._input

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Redraw from the current :class:`MeshInput` (the app's refresh loop calls this)."""
        self.begin(ctx)
        data = self._get_input(ctx)
        if data is None:
            return SyncStats()
        return self.show(data, ctx.now)

    def redraw(self) -> None:
        """Redraw with the last input (after a filter change)."""
        if self._input is not None:
            self.last_stats = self.show(self._input, self._now)

    def show(self, data: MeshInput, now: float) -> SyncStats:
        """Draw ``data``: the matrix (changed cells lit), the summary and the findings."""
        self._input = data
        self._now = now
        matrix = build_matrix(data.models, data.names)
        for key in changed_cells(self._matrix, matrix) if self._matrix is not None else ():
            self._lit[key] = now
        self._lit = {k: t for k, t in self._lit.items() if now - t < HIGHLIGHT}
        self._matrix = matrix
        findings = check_mesh(data.models, data.names, data.facts, matrix, data.errors)
        self.report = MeshReport(matrix, findings)
        table = self._matrix_table(matrix)
        stats = table.sync(self._matrix_rows(matrix)) if table is not None else SyncStats()
        found = self.query_one("#mesh-findings", KeyedTable).sync(self._finding_rows(findings))
        self._summary(matrix, data, findings)
        stats.added += found.added
        stats.updated_cells += found.updated_cells
        stats.removed += found.removed
        return stats

    def lit(self) -> set[tuple[str, str]]:
        """Keys (source, prefix) of the cells lit now."""
        return set(self._lit)

    # ------------------------------------------------------------ matrix

    def _matrix_table(self, matrix: Matrix) -> KeyedTable | None:
        """The matrix table, or None while a new one (new destinations) is being mounted."""
        columns = tuple(prefix for _, prefix in matrix.destinations)
        current = self._table
        if current is None:
            return None
        if columns != self._columns:
            self._columns = columns
            self._generation += 1
            table = KeyedTable(
                [Column("from", "from \\ to"), *(Column(p, n) for n, p in matrix.destinations)],
                self.style,
                id=f"mesh-matrix-{self._generation}",
                classes="mesh-matrix",
            )
            focused = current.has_focus
            current.remove()
            self.mount(table, after=self.query_one("#mesh-title"))
            self._table = table
            if focused:
                table.focus()
            self.call_after_refresh(self.redraw)  # fill it once it has its columns
            return None
        return current if current.is_mounted else None

    def _matrix_rows(self, matrix: Matrix) -> Iterator[RowSpec]:
        flt = self.filter
        lit = self._lit
        models = self._input.models if self._input else {}
        for source in matrix.sources:
            row = matrix.row(source)
            if flt.active and not flt.matches(" ".join([source, *(c.label for c in row)]).lower()):
                continue
            down = models.get(source) is None
            signature = (down, tuple((c.signature, c.single_relay, c.key in lit) for c in row))

            def build(source: str = source, row: list[Cell] = row, down: bool = down) -> tuple:
                head: CellSpec = (source, "node-down bold" if down else "bold", source)
                cells = [(c.label, cell_style(c, c.key in lit), c.label) for c in row]
                return (head, *cells)

            yield source, signature, build

    # ------------------------------------------------------------ findings

    def _finding_rows(self, findings: list[Finding]) -> Iterator[RowSpec]:
        flt = self.filter
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        for index, f in enumerate(findings):
            if flt.active and not flt.matches(f.message.lower()):
                continue
            key = f"{f.kind.value}|{f.node}|{f.prefix}|{f.relay}"
            signature = (f.severity, f.message, index)

            def build(f: Finding = f, index: int = index) -> tuple:
                style = _SEVERITY_STYLE[f.severity]
                return (
                    (f.severity.value, style, (order[f.severity], index)),
                    (f.kind.value.replace("_", " "), style, f.kind.value),
                    (f.message, style, f.message),
                )

            yield key, signature, build

    def _summary(self, matrix: Matrix, data: MeshInput, findings: list[Finding]) -> None:
        live = sum(1 for s in matrix.sources if data.models.get(s) is not None)
        errors = sum(1 for f in findings if f.severity is Severity.ERROR)
        warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
        text = (
            f"{live}/{len(matrix.sources)} nodes live · {errors} error(s), {warnings} warning(s)"
            "   legend: name metric = relay crossed (else first hop)  ~ pending  x unreachable"
            "  ? no data  - itself"
        )
        self.query_one("#mesh-summary", Static).update(text)

    # ------------------------------------------------------------ events

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a matrix row: tell the app which node was chosen."""
        if event.data_table is not self._table:
            return
        event.stop()
        key = event.row_key.value
        if key is not None:
            self.post_message(self.NodeSelected(key))
