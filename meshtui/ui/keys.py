"""What the dashboard's keys and palette entries are: the help's key table and the palette.

The help (``?``) lists the keys in force (replay keys with a recording, ``n``
with several nodes, the lab's write actions in a lab); the command palette
(``ctrl+p``) names its entries "namespace: action".
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from meshtui.ui.screens.dialogs import HelpKey
from meshtui.ui.screens.main import VIEW_CLASSES, VIEW_HELP

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp


def help_keys(*, replay_shown: bool, replays: bool, several: bool, lab: bool) -> list[HelpKey]:
    """The help screen's key table.

    Args:
        replay_shown: the node shown is a recording (space also pauses it).
        replays: some node is a recording (``+`` / ``-``).
        several: more than one node (``n``).
        lab: the lab's write actions are bound (``F`` / ``H``).
    """
    keys = [
        HelpKey(str(number), f"{cls.title}: {VIEW_HELP[cls.view_id]}")
        for number, cls in enumerate(VIEW_CLASSES, 1)
    ]
    keys += [
        HelpKey("c", "read the node's config again (read-only)", "Filters"),
        HelpKey("/", "filter the view: words must all match, !word excludes"),
        HelpKey("esc", "back: close the filter or detail, clear the filter, previous view"),
    ]
    if several:
        keys.append(HelpKey("n", "next node"))
    if replays:
        keys.append(HelpKey("+ / -", "replay faster / slower", "replays"))
    keys += [
        HelpKey("enter", "open the destination's detail", "Failover, Routes"),
        HelpKey("o / O", "sort by the next column / reverse (or click a header)", "tables"),
        HelpKey(
            "space", "pause / resume the display" + (" and the replay" if replay_shown else "")
        ),
        HelpKey("r", "raw babeld lines instead of events (again: back)", "Events"),
        HelpKey("s", "save the log (as shown, filtered) to a file", "Events"),
        HelpKey("a", "addresses instead of node names (again: names)"),
        HelpKey("t", "next theme"),
        HelpKey("ctrl+p", "command palette (view: …, theme: …, events: …)"),
        HelpKey("?", "this help"),
        HelpKey("q", "quit"),
    ]
    if lab:
        keys.append(HelpKey("F", "fail a relay (drops its Babel traffic) — asks first", "lab"))
        keys.append(HelpKey("H", "heal a relay — asks first", "lab"))
    return keys


def palette_commands(app: MeshApp) -> Iterator[SystemCommand]:
    """The dashboard's palette entries, "namespace: action"."""
    for cls in VIEW_CLASSES:
        yield SystemCommand(
            f"view: {cls.view_id}",
            VIEW_HELP[cls.view_id],
            partial(app.action_show_view, cls.view_id),
        )
    for name in app.theme_names:
        yield SystemCommand(
            f"theme: {name}", "switch to this theme", partial(setattr, app, "theme", name)
        )
    yield SystemCommand(
        "display: pause / resume", "freeze or resume the display", app.action_toggle_pause
    )
    yield SystemCommand("view: filter", "filter the current view", app.action_filter)
    yield SystemCommand(
        "events: raw lines", "show babeld's own lines in the Events view", app.palette_raw
    )
    yield SystemCommand("events: save", "save the event log to a file", app.palette_save)
    if any(f.is_replay for f in app.feeds):
        yield SystemCommand(
            "replay: faster", "double the replay speed", partial(app.action_speed, 1)
        )
        yield SystemCommand(
            "replay: slower", "halve the replay speed", partial(app.action_speed, -1)
        )
    if len(app.feeds) > 1:
        yield SystemCommand("node: next", "show the next node", app.action_next_node)
    if app.lab is not None:
        yield SystemCommand("lab: fail a relay", "write action: drop a relay's Babel traffic",
                            partial(app.action_lab, "fail"))  # fmt: skip
        yield SystemCommand("lab: heal a relay", "write action: end a relay's outage",
                            partial(app.action_lab, "heal"))  # fmt: skip
    yield SystemCommand("help: keys", "the keys and how to read the screen", app.action_help)
