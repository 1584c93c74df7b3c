"""What the display shows: paused or running, names or addresses, which node, the help.

The bodies of the app's ``space``, ``a``, ``n`` and ``?`` (the keys themselves
are :mod:`meshtui.ui.actions`').
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshtui.ui.actions import VIEW_CLASSES, help_keys
from meshtui.ui.screens.dialogs import HelpScreen, reading_notes

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp


def toggle_pause(app: MeshApp) -> None:
    """Pause or resume the display; a replay pauses too (a live reader never does)."""
    app.paused = not app.paused
    for feed in app.feeds:
        if app.paused:
            feed.pause()
        else:
            feed.resume()
    app.refresh_now(force=not app.paused)


def toggle_addresses(app: MeshApp) -> None:
    """Show node names (default) or the addresses babeld prints, in every view."""
    app.show_addresses = not app.show_addresses
    app.notify("addresses" if app.show_addresses else "node names", timeout=2)
    app.refresh_now(force=True)


def show_node(app: MeshApp, index: int) -> None:
    """Show the ``index``-th node: every view starts afresh on it."""
    app.current = index
    for cls in VIEW_CLASSES:
        app.view(cls.view_id).reset()


def next_node(app: MeshApp) -> None:
    """Show the next node (or say there is only one)."""
    if len(app.feeds) < 2:
        app.notify("only one node is open", timeout=2)
        return
    show_node(app, (app.current + 1) % len(app.feeds))
    app.refresh_now(force=True)


def toggle_help(app: MeshApp) -> None:
    """Show the keys that apply here and how to read the screen (again: close it)."""
    if isinstance(app.screen, HelpScreen):
        app.pop_screen()
        return
    keys = help_keys(
        replay_shown=app.feed.is_replay,
        replays=any(f.is_replay for f in app.feeds),
        several=len(app.feeds) > 1,
        lab=app.lab is not None,
        keymap=app.keymap_overrides,
    )
    app.push_screen(HelpScreen(keys, reading_notes()))
