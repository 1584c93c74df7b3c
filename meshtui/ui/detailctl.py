"""A destination's detail screen from the dashboard: opening it, and its ``w`` (ask babeld).

``w`` asks babeld itself (SIGUSR1) about the destination, through the hub, in a
worker; it is offered only when the app may act on a live node (not read-only,
not a recording).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from meshtui.ui.screens.detail import DestinationScreen

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp
    from meshtui.ui.hub import NodeFeed


def open_detail(app: MeshApp, prefix: str, src: str = "::/0") -> None:
    """Push the detail screen of ``prefix`` (from ``src``) for the node shown."""
    feed = app.feed
    ask = None if app.read_only or feed.is_replay else partial(ask_babeld, app)
    screen = DestinationScreen(prefix, src, ask=ask)
    screen.ctx = app.context()
    app.push_screen(screen)


def ask_babeld(app: MeshApp, screen: DestinationScreen) -> None:
    """The detail screen's ``w``: babeld's own word on its destination, in a worker."""
    app.run_worker(
        _ask_babeld(app, screen, app.feed),
        group="ask-babeld",
        exclusive=True,
        exit_on_error=False,
        description="ask babeld (SIGUSR1)",
    )


async def _ask_babeld(app: MeshApp, screen: DestinationScreen, feed: NodeFeed) -> None:
    report = await app.hub.ask_babeld(feed, screen.prefix, screen.src, read_only=app.read_only)
    if isinstance(report, str):
        screen.show_babeld([report], error=True)
    else:
        screen.show_babeld(report.lines(app.context().hop))
