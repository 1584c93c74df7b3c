"""What the dashboard makes of its workers' outcomes: state and messages, never a traceback.

Workers are told apart by group: ``sessions`` (a node's reader), ``probe``
(the kernel probes of the Interfaces view), ``lab`` (a lab write action).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.worker import Worker, WorkerState

from meshtui.ui.journal import LinkState

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp

DONE = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)


def worker_outcome(app: MeshApp, event: Worker.StateChanged) -> None:
    """Turn a worker's new state into the node's link state, a probe result or a notice."""
    worker, state = event.worker, event.state
    name = worker.name or ""
    if worker.group == "sessions" and state is WorkerState.ERROR:
        node = name.partition(":")[2]
        for feed in app.feeds:
            if feed.name == node:
                feed.journal.note_state(LinkState.FAILED, str(worker.error), app.now())
        app.notify(f"{node}: {worker.error}", title="session stopped", severity="error")
    elif worker.group == "probe" and state in DONE:
        error = worker.error if state is WorkerState.ERROR else None
        result = worker.result if state is WorkerState.SUCCESS else None
        app.hub.probed(name.partition(":")[2], result, error)
        app.refresh_now(force=True)
    elif worker.group == "lab":
        if state is WorkerState.SUCCESS:
            app.notify(f"{worker.description}: done", title="lab")
        elif state is WorkerState.ERROR:
            app.notify(f"{worker.description}: {worker.error}", title="lab", severity="error")
