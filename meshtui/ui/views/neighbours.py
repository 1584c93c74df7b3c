"""The Neighbours view: every Babel neighbour's link figures, and the ones lost recently.

Per neighbour: state, interface, the neighbour (its node name when known,
else its /128, else its address; ``a`` shows addresses), the reach history drawn as 16
cells (newest Hello on the left), Hellos heard and loss, rxcost / txcost /
cost, rtt / rttcost, and flags: ``ASYM`` when the neighbour hears us much
worse than we hear it (txcost > 2 × rxcost), ``degrading`` while it misses
Hellos. A lost neighbour stays visible, dimmed, with "lost N s ago", for
:data:`LOST_KEEP` seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from meshtui.core.model import Neighbour
from meshtui.ui import format as fmt
from meshtui.ui.views.base import SORT_BINDINGS, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

LOST_KEEP = 300.0
"""Seconds a lost neighbour stays on screen."""


def neighbour_key(neigh: Neighbour) -> str:
    """The row key of a neighbour: its address and interface."""
    return fmt.hop(neigh.address, neigh.interface)


class NeighboursView(View):
    """Babel neighbours with reach history, costs and RTT.

    | Key | Action |
    | :- | :- |
    | o / O | Sort by the next column / reverse the order. |
    """

    view_id = "neighbours"
    title = "Neighbours"

    BINDINGS = [*SORT_BINDINGS]

    def compose(self) -> ComposeResult:
        """A title and the table."""
        yield Static("Neighbours", classes="section", id="nb-title")
        yield KeyedTable(
            [
                Column("state", "state", 16),
                Column("if", "interface"),
                Column("address", "neighbour"),
                Column("reach", "reach (newest left)", 19),
                Column("heard", "heard", 11),
                Column("rxcost", "rxcost", 6),
                Column("txcost", "txcost", 6),
                Column("cost", "cost", 5),
                Column("rtt", "rtt ms", 7),
                Column("rttcost", "rttcost", 7),
                Column("flags", "flags"),
            ],
            self.style,
            sort="if",
            id="nb-table",
        )
        yield FilterBar(id="nb-filter")

    def main_widget(self) -> Widget | None:
        """The neighbours table."""
        return self.query_one("#nb-table", KeyedTable)

    def _rows(self, ctx: ViewContext) -> Iterator[RowSpec]:
        now = ctx.now
        flt = self.filter
        shown: set[str] = set()
        candidates: list[tuple[Neighbour, bool]] = [
            (n, False) for n in ctx.model.neighbours.values()
        ]
        candidates += [
            (n, True)
            for n in ctx.model.lost_neighbours.values()
            if n.lost_at is not None and now - n.lost_at <= LOST_KEEP
        ]
        for neigh, flushed in candidates:
            key = neighbour_key(neigh)
            if key in shown:
                continue
            shown.add(key)
            lost = flushed or not neigh.up
            lost_for = now - neigh.lost_at if (lost and neigh.lost_at is not None) else None
            if lost and lost_for is not None and lost_for > LOST_KEEP:
                continue
            degrading = neigh.degrading_since is not None and not lost
            lost_text = fmt.age(lost_for) if lost_for is not None else ""
            deg_text = (
                fmt.age(now - neigh.degrading_since)
                if degrading and neigh.degrading_since is not None
                else ""
            )
            name = ctx.hop(neigh.address, neigh.interface)
            if name == key:
                name = neigh.address  # nothing better known: the interface has its column
            if flt.active:
                state = "lost" if lost else ("degrading" if degrading else "up")
                flags = "asym" if neigh.asymmetric else ""
                if not flt.matches(f"{key} {name} {state} {flags}".lower()):
                    continue
            sig = (
                neigh.reach,
                neigh.rxcost,
                neigh.txcost,
                neigh.cost,
                neigh.rtt,
                neigh.rttcost,
                lost,
                lost_text,
                deg_text,
                neigh.asymmetric,
                name,
            )
            yield key, sig, partial(self._cells, neigh, lost, lost_text, deg_text, name)

    @staticmethod
    def _cells(
        neigh: Neighbour, lost: bool, lost_text: str, deg_text: str, name: str
    ) -> tuple[CellSpec, ...]:
        base = "lost" if lost else ""
        if lost:
            state: CellSpec = (f"✖ lost {lost_text} ago" if lost_text else "✖ lost", "node-down", 0)
        elif deg_text:
            state = ("◐ degrading", "degrading bold", 1)
        else:
            state = ("● up", "route-selected", 2)
        reach = neigh.reach
        cells = tuple(
            (fmt.REACH_HEARD, "lost" if lost else "reach-heard")
            if reach & (1 << bit)
            else (fmt.REACH_MISSED, "lost" if lost else "reach-missed")
            for bit in range(15, -1, -1)
        )
        flags: list[tuple[str, str]] = []
        if neigh.asymmetric:
            flags.append(("ASYM tx>2×rx", "asymmetric bold"))
        if deg_text:
            if flags:
                flags.append(("  ", ""))
            flags.append((f"missing Hellos for {deg_text}", "degrading"))
        rtt = f"{neigh.rtt:.3f}" if neigh.rtt is not None else "-"
        rttcost = str(neigh.rttcost) if neigh.rttcost is not None else "-"
        cost_role = "node-down" if neigh.cost >= 65535 else base
        return (
            state,
            (neigh.interface, base, neigh.interface),
            (name, base, neigh.address),
            (cells, "", neigh.heard),
            (f"{neigh.heard}/16 {neigh.loss_pct:.0f}%", base, neigh.heard),
            (fmt.metric(neigh.rxcost), base, neigh.rxcost),
            (fmt.metric(neigh.txcost), "asymmetric" if neigh.asymmetric else base, neigh.txcost),
            (fmt.metric(neigh.cost), cost_role, neigh.cost),
            (rtt, base, neigh.rtt if neigh.rtt is not None else -1.0),
            (rttcost, base, neigh.rttcost if neigh.rttcost is not None else -1),
            (tuple(flags) if flags else "", "", len(flags)),
        )

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Sync the table with the model's neighbours."""
        self.begin(ctx)
        table = self.query_one("#nb-table", KeyedTable)
        stats = table.sync(self._rows(ctx))
        up = sum(1 for n in ctx.model.neighbours.values() if n.up)
        total = table.row_count
        title = f"Neighbours ({up} up"
        if total > up:
            title += f", {total - up} lost or down"
        title += ")"
        if self.filter.active:
            title += f"  filter: {self.filter.text}"
        self.query_one("#nb-title", Static).update(title)
        return stats
