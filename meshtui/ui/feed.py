"""`NodeFeed`: one node's session wired into the dashboard's journal; the demo recording.

The session's callbacks only append to the node's
:class:`~meshtui.ui.journal.NodeJournal` and return, so the reader keeps
draining babeld's socket whatever the UI is doing; the app looks at the
journal on its own (coalesced) schedule.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from meshtui.core.events import Event
from meshtui.core.model import NodeModel
from meshtui.paths import shipped
from meshtui.transport.held import HeldReplay
from meshtui.transport.pump import SocketPump
from meshtui.transport.session import NodeSession, SessionState
from meshtui.transport.sources import Source
from meshtui.ui.journal import LinkState, NodeJournal

DEMO_FILE = "relay-outage.rec"
DEMO_DIR = shipped("demo", "ui/demo_data")


def demo_recording() -> Path:
    """The recording shipped with meshtui (a real relay outage seen from an edge router)."""
    return DEMO_DIR / DEMO_FILE


class NodeFeed:
    """One node as the dashboard sees it: its session, live model and journal.

    Args:
        source: where the node's stream comes from.
        clock: the clock for state-change times (the source's, by default).
        pump: reads a live node's socket on its own thread (see :mod:`meshtui.transport.pump`).
    """

    def __init__(
        self,
        source: Source,
        clock: Callable[[], float] | None = None,
        pump: SocketPump | None = None,
    ) -> None:
        self.source = source
        self.name = source.name
        self.label = source.label
        self.clock: Callable[[], float] = clock or source.clock or time.time
        self.journal = NodeJournal(source.name)
        self.held: HeldReplay | None = source.access.held
        reading = source
        if pump is not None and source.replay is None:
            reading = dataclasses.replace(source, opener=pump.wrap(source.opener))
        self.session: NodeSession = reading.session(
            on_events=self._on_events, on_state=self._on_state, on_raw=self._on_raw
        )
        self.hello: dict[str, float] = {}
        self.started = False
        self._flushed = False
        self.on_timeline: Callable[[NodeFeed], None] | None = None
        """Called when a failover, loss or recovery arrived (the app shows it at once)."""

    # -------------------------------------------------------- callbacks (return at once)

    def _on_events(self, _node: str, events: list[Event]) -> None:
        journal = self.journal
        before = journal.timeline_in
        journal.ingest(events, self.session.model)
        if journal.timeline_in != before and self.on_timeline is not None:
            self.on_timeline(self)

    def _on_state(self, _node: str, state: SessionState, message: str) -> None:
        self.journal.note_state(LinkState(state.value), message, self.clock())

    def _on_raw(self, _node: str, stamp: float, line: str) -> None:
        self.journal.note_raw(stamp, line)

    # -------------------------------------------------------- control

    @property
    def model(self) -> NodeModel:
        """The node's live model."""
        return self.session.model

    @property
    def is_replay(self) -> bool:
        """Whether the node is a recording."""
        return self.source.replay is not None

    @property
    def is_local(self) -> bool:
        """Whether the node is a babeld on this machine (its kernel can be inspected)."""
        return self.source.access.local_target is not None

    @property
    def target(self) -> str | int | None:
        """The local control socket (path or port), for a local node."""
        return self.source.access.local_target

    def pause(self) -> None:
        """Pause a replay (a live node keeps reading: babeld would cut a slow reader off)."""
        if self.source.replay is not None:
            self.source.replay.pause()

    def resume(self) -> None:
        """Resume a paused replay."""
        if self.source.replay is not None:
            self.source.replay.resume()

    def set_speed(self, speed: float) -> None:
        """Change a replay's speed."""
        if self.source.replay is not None:
            self.source.replay.set_speed(speed)

    @property
    def replay_position(self) -> tuple[float, float, float] | None:
        """(offset, duration, speed) of a replay, None for a live node."""
        replay = self.source.replay
        if replay is None:
            return None
        duration = self.held.duration if self.held is not None else replay.duration
        return (replay.clock.offset, duration, replay.clock.speed)

    @property
    def replay_finished(self) -> bool:
        """Whether a held replay reached its end."""
        return self.held is not None and self.held.at_end

    def poll(self) -> None:
        """Periodic upkeep from the UI's timer (cheap).

        At the end of a held replay, decides what is still in its grace period
        (no more lines will come), once; applies configured hello intervals to
        the model's interfaces (``"*"`` for every interface).
        """
        if self.held is not None and self.held.at_end and not self._flushed:
            self._flushed = True
            self.session.flush()
        if self.hello:
            configured = self.model.hello_intervals
            default = self.hello.get("*")
            for name in self.model.interfaces:
                value = self.hello.get(name, default)
                if value is not None and configured.get(name) != value:
                    configured[name] = value

    async def run(self) -> None:
        """Run the session until :meth:`stop` (the app runs this in a worker)."""
        self.started = True
        await self.session.run()

    async def stop(self) -> None:
        """Stop the session."""
        await self.session.stop()
