"""The dashboard's main screen: the header, a banner, the views in a content switcher, the footer.

The views and their keys come from the action registry (:mod:`meshtui.ui.actions`:
:data:`~meshtui.ui.actions.VIEW_CLASSES`, keys ``1`` … ``7`` in this order).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from meshtui.ui.actions import VIEW_CLASSES, bindings
from meshtui.ui.views.failover import FailoverView
from meshtui.ui.widgets.banner import Banner
from meshtui.ui.widgets.footer import KeyFooter
from meshtui.ui.widgets.nodebar import NodeBar

__all__ = ["VIEW_CLASSES", "LabMainScreen", "MainScreen"]


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

    BINDINGS = bindings("lab")
