"""The dashboard's one action registry: every key, what it does, and where each is said.

An :class:`Action` is one binding id (what a keymap rebinds:
``"view.routes" = "x"`` in ``$XDG_CONFIG_HOME/meshtui/keymap.toml``) with its
keys, its Textual action, its footer label, its help line, its palette entry,
where it applies and whether it is a write action. :data:`ACTIONS` lists them
in the help's order; from it come:

- the app's bindings and the lab screen's (:func:`bindings`), hence the footer;
- the help's key table (:func:`help_keys`);
- the command palette's entries (:mod:`meshtui.ui.palette`);
- whether a key does anything with the nodes open (:func:`applies`: replays, several nodes);
- the ids a keymap may name (:func:`binding_ids`).

Keys the views bind themselves (``o``/``O``, ``r``/``s``, ``c``) keep their
``Binding`` in the view (``bound="view"``); their help lines are here, under
the same id and key, and a test checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding, BindingType

from meshtui.ui.screens.detail import DestinationScreen
from meshtui.ui.screens.dialogs import HelpKey
from meshtui.ui.views.base import View
from meshtui.ui.views.events import EventsView
from meshtui.ui.views.failover import FailoverView
from meshtui.ui.views.filters import FiltersView
from meshtui.ui.views.interfaces import InterfacesView
from meshtui.ui.views.mesh import MeshView
from meshtui.ui.views.neighbours import NeighboursView
from meshtui.ui.views.routes import RoutesView

VIEW_CLASSES: tuple[type[View], ...] = (
    FailoverView,
    NeighboursView,
    RoutesView,
    InterfacesView,
    EventsView,
    MeshView,
    FiltersView,
)
"""The views, in the order of their keys ``1`` … ``7``."""

VIEW_HELP = {
    "failover": "destinations, the relay carrying each, standbys and margins; failover timeline",
    "neighbours": "Babel neighbours: reach history, loss, costs, RTT; lost ones for a while",
    "routes": "every route, selected and alternatives; filter, sort, enter for the detail",
    "interfaces": "babeld's interfaces and detection times; kernel links; WireGuard peers",
    "events": "the babeld -d 2 replacement: events or raw lines, filter, pause, save",
    "mesh": "every node at once: source x destination matrix, relays, and the checks",
    "filters": "in/out filter rules per interface with live match counts; the rule behind a route",
}
"""What each view shows, in one line (the help and the palette)."""

Bound = Literal["app", "lab", "view", "none"]
When = Literal["always", "replays", "several", "lab"]


@dataclass(frozen=True, slots=True)
class Action:
    """One key of the dashboard, everywhere it is said.

    Attributes:
        id: the binding id (keymaps name it).
        keys: Textual key names (``"plus,equals_sign"``); ``""`` when nothing of ours binds it.
        action: the Textual action the key runs (on the app, for ``app`` and ``lab``).
        label: the footer's label.
        help: the help line (``""``: not in the help).
        key_text: the key as the help writes it (default: ``keys``).
        where: the help's "where" column.
        bound: whose ``BINDINGS`` carry it: the app, the lab's main screen, the views
            themselves, or none of ours (``enter`` in a table, ``ctrl+p``).
        when: it applies only with a replay, with several nodes, or in a lab.
        show: shown in the footer.
        write: a write action (bound only when the app may write).
        footer: position among the app's bindings, hence in the footer.
        palette: the palette's title, "namespace: action" (``""``: not in the palette).
        palette_help: the palette's description.
        palette_action: what the palette runs on the app (default: ``action``).
        replay_note: appended to the help line when the node shown is a recording.
    """

    id: str
    keys: str
    action: str
    label: str
    help: str
    key_text: str = ""
    where: str = "everywhere"
    bound: Bound = "app"
    when: When = "always"
    show: bool = True
    write: bool = False
    footer: int = 0
    palette: str = ""
    palette_help: str = ""
    palette_action: str = ""
    replay_note: str = ""

    def binding(self) -> Binding:
        """The Textual binding."""
        return Binding(self.keys, self.action, self.label, show=self.show, id=self.id)


def _views() -> list[Action]:
    return [
        Action(f"view.{cls.view_id}", str(number), f"show_view('{cls.view_id}')", cls.title,
               f"{cls.title}: {VIEW_HELP[cls.view_id]}", footer=number - 1,
               palette=f"view: {cls.view_id}", palette_help=VIEW_HELP[cls.view_id])
        for number, cls in enumerate(VIEW_CLASSES, 1)
    ]  # fmt: skip


ACTIONS: tuple[Action, ...] = (
    *_views(),
    Action("filters.reload", "c", "reload_config", "Reload config",
           "read the node's config again (read-only)", where="Filters", bound="view"),
    Action("app.filter", "slash", "filter", "Filter",
           "filter the view: words must all match, !word excludes", key_text="/", footer=8,
           palette="view: filter", palette_help="filter the current view"),
    Action("app.back", "escape", "back", "Back",
           "back: close the filter or detail, clear the filter, previous view", key_text="esc",
           show=False, footer=9),
    Action("app.node", "n", "next_node", "Next node", "next node", when="several", footer=15,
           palette="node: next", palette_help="show the next node"),
    Action("replay.faster", "plus,equals_sign", "speed(1)", "Faster", "replay faster / slower",
           key_text="+ / -", where="replays", when="replays", footer=11,
           palette="replay: faster", palette_help="double the replay speed"),
    Action("replay.slower", "minus", "speed(-1)", "Slower", "", when="replays", footer=12,
           palette="replay: slower", palette_help="halve the replay speed"),
    Action("table.open", "", "", "", "open the destination's detail", key_text="enter",
           where="Failover, Routes", bound="none"),
    Action("table.sort", "o", "sort_next", "Sort",
           "sort by the next column / reverse (or click a header)", key_text="o / O",
           where="tables", bound="view"),
    Action("table.reverse", "O", "sort_reverse", "Reverse", "", bound="view", show=False),
    Action("app.pause", "space", "toggle_pause", "Pause", "pause / resume the display",
           replay_note=" and the replay", footer=10,
           palette="display: pause / resume", palette_help="freeze or resume the display"),
    Action("events.raw", "r", "toggle_raw", "Raw lines",
           "raw babeld lines instead of events (again: back)", where="Events", bound="view",
           palette="events: raw lines", palette_help="show babeld's own lines in the Events view",
           palette_action="in_view('events', 'toggle_raw')"),
    Action("events.save", "s", "save", "Save", "save the log (as shown, filtered) to a file",
           where="Events", bound="view",
           palette="events: save", palette_help="save the event log to a file",
           palette_action="in_view('events', 'save')"),
    Action("mesh.role", "R", "cycle_role", "Role",
           "rows of the next role only: relay, edge, server, then all", where="Mesh",
           bound="view"),
    Action("mesh.site", "S", "cycle_site", "Site",
           "rows of the next site only: a, b, …, then all", where="Mesh", bound="view"),
    Action("app.addresses", "a", "toggle_addresses", "Addresses",
           "addresses instead of node names (again: names)", footer=14),
    Action("app.theme", "t", "next_theme", "Theme", "next theme", footer=13),
    Action("app.palette", "", "", "", "command palette (view: …, theme: …, events: …)",
           key_text="ctrl+p", bound="none"),
    Action("app.help", "question_mark", "help", "Help", "this help", key_text="?", footer=16,
           palette="help: keys", palette_help="the keys and how to read the screen"),
    Action("app.quit", "q", "quit", "Quit", "quit", footer=17),
    Action("lab.fail", "F", "app.lab('fail')", "Fail relay",
           "fail a relay (drops its Babel traffic) — asks first", where="lab", bound="lab",
           when="lab", write=True, palette="lab: fail a relay",
           palette_help="write action: drop a relay's Babel traffic", palette_action="lab('fail')"),
    Action("lab.heal", "H", "app.lab('heal')", "Heal relay", "heal a relay — asks first",
           where="lab", bound="lab", when="lab", write=True, palette="lab: heal a relay",
           palette_help="write action: end a relay's outage", palette_action="lab('heal')"),
    Action("node.deploy", "D", "deploy", "Deploy config", "", write=True, footer=7),
)  # fmt: skip
"""Every key, in the order the help lists them."""

BY_ACTION = {a.action.partition("(")[0]: a for a in ACTIONS if a.bound == "app"}
"""The app's actions by name (``speed`` for ``speed(1)``), for :meth:`MeshApp.check_action`."""


