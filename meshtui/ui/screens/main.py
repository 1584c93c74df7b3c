"""The dashboard's main screen: the header, a banner, the views in a content switcher, the footer.

:data:`VIEW_CLASSES` is the list of views (keys ``1`` … ``7`` in this order);
:data:`VIEW_HELP` says in one line what each shows (help, palette).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from meshtui.ui.views.base import View
from meshtui.ui.views.events import EventsView
from meshtui.ui.views.failover import FailoverView
from meshtui.ui.views.filters import FiltersView
from meshtui.ui.views.interfaces import InterfacesView
from meshtui.ui.views.mesh import MeshView
from meshtui.ui.views.neighbours import NeighboursView
from meshtui.ui.views.routes import RoutesView
from meshtui.ui.widgets.banner import Banner
from meshtui.ui.widgets.footer import KeyFooter
from meshtui.ui.widgets.nodebar import NodeBar

VIEW_CLASSES: tuple[type[View], ...] = (
    FailoverView,
    NeighboursView,
    RoutesView,
    InterfacesView,
    EventsView,
    MeshView,
    FiltersView,
)

VIEW_HELP = {
    "failover": "destinations, the relay carrying each, standbys and margins; failover timeline",
    "neighbours": "Babel neighbours: reach history, loss, costs, RTT; lost ones for a while",
    "routes": "every route, selected and alternatives; filter, sort, enter for the detail",
    "interfaces": "babeld's interfaces and detection times; kernel links; WireGuard peers",
    "events": "the babeld -d 2 replacement: events or raw lines, filter, pause, save",
    "mesh": "every node at once: source x destination matrix, relays, and the checks",
    "filters": "in/out filter rules per interface with live match counts; the rule behind a route",
}


class MainScreen(Screen[None]):
    """The header, a banner, the views in a content switcher, and the footer."""

    def compose(self) -> ComposeResult:
        """Lay out the dashboard."""
        yield NodeBar(id="nodebar")
        yield Banner(id="banner")
        with ContentSwitcher(initial=FailoverView.view_id, id="views"):
            for cls in VIEW_CLASSES:
                yield cls()
        yield KeyFooter()


class LabMainScreen(MainScreen):
    """The main screen with the lab's write actions bound (``meshtui demo --live`` only).

    | Key | Action |
    | :- | :- |
    | F | Fail a relay (drop its Babel traffic) — asks first. |
    | H | Heal a relay — asks first. |
    """

    BINDINGS = [
        Binding("F", "app.lab('fail')", "Fail relay", id="lab.fail"),
        Binding("H", "app.lab('heal')", "Heal relay", id="lab.heal"),
    ]
