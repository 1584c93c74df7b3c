"""The Interfaces view: babeld's interfaces and detection times, kernel links, WireGuard peers.

For each babeld interface: up or down, link-local address, neighbours, the
hello interval (configured, measured from reach shifts, or estimated from
the spacing of the neighbours' Hellos) and the expected time to notice a
silent neighbour — babeld's link cost goes infinite once 2 of the last 3
Hellos are missed, a Hello counting as missed 1.7 intervals after the
previous one, so 2.7 hello intervals after the neighbour went quiet at the
earliest; babeld counts at its next neighbour check, which comes every
~1.5 shortest hello intervals (see :mod:`meshtui.core.foresight`).

Then the kernel's links and addresses and the WireGuard peers on babeld's
interfaces: for a babeld on this machine through pyroute2 (in babeld's
network namespace) and ``wg show all dump``; for a node over SSH through the
same read-only commands on its connection. The app probes them in a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from meshtui.core import foresight
from meshtui.core.kernel import KernelLink, WgPeer
from meshtui.core.model import Interface
from meshtui.ui import format as fmt
from meshtui.ui.views.base import SORT_BINDINGS, View, ViewContext
from meshtui.ui.widgets.filterbar import FilterBar
from meshtui.ui.widgets.table import CellSpec, Column, KeyedTable, RowSpec, SyncStats

HANDSHAKE_STALE = 180.0
"""A WireGuard handshake older than this (s) means the tunnel is not passing traffic."""


def hello_for(ctx: ViewContext, interface: str) -> tuple[float | None, str]:
    """An interface's hello interval and its source: ``config``, ``learned`` or ``unknown``.

    Configured intervals (inventory, lab) win; otherwise the model learns the
    interval from the spacing of the neighbours' lines (babeld prints one per Hello).
    """
    configured = ctx.hello.get(interface, ctx.hello.get("*"))
    if configured is not None:
        return configured, "config"
    return ctx.model.interface_hello(interface)


class InterfacesView(View):
    """babeld's interfaces with detection times; the node's kernel links and WireGuard peers.

    | Key | Action |
    | :- | :- |
    | tab | Move between the tables. |
    """

    view_id = "interfaces"
    title = "Interfaces"

    BINDINGS = [*SORT_BINDINGS]

    DEFAULT_CSS = """
    InterfacesView KeyedTable {
        height: auto;
        max-height: 20;
    }
    InterfacesView #if-scroll {
        height: 1fr;
    }
    InterfacesView .note {
        padding: 0 1;
        color: $text-muted;
    }
    """

    def compose(self) -> ComposeResult:
        """Three sections: babeld, kernel, WireGuard."""
        babeld = [
            Column("name", "interface"),
            Column("state", "state", 6),
            Column("ll", "link-local"),
            Column("neigh", "neighbours", 10),
            Column("hello", "hello interval"),
            Column("detect", f"{fmt.DETECTION} (typical, earliest–latest)"),
        ]
        kernel = [
            Column("index", "#", 3),
            Column("name", "link"),
            Column("state", "state", 8),
            Column("kind", "kind", 9),
            Column("mtu", "mtu", 6),
            Column("addresses", "addresses"),
        ]
        wireguard = [
            Column("if", "interface"),
            Column("peer", "peer (public key)", 14),
            Column("endpoint", "endpoint"),
            Column("handshake", "latest handshake", 16),
            Column("rx", "received", 10),
            Column("tx", "sent", 10),
            Column("keepalive", "keepalive", 9),
        ]
        with VerticalScroll(id="if-scroll"):
            sections = (  # each: its title, its table, a note under it
                ("babeld interfaces", "if-title", "if-table", "if-note", babeld, "name"),
                ("Kernel links", "if-kernel-title", "if-kernel", "if-kernel-note", kernel, "index"),
                ("WireGuard peers", "if-wg-title", "if-wg", "if-wg-note", wireguard, "if"),
            )
            for title, title_id, table_id, note_id, columns, sort in sections:
                yield Static(title, classes="section", id=title_id)
                yield KeyedTable(columns, self.style, sort=sort, id=table_id)
                yield Static("", classes="note", id=note_id)
        yield FilterBar(id="if-filter")

    def main_widget(self) -> Widget | None:
        """babeld's interfaces table."""
        return self.query_one("#if-table", KeyedTable)

    # ------------------------------------------------------------ rows

    def _babel_rows(self, ctx: ViewContext) -> Iterator[RowSpec]:
        neighbours: dict[str, list[bool]] = {}
        for neigh in ctx.model.neighbours.values():
            neighbours.setdefault(neigh.interface, []).append(neigh.up)
        hellos = {name: hello_for(ctx, name) for name in ctx.model.interfaces}
        # babeld's neighbour checks follow its shortest hello interval
        shortest = min((h for h, _ in hellos.values() if h is not None), default=None)
        for iface in ctx.model.interfaces.values():
            ups = neighbours.get(iface.name, [])
            hello = hellos[iface.name]
            if self.filter.active and not self.filter.matches(
                f"{iface.name} {'up' if iface.up else 'down'} {iface.ipv6 or ''}".lower()
            ):
                continue
            seconds = round(hello[0], 1) if hello[0] is not None else None
            fastest = round(shortest, 1) if shortest is not None else None
            sig = (iface.up, iface.ipv6, iface.ipv4, sum(ups), len(ups), seconds, hello[1], fastest)
            yield iface.name, sig, partial(self._babel_cells, iface, ups, hello, shortest)

    @staticmethod
    def _babel_cells(
        iface: Interface, ups: list[bool], hello: tuple[float | None, str], shortest: float | None
    ) -> tuple[CellSpec, ...]:
        seconds, source = hello
        if seconds is None:
            hello_cell: CellSpec = ("unknown yet", "lost", None)
            detect: CellSpec = ("-", "lost", None)
        else:
            how = "configured" if source == "config" else "learned from its neighbours' lines"
            approx = "" if source == "config" else "~"
            hello_cell = (f"{approx}{seconds:.1f} s ({how})", "", seconds)
            det = foresight.detection_time(seconds, shortest)
            if det.latest < 100:
                text = f"~{det.expected:.1f} s ({det.cost_infinite:.1f}–{det.latest:.1f} s)"
            else:
                text = (
                    f"~{fmt.age(det.expected)} ({fmt.age(det.cost_infinite)}–{fmt.age(det.latest)})"
                )
            if det.slow:
                text += "  SLOW: traffic black-holed meanwhile"
            detect = (text, "degrading bold" if det.slow else "", det.expected)
        neigh_text = f"{sum(ups)} up" + (f" / {len(ups)}" if len(ups) != sum(ups) else "")
        return (
            (iface.name, "", iface.name),
            ("up", "route-selected", 1) if iface.up else ("DOWN", "node-down bold", 0),
            (iface.ipv6 or "-", "", iface.ipv6 or ""),
            (neigh_text, "" if ups else "lost", len(ups)),
            hello_cell,
            detect,
        )

    def _kernel_rows(self, links: tuple[KernelLink, ...]) -> Iterator[RowSpec]:
        for link in links:
            if self.filter.active and not self.filter.matches(
                f"{link.name} {link.state} {link.kind} {' '.join(link.addresses)}".lower()
            ):
                continue
            yield link.name, link, partial(self._kernel_cells, link)

    @staticmethod
    def _kernel_cells(link: KernelLink) -> tuple[CellSpec, ...]:
        state_role = "route-selected" if link.state in ("up", "unknown") else "node-down"
        return (
            (str(link.index), "", link.index),
            (link.name, "", link.name),
            (link.state, state_role, link.state),
            (link.kind, "", link.kind),
            (str(link.mtu), "", link.mtu),
            (" ".join(link.addresses) or "-", "", len(link.addresses)),
        )

    def _wg_rows(self, peers: tuple[WgPeer, ...], now: float) -> Iterator[RowSpec]:
        for peer in peers:
            if self.filter.active and not self.filter.matches(
                f"{peer.interface} {peer.public_key} {peer.endpoint}".lower()
            ):
                continue
            shake = now - peer.latest_handshake if peer.latest_handshake else None
            shake_text = "never" if shake is None else f"{fmt.age(shake)} ago"
            key = f"{peer.interface}|{peer.public_key}"
            yield key, (peer, shake_text), partial(self._wg_cells, peer, shake, shake_text)

    @staticmethod
    def _wg_cells(peer: WgPeer, shake: float | None, shake_text: str) -> tuple[CellSpec, ...]:
        stale = shake is None or shake > HANDSHAKE_STALE
        return (
            (peer.interface, "", peer.interface),
            (peer.public_key[:12] + "…", "", peer.public_key),
            (peer.endpoint, "", peer.endpoint),
            (shake_text, "node-down" if stale else "", shake if shake is not None else 1e12),
            (fmt.byte_count(peer.rx), "", peer.rx),
            (fmt.byte_count(peer.tx), "", peer.tx),
            (f"{peer.keepalive} s" if peer.keepalive else "off", "", peer.keepalive),
        )

    # ------------------------------------------------------------ refresh

    def refresh_view(self, ctx: ViewContext) -> SyncStats:
        """Sync the three tables."""
        self.begin(ctx)
        table = self.query_one("#if-table", KeyedTable)
        stats = table.sync(self._babel_rows(ctx))
        up = sum(1 for i in ctx.model.interfaces.values() if i.up)
        self.query_one("#if-title", Static).update(
            f"babeld interfaces ({up} up of {len(ctx.model.interfaces)})"
        )
        self.query_one("#if-note", Static).update(
            "A silent neighbour costs infinity once 2 of its last 3 Hellos are missed "
            "(a Hello counts missed 1.7 intervals after the previous one), at babeld's "
            "next neighbour check (every ~1.5 shortest hello intervals); the route "
            "switch follows. Hello intervals come from the inventory when known, else "
            "from the neighbours' Hellos."
        )
        kernel = self.query_one("#if-kernel", KeyedTable)
        wg = self.query_one("#if-wg", KeyedTable)
        kernel_note = self.query_one("#if-kernel-note", Static)
        wg_note = self.query_one("#if-wg-note", Static)
        local = ctx.local
        if ctx.is_replay:
            kernel.sync(())
            wg.sync(())
            kernel_note.update("Not available for a recording: the kernel is the recorded node's.")
            wg_note.update("Not available for a recording.")
        elif local is None:
            kernel_note.update("Reading the kernel's links… (here, or over the node's SSH)")
            wg_note.update("")
        else:
            kernel.sync(self._kernel_rows(local.links))
            wg.sync(self._wg_rows(local.peers, local.taken_at))
            kernel_note.update(
                fmt.plain(
                    local.links_error
                    or (local.namespace + "; its links are shown." if local.namespace else "")
                )
            )
            wg_note.update(
                fmt.plain(
                    local.peers_error
                    or ("" if local.peers else "No WireGuard peers on babeld's interfaces.")
                )
            )
        return stats
