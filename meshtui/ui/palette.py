"""The command palette (``ctrl+p``): a Textual command provider over the action registry.

Entries are named "namespace: action" (``view: routes``, ``theme: meshtui-light``,
``events: save``); those of :data:`~meshtui.ui.actions.ACTIONS` that apply to
the nodes open, then one per theme. :class:`MeshCommands` sits beside
Textual's own provider in ``MeshApp.COMMANDS``, so Textual's system commands
(theme, quit, keys, screenshot) stay available.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

from meshtui.ui.actions import ACTIONS, applies

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp


def palette_commands(app: MeshApp) -> Iterator[SystemCommand]:
    """The dashboard's palette entries, "namespace: action"."""
    replays = any(f.is_replay for f in app.feeds)
    several = len(app.feeds) > 1
    lab = app.lab is not None
    for action in ACTIONS:
        if action.write and app.read_only:
            continue  # a write action is offered nowhere in read-only mode
        if action.palette and applies(action, replays=replays, several=several, lab=lab):
            run = action.palette_action or action.action
            yield SystemCommand(action.palette, action.palette_help, partial(app.run_action, run))
    for name in app.theme_names:
        yield SystemCommand(
            f"theme: {name}", "switch to this theme", partial(setattr, app, "theme", name)
        )


class MeshCommands(Provider):
    """The dashboard's entries in the command palette."""

    def _commands(self) -> list[SystemCommand]:
        from meshtui.ui.app import MeshApp

        return list(palette_commands(self.app)) if isinstance(self.app, MeshApp) else []

    async def discover(self) -> Hits:
        """Every entry, by name, when nothing is typed yet."""
        for title, help_text, callback, _ in sorted(self._commands(), key=lambda c: c.title):
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """The entries whose name matches ``query`` (Textual's fuzzy matcher)."""
        matcher = self.matcher(query)
        for title, help_text, callback, _ in self._commands():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
