"""`RehearsalScreen`: a rehearsal's result, one matrix of pairs per outage, coloured by failover.

Opened with ``meshtui --rehearsal result.json`` (the file ``meshtui rehearse
-o`` or ``--json`` writes). For each silenced node: sources as rows,
destinations as columns, each cell the failover time (or ``lost`` while the
node is silent, ``·`` when the outage did not touch the pair); with a
candidate, its matrix beside the current one, and the differences and
regressions above.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from meshtui.core.foresight import format_seconds
from meshtui.core.rehearsal import PairResult, RunResult, compare, failover_grade
from meshtui.core.sanitize import inert
from meshtui.ui.themes import Palette

__all__ = ["GRADE_STYLES", "RehearsalScreen", "cell_text"]

# failover grade -> palette spec (semantic theme roles only)
GRADE_STYLES = {
    "unaffected": "lost",
    "quick": "route-selected",
    "slow": "degrading",
    "black-hole": "route-lost bold",
    "unreachable": "unreachable bold",
    "moved": "route-standby",
}


def cell_text(p: PairResult | None) -> str:
    """What a matrix cell says about one pair."""
    grade = failover_grade(p)
    if p is None or grade == "unaffected":
        return "·"
    if grade == "unreachable":
        return "lost"
    if p.failover_s is None:
        return f"→{p.after}"
    return format_seconds(p.failover_s)


class RehearsalScreen(Screen[None]):
    """Every outage of a rehearsal as a source x destination matrix.

    | Key | Action |
    | :- | :- |
    | escape | Back to the dashboard. |
    """

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="rehearsal.back")]

    DEFAULT_CSS = """
    RehearsalScreen #rh-summary {
        padding: 0 1;
        height: auto;
    }
    RehearsalScreen #rh-summary.-regression {
        color: $unreachable;
    }
    RehearsalScreen .rh-title {
        padding: 1 1 0 1;
        text-style: bold;
    }
    RehearsalScreen .rh-run {
        height: auto;
        width: 1fr;
    }
    RehearsalScreen .rh-outage {
        height: auto;
    }
    RehearsalScreen DataTable {
        height: auto;
        margin: 0 1;
    }
    """

    def __init__(self, runs: list[RunResult], source: str = "") -> None:
        """Show ``runs`` (the current inventory's, then a candidate's), read from ``source``."""
        super().__init__()
        self.runs = runs
        self.source = source

    def compose(self) -> ComposeResult:
        yield Static(self._summary(), id="rh-summary")
        with VerticalScroll():
            for node in self._outage_nodes():
                with Horizontal(classes="rh-outage"):
                    for i, run in enumerate(self.runs):
                        with Vertical(classes="rh-run"):
                            label = "current" if i == 0 else "candidate"
                            title = f"{label} {run.inventory}: {node} silent"
                            yield Static(inert(title), classes="rh-title")
                            yield DataTable(
                                id=f"rh-{i}-{_css_id(node)}",
                                zebra_stripes=True,
                                cursor_type="cell",
                            )
        yield Footer()

    def _outage_nodes(self) -> list[str]:
        out: list[str] = []
        for run in self.runs:
            out += [o.node for o in run.outages if o.node not in out]
        return out

    def _summary(self) -> str:
        head = f"rehearsal {self.source}" if self.source else "rehearsal"
        lines = [inert(head)]
        if len(self.runs) >= 2:
            result = compare(self.runs[0], self.runs[1])
            lines.append(
                f"{len(result.regressions)} regression(s); differences:"
                if result.differences
                else "no difference worth a line"
            )
            lines += [f"  {inert(d)}" for d in result.differences]
        lines.append("cells: failover time · lost: no way while the node is silent · ·: untouched")
        return "\n".join(lines)

    def on_mount(self) -> None:
        if len(self.runs) >= 2 and compare(self.runs[0], self.runs[1]).regressions:
            self.query_one("#rh-summary").add_class("-regression")
        palette = Palette(self.app.get_css_variables())
        for node in self._outage_nodes():
            outages = [run.outage(node) for run in self.runs]
            sources: list[str] = []
            dests: list[str] = []
            for o in outages:
                for p in o.pairs if o else ():
                    sources += [p.source] if p.source not in sources else []
                    dests += [p.dest] if p.dest not in dests else []
            for i, outage in enumerate(outages):
                table = self.query_one(f"#rh-{i}-{_css_id(node)}", DataTable)
                table.add_column("from \\ to", key="source")
                for d in dests:
                    table.add_column(inert(d), key=d)
                for s in sources:
                    cells: list[str | Text] = [inert(s)]
                    for d in dests:
                        pair = outage.pair(s, d) if outage else None
                        style = palette.resolve(GRADE_STYLES[failover_grade(pair)])
                        cells.append(Text(cell_text(pair), style=style))
                    table.add_row(*cells, key=s)


def _css_id(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
