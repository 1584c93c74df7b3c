"""Saving the Events view's log (``s``): ask for a path, then write the lines atomically."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from meshtui.paths import write_atomic
from meshtui.ui.screens.dialogs import SaveScreen

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp
    from meshtui.ui.views.events import EventsView


def save_requested(app: MeshApp, event: EventsView.SaveRequested) -> None:
    """The Events view's ``s``: ask for a path, then write the log atomically."""
    save_log(app, event.lines, raw=event.raw)


def save_log(app: MeshApp, lines: list[str], *, raw: bool) -> None:
    """Ask where to save ``lines`` (events, or babeld's raw lines), then write them (0600)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = "raw" if raw else "events"
    default = f"meshtui-{app.feed.name}-{kind}-{stamp}.log"

    def save(path: str | None) -> None:
        if not path:
            return
        try:
            write_atomic(Path(path).expanduser(), "".join(f"{line}\n" for line in lines), 0o600)
        except OSError as exc:
            app.notify(f"cannot save to {path}: {exc.strerror or exc}", severity="error")
            return
        app.notify(f"saved {len(lines)} lines to {path}", title="events")

    app.push_screen(SaveScreen(default, len(lines)), save)
