"""The Mesh view: every node at once — source x destination matrix, relays, and the checks.

Rows are source nodes, columns the /128 of every node; a cell shows the relay
the path crosses (or the first hop when it crosses none) and the metric,
coloured by state: selected, pending, unreachable, depends on one relay, no
data. A cell that changed lights up (theme role ``changed``) for
:data:`HIGHLIGHT` seconds. Above the matrix, the summary row counts the
problems (:func:`meshtui.core.meshcheck.summarize`: nodes down, stale or
connecting, pairs unreachable, on a standby relay, on a single relay, pending,
degrading links), coloured by severity and naming them when they are few;
below it, the path of the cell under the cursor, then the findings of
:func:`meshtui.core.meshcheck.check_mesh`, most severe first.

Built for 50 × 50: the cursor moves cell by cell (arrows, page keys,
``home``/``end``) and the table scrolls both ways with the source column
fixed; the cursor (row key and column) and the scroll position survive every
update. The matrix is a :class:`~meshtui.ui.widgets.matrix.MatrixTable`: it
draws only the cells in sight (a DataTable rendered all 55 columns of each
line drawn) and builds a row's cells again only when the row changed. ``/``
filters rows on the source's name, its role and site (``server``,
``role:edge``, ``site:b``) and its cells; ``R`` and ``S`` cycle
the rows shown through the roles (relay, edge, server, all) and the sites.
Rows are in the matrix's order (relays, then site by site); a click on a
destination's header sorts them by their cells to it (again: reversed, ▼),
one on ``from \\ to`` sorts them in the matrix's order (again: reversed).

The view draws from a :class:`MeshInput` (every node's model, the
:class:`~meshtui.core.names.Names`, optional kernel facts, per-node errors
and connection states). It gets one from, in order: :meth:`MeshView.show`
called directly, the ``provider`` given to the constructor, or the context's
``mesh`` (the dashboard's hub builds it). It never reaches a transport. The
matrix is computed again only when a model moved (or every :data:`RECOMPUTE`
seconds), the summary row at every refresh; a filter or scope change redraws
from the last matrix. Enter on a row posts
:class:`MeshView.NodeSelected` (the app shows that node).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from meshtui.core.facts import NodeFacts
from meshtui.core.meshcheck import (
    Cell,
    CellState,
    Finding,
    Matrix,
    MeshReport,
    MeshSummary,
    ProblemKind,
    Severity,
    build_matrix,
    changed_cells,
    check_mesh,
    row_words,
    scope_choices,
    summarize,
)
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.core.sanitize import inert
from meshtui.ui.themes import Palette
from meshtui.ui.views.base import View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.matrix import MatrixTable
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

__all__ = ["HIGHLIGHT", "MeshInput", "MeshView", "cell_style", "problem_style"]

HIGHLIGHT = 5.0
"""Seconds a changed cell stays lit."""

RECOMPUTE = 30.0
"""Seconds after which every cell is computed again even when no route changed (names
learnt since: a next hop named anew); the summary row is counted at every refresh. At 54
nodes a full build was most of the view's refresh time under a profile (bench_scale
--profile): changes are built incrementally, this only catches what no route says."""

MIN_GAP = 1.0
"""Seconds (on the view's clock) between two computations of the matrix: at 50 nodes one
takes tens of milliseconds of the UI loop, and during an outage routes change at every
refresh. The Failover view shows a node's switches at once; this one within a second."""

_STATE_STYLE = {
    CellState.OK: "route-selected",
    CellState.PENDING: "route-pending",
    CellState.UNREACHABLE: "unreachable bold",
    CellState.SELF: "lost",
    CellState.UNKNOWN: "node-down dim",
}
_SEVERITY_STYLE = {Severity.ERROR: "unreachable bold", Severity.WARNING: "spof", Severity.INFO: ""}
_PROBLEM_STYLE = {
    ProblemKind.DOWN: "node-down bold",
    ProblemKind.STALE: "link-reconnecting bold",
    ProblemKind.UNREACHABLE: "unreachable bold",
    ProblemKind.NOT_IN_KERNEL: "unreachable bold",
    ProblemKind.STANDBY_RELAY: "event-failover bold",
    ProblemKind.SINGLE_RELAY: "spof",
    ProblemKind.PENDING: "route-pending",
    ProblemKind.DEGRADING: "degrading bold",
    ProblemKind.CONNECTING: "lost",
    ProblemKind.NOT_READ: "lost",
}
LEGEND = (
    "cell: relay crossed (else first hop) and metric  * pending  ~ no route installed"
    "  x unreachable  ? no data  - itself"
)


@dataclass
class MeshInput:
    """What the Mesh view is drawn from.

    Attributes:
        models: every node's live model; None for a node without live data.
        names: names for next hops, router-ids and /128s (built from the same models).
        facts: kernel facts per node, when gathered (enables the kernel check).
        errors: why a node has no live data (its session's message).
        states: each node's connection state (``SessionState.value``: ``live``,
            ``connecting``, ``syncing``, ``reconnecting``, ``failed``, ``stopped``);
            tells a stale node and one still connecting from one that is down (without
            it, a node without data counts as down).
    """

    models: Mapping[str, NodeModel | None]
    names: Names
    facts: Mapping[str, NodeFacts] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    states: Mapping[str, str] = field(default_factory=dict)


def cell_style(cell: Cell, lit: bool) -> str:
    """The style spec of a matrix cell (a semantic role and modifiers)."""
    if lit:
        return "changed bold"
    if cell.state is CellState.OK and cell.single_relay:
        return "spof"
    return _STATE_STYLE[cell.state]


def problem_style(kind: ProblemKind) -> str:
    """The style spec of one count of the summary row."""
    return _PROBLEM_STYLE[kind]


def _cycle(current: str | None, choices: tuple[str, ...]) -> str | None:
    """The next of ``choices`` after ``current``; after the last, None (all)."""
    if not choices:
        return None
    if current not in choices:
        return choices[0]
    index = choices.index(current) + 1
    return choices[index] if index < len(choices) else None


_TRANSIENT = ("connecting", "syncing", "reconnecting")


def _states(data: MeshInput) -> Mapping[str, str]:
    """The nodes' connection states; without them, what a bare state word in ``errors``
    tells (a session without a message reports its state's name there)."""
    if data.states:
        return data.states
    return {node: why for node, why in data.errors.items() if why in _TRANSIENT}


def _route_prints(data: MeshInput) -> dict[str, tuple]:
    """Per node, what moves when its routes changed (neighbour lines do not: the matrix is
    routes only, and a late Hello changes a reach at every refresh of a large mesh)."""
    out: dict[str, tuple] = {}
    for node, model in data.models.items():
        if model is None:
            out[node] = ()
        else:
            routes = model.routes
            newest = max((r.last_change for r in routes.values()), default=0.0)
            out[node] = (id(model), len(routes), len(model.xroutes), newest)
    return out


def _meta(data: MeshInput) -> tuple:
    """The rest of the input the checks and the summary read: names, errors, states, facts."""
    return (
        id(data.names),
        len(data.names.nodes),
        tuple(sorted(data.errors.items())),
        tuple(sorted(data.states.items())),
        tuple((node, id(f)) for node, f in data.facts.items()),
    )


class MeshView(View):
    """The whole mesh at a glance: who reaches whom, through which relay, and what is wrong.

    | Key | Action |
    | :- | :- |
    | enter | Select the node of the row under the cursor (posts ``NodeSelected``). |
    | R | Rows of the next role only (relay, edge, server, then all). |
    | S | Rows of the next site only (a, b, …, then all). |
    """

    view_id = "mesh"
    title = "Mesh"

    BINDINGS = [
        # their help lines: meshtui.ui.actions (ids mesh.role, mesh.site)
        Binding("R", "cycle_role", "Role", id="mesh.role"),
        Binding("S", "cycle_site", "Site", id="mesh.site"),
    ]

    DEFAULT_CSS = """
    MeshView .mesh-matrix {
        height: 2fr;
    }
    MeshView #mesh-findings {
        height: 1fr;
        min-height: 3;
    }
    MeshView #mesh-summary {
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    MeshView #mesh-cursor {
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
        self.summary: MeshSummary | None = None
        self.role: str | None = None
        self.site: str | None = None
        self._input: MeshInput | None = None
        self._matrix: Matrix | None = None
        self._prints: dict[str, tuple] = {}
        self._meta: tuple = ()
        self._computed = 0.0
        self._lit: dict[tuple[str, str], float] = {}
        self._columns: tuple[str, ...] = ()
        self._now = 0.0
        self._table: MatrixTable | None = None
        self._rows: dict[str, tuple[list[Cell], tuple]] = {}
        self._haystacks: dict[str, str] = {}
        self._shown: dict[str, str] = {}
        self.computations = 0

    def compose(self) -> ComposeResult:
        """A title, the summary row, the matrix, the cell under the cursor, the findings."""
        yield Static(self._title_text(), classes="section", id="mesh-title")
        yield Static("", id="mesh-summary")
        # sorted by the matrix's own order (relays, then site by site), whatever the
        # order rows came back in after a filter; only the cells in sight are drawn
        self._table = MatrixTable(
            [Column("from", "from \\ to")],
            self.style,
            sort="from",
            id="mesh-matrix",
            classes="mesh-matrix",
        )
        yield self._table
        yield Static(LEGEND, id="mesh-cursor")
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
    def matrix_table(self) -> MatrixTable | None:
        """The matrix (its columns follow the destinations; the same widget throughout)."""
        return self._table

    def restyle(self, palette: Palette) -> None:
        """The theme changed: the findings and the matrix are drawn in its colours."""
        super().restyle(palette)
        if self._table is not None:
            self._table.restyle()
        self.redraw()

    def reset(self) -> None:
        """Forget everything shown."""
        super().reset()
        if self._table is not None:
            self._table.reset()

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
        """Redraw from the last matrix (after a filter or scope change): nothing recomputed."""
        if self._input is not None and self._matrix is not None:
            self.last_stats = self._draw()

    def show(self, data: MeshInput, now: float) -> SyncStats:
        """Draw ``data``: the matrix (changed cells lit), the summary and the findings.

        The matrix and the checks are computed again when a node's routes, error
        or state changed (at most every :data:`MIN_GAP` seconds of ``now``), or
        :data:`RECOMPUTE` seconds went by; otherwise the rows are synced from the
        last ones (lit cells go dark on time). The summary row is counted at every call.
        """
        prints = _route_prints(data)
        meta = _meta(data)
        since = abs(now - self._computed)
        names_moved = meta[:2] != self._meta[:2]
        full = self._matrix is None or names_moved or since >= RECOMPUTE
        moved = prints != self._prints or meta != self._meta
        self._input = data
        self._now = now
        if full or (moved and since >= MIN_GAP):
            changed = None
            if not full:
                old = self._prints
                changed = {n for n in prints.keys() | old.keys() if prints.get(n) != old.get(n)}
            self._compute(data, now, changed)
            self._prints = prints
            self._meta = meta
            self._computed = now
        elif self._matrix is not None and self.report is not None:
            # degrading links are the model's judgement of silence, not a line: counted anew
            self.summary = summarize(
                self._matrix, data.models, data.names, self.report.findings, _states(data)
            )
        self._lit = {k: t for k, t in self._lit.items() if now - t < HIGHLIGHT}
        return self._draw()

    def _compute(self, data: MeshInput, now: float, changed: set[str] | None) -> None:
        """The matrix (only the cells whose path crosses a node in ``changed``; None:
        every cell), the checks and the summary."""
        self.computations += 1
        previous = self._matrix if changed is not None else None
        matrix = build_matrix(data.models, data.names, previous=previous, changed=changed)
        for key in changed_cells(self._matrix, matrix) if self._matrix is not None else ():
            self._lit[key] = now
        self._matrix = matrix
        # each row's cells and what a change of them is judged on, once per matrix
        old_rows, self._rows = self._rows, {}
        for source in matrix.sources:
            row = matrix.row(source)
            kept = old_rows.get(source)
            if (
                kept is not None
                and len(kept[0]) == len(row)
                and all(a is b for a, b in zip(kept[0], row, strict=True))
            ):
                self._rows[source] = kept
            else:
                self._rows[source] = (row, tuple((c.label, c.state, c.single_relay) for c in row))
        self._haystacks = {}
        findings = check_mesh(data.models, data.names, data.facts, matrix, data.errors)
        self.report = MeshReport(matrix, findings)
        self.summary = summarize(matrix, data.models, data.names, findings, _states(data))

    def _draw(self) -> SyncStats:
        matrix = self._matrix
        assert matrix is not None and self.report is not None
        table = self._matrix_table(matrix)
        stats = table.sync(self._matrix_rows(matrix)) if table is not None else SyncStats()
        findings = self.report.findings
        found = self.query_one("#mesh-findings", KeyedTable).sync(self._finding_rows(findings))
        self._show_summary()
        self._show_title()
        self._show_cursor()
        stats.added += found.added
        stats.updated_cells += found.updated_cells
        stats.removed += found.removed
        return stats

    def lit(self) -> set[tuple[str, str]]:
        """Keys (source, prefix) of the cells lit now."""
        return set(self._lit)

    # ------------------------------------------------------------ scope (R / S)

    def action_cycle_role(self) -> None:
        """`R`: show the rows of the next role only (after the last: all)."""
        roles, _ = self._choices()
        self.role = _cycle(self.role, roles)
        self.redraw()

    def action_cycle_site(self) -> None:
        """`S`: show the rows of the next site only (after the last: all)."""
        _, sites = self._choices()
        self.site = _cycle(self.site, sites)
        self.redraw()

    def _choices(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._input is None or self._matrix is None:
            return (), ()
        return scope_choices(self._input.names, self._matrix.sources)

    def back(self) -> bool:
        """`esc`: clear the filter, else the role / site scope; False when neither was set."""
        if super().back():
            return True
        if self.role is not None or self.site is not None:
            self.role = self.site = None
            self.redraw()
            return True
        return False

    def _in_scope(self, names: Names, source: str) -> bool:
        if self.role is not None and names.role(source) != self.role:
            return False
        return self.site is None or names.site(source) == self.site

    # ------------------------------------------------------------ matrix

    def _matrix_table(self, matrix: Matrix) -> MatrixTable | None:
        """The matrix table, its columns the matrix's destinations (the cursor keeps its
        row and column keys when they change)."""
        table = self._table
        if table is None:
            return None
        columns = tuple(prefix for _, prefix in matrix.destinations)
        if columns != self._columns:
            self._columns = columns
            table.set_columns(
                [Column("from", "from \\ to"), *(Column(p, n) for n, p in matrix.destinations)]
            )
        return table

    def _matrix_rows(self, matrix: Matrix) -> Iterator[RowSpec]:
        flt = self.filter
        lit = self._lit
        lit_rows: dict[str, set[str]] = {}
        for source, prefix in lit:
            lit_rows.setdefault(source, set()).add(prefix)
        data = self._input
        models = data.models if data else {}
        names = data.names if data else None
        rows = self._rows
        for index, source in enumerate(matrix.sources):
            if names is not None and not self._in_scope(names, source):
                continue
            row, base = rows[source]
            if flt.active and not flt.matches(self._haystack(source, row, names)):
                continue
            down = models.get(source) is None
            lit_here = lit_rows.get(source)
            signature = (index, down, base, frozenset(lit_here) if lit_here else None)

            def build(
                source: str = source, row: list[Cell] = row, down: bool = down, index: int = index
            ) -> tuple:
                head: CellSpec = (source, "node-down bold" if down else "bold", index)
                cells = [(c.label, cell_style(c, c.key in lit), c.label) for c in row]
                return (head, *cells)

            yield source, signature, build

    def _haystack(self, source: str, row: list[Cell], names: Names | None) -> str:
        """What the filter matches a row on: its source, role and site words, its cells."""
        text = self._haystacks.get(source)
        if text is None:
            words = row_words(names, source) if names is not None else ""
            text = " ".join([source, words, *(c.label for c in row)]).lower()
            self._haystacks[source] = text
        return text

    # ------------------------------------------------------------ findings

    def _finding_rows(self, findings: list[Finding]) -> Iterator[RowSpec]:
        flt = self.filter
        for index, f in enumerate(findings):
            if flt.active and not flt.matches(f.message.lower()):
                continue
            key = f"{f.kind.value}|{f.node}|{f.prefix}|{f.relay}"
            signature = (f.severity, f.message, index)

            def build(f: Finding = f, index: int = index) -> tuple:
                style = _SEVERITY_STYLE[f.severity]
                return (
                    (f.severity.value, style, index),
                    (f.kind.value.replace("_", " "), style, f.kind.value),
                    (f.message, style, f.message),
                )

            yield key, signature, build

    # ------------------------------------------------------------ the lines around

    def summary_text(self) -> Text:
        """The summary row: live nodes, then each problem in its colour (names inert)."""
        summary = self.summary
        text = Text(no_wrap=False, overflow="fold")
        if summary is None:
            return text
        everyone = summary.live == summary.nodes
        text.append(
            f"{summary.live}/{summary.nodes} nodes live",
            self.style("route-selected bold" if everyone else "node-down bold"),
        )
        if not summary.problems:
            text.append(f" · no problems ({summary.pairs} pairs)", self.style("route-selected"))
        for problem in summary.problems:
            text.append(" · ")
            text.append(inert(problem.text()), self.style(problem_style(problem.kind)))
        return text

    def _update(self, selector: str, content: Text | str) -> None:
        """Update a line only when what it shows changed (an update re-renders it)."""
        key = content.markup if isinstance(content, Text) else content
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def _show_summary(self) -> None:
        self._update("#mesh-summary", self.summary_text())

    def _title_text(self) -> str:
        text = "Mesh: relay (or first hop) and metric, from each node to each /128"
        scope = []
        if self.role is not None:
            scope.append(f"role {self.role}")
        if self.site is not None:
            scope.append(f"site {self.site}")
        if self.filter.active:
            scope.append(f"filter '{self.filter.text}'")
        if scope and self._matrix is not None and self._table is not None:
            shown = self._table.row_count
            text += f"  — {', '.join(scope)}: {shown} of {len(self._matrix.sources)} rows"
        return inert(text)

    def _show_title(self) -> None:
        self._update("#mesh-title", self._title_text())

    def cursor_cell(self) -> Cell | None:
        """The cell under the cursor (None: none, or the source column)."""
        table = self._table
        matrix = self._matrix
        if table is None or matrix is None or not table.row_count:
            return None
        source, prefix = table.cursor_key, table.cursor_column_key
        if source is None or prefix is None or prefix == "from":
            return None
        return matrix.cell(source, prefix)

    def _show_cursor(self) -> None:
        cell = self.cursor_cell()
        line = LEGEND if cell is None else cell.describe()
        self._update("#mesh-cursor", Text(inert(line), no_wrap=True, overflow="ellipsis"))

    # ------------------------------------------------------------ events

    def on_matrix_table_cell_highlighted(self, event: MatrixTable.CellHighlighted) -> None:
        """The cursor moved: say which pair it is on."""
        if event.table is self._table:
            event.stop()
            if self._matrix is not None:
                self._show_cursor()

    def on_matrix_table_cell_selected(self, event: MatrixTable.CellSelected) -> None:
        """Enter on a matrix cell: tell the app which source node was chosen."""
        if event.table is not self._table:
            return
        event.stop()
        self.post_message(self.NodeSelected(event.row_key))
