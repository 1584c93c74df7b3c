"""`NodeFeed`: one node's session wired into the dashboard's journal; demo replays that hold.

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
from meshtui.transport.pump import SocketPump
from meshtui.transport.replay import (
    ReplayChannel,
    ReplaySource,
    Segment,
    load_recording,
    recorded_names,
    recording_started,
)
from meshtui.transport.session import NodeSession, SessionState
from meshtui.transport.sources import Source
from meshtui.ui.journal import LinkState, NodeJournal

DEMO_FILE = "relay-outage.rec"
DEMO_DIR = shipped("demo", "ui/demo_data")


def demo_recording() -> Path:
    """The recording shipped with meshtui (a real relay outage seen from an edge router)."""
    return DEMO_DIR / DEMO_FILE


def _truncate(segments: list[Segment], stop_at: float) -> list[Segment]:
    out: list[Segment] = []
    for segment in segments:
        lines = tuple(item for item in segment.lines if item[0] <= stop_at)
        if lines:
            out.append(Segment(lines))
        if len(lines) < len(segment.lines):
            break
    return out


class HeldReplay:
    """A recording replayed through its connections, holding on the last state at the end.

    (The replay's last connection stays open and quiet at the end, as an idle
    babeld would; :attr:`at_end` says when it got there.)

    Args:
        segments: from :func:`~meshtui.transport.replay.load_recording`.
        speed: 1.0 is real time, 0 as fast as possible.
        stop_at: end the replay at this offset (seconds) — tests and
            snapshots use it to stop at a fixed point of the recording.
        origin: wall-clock time of the recording's start (fixed for snapshots).
    """

    def __init__(
        self,
        segments: list[Segment],
        speed: float = 1.0,
        stop_at: float | None = None,
        origin: float | None = None,
    ) -> None:
        if stop_at is not None:
            segments = _truncate(segments, stop_at)
        self.replay = ReplaySource(segments, speed=speed)
        if origin is not None:
            self.replay.clock.origin = origin
        self.duration = self.replay.duration

    async def open(self) -> ReplayChannel:
        """Open the next recorded connection (the session's opener)."""
        return await self.replay.open()

    @property
    def at_end(self) -> bool:
        """Whether the replay reached the end (of the recording, or ``stop_at``)."""
        return self.replay.finished.is_set()

    @property
    def offset(self) -> float:
        """Seconds into the recording."""
        return self.replay.clock.offset

    @property
    def paused(self) -> bool:
        """Whether the replay is paused."""
        return self.replay.clock.paused

    @property
    def speed(self) -> float:
        """The replay speed (1 = real time)."""
        return self.replay.clock.speed

    def pause(self) -> None:
        """Hold the replay where it is."""
        self.replay.pause()

    def resume(self) -> None:
        """Go on after :meth:`pause`."""
        self.replay.resume()

    def set_speed(self, speed: float) -> None:
        """Change the speed (from the next line)."""
        self.replay.set_speed(speed)


def held_replay_source(
    path: Path | str,
    *,
    speed: float = 1.0,
    stop_at: float | None = None,
    origin: float | None = None,
    name: str | None = None,
) -> Source:
    """A :class:`Source` replaying ``path``; it stays on the final state at the end.

    Raises:
        RecordingError: the file is missing or not a recording.
    """
    if origin is None:
        origin = recording_started(path)
    held = HeldReplay(load_recording(path), speed=speed, stop_at=stop_at, origin=origin)
    return Source(
        name=name or Path(path).stem,
        opener=held.open,
        label=f"replay of {Path(path).name}",
        clock=held.replay.clock,
        replay=held.replay,
        meta={"held": held, "names": recorded_names(path)},
    )


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
        held = source.meta.get("held")
        self.held: HeldReplay | None = held if isinstance(held, HeldReplay) else None
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
        return "target" in self.source.meta

    @property
    def target(self) -> str | int | None:
        """The local control socket (path or port), for a local node."""
        target = self.source.meta.get("target")
        return target if isinstance(target, str | int) else None

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