def bindings(bound: Bound) -> list[BindingType]:
    """The bindings of the app (``"app"``, in footer order) or of the lab's main screen."""
    return [a.binding() for a in sorted(ACTIONS, key=lambda a: a.footer) if a.bound == bound]


def applies(action: Action, *, replays: bool, several: bool, lab: bool) -> bool:
    """Whether ``action`` does anything with these nodes (a replay, several, a lab)."""
    return {"always": True, "replays": replays, "several": several, "lab": lab}[action.when]


def help_keys(
    *,
    replay_shown: bool,
    replays: bool,
    several: bool,
    lab: bool,
    keymap: Mapping[str, str] | None = None,
) -> list[HelpKey]:
    """The help screen's key table.

    Args:
        replay_shown: the node shown is a recording (space also pauses it).
        replays: some node is a recording (``+`` / ``-``).
        several: more than one node (``n``).
        lab: the lab's write actions are bound (``F`` / ``H``).
        keymap: the user's keymap {binding id: keys}: a rebound key is said as rebound.
    """
    keymap = keymap or {}
    return [
        HelpKey(
            keymap.get(a.id) or a.key_text or a.keys,
            a.help + (a.replay_note if replay_shown else ""),
            a.where,
        )
        for a in ACTIONS
        if a.help and applies(a, replays=replays, several=several, lab=lab)
    ]


def binding_ids() -> set[str]:
    """Every binding id a keymap may rebind: the registry's, and those the screens bind."""
    ids = {a.id for a in ACTIONS if a.bound != "none"}
    for cls in (*VIEW_CLASSES, DestinationScreen):
        for binding in getattr(cls, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids
