"""The per-node supervisor: connect, monitor, drain, reconnect with backoff, resync.

One :class:`NodeSession` owns one connection to one babeld (local socket, SSH
channel or replay) and the live :class:`~meshtui.core.model.NodeModel` fed by
it. It reads continuously, whatever its consumers do, because babeld cuts a
client off when a write to it blocks for ~100 ms: consumers get events through
callbacks that must return at once (queue the work, do not await it).

The session only ever sends ``monitor``: it is read-only by construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from enum import Enum

from meshtui.core import gcpolicy
from meshtui.core.events import Event, EventType
from meshtui.core.model import DEFAULT_GRACE, NodeModel
from meshtui.transport.local import Channel, ConnectError, greeting_problem

Opener = Callable[[], Awaitable[Channel]]
EventsCallback = Callable[[str, list[Event]], None]
StateCallback = Callable[[str, "SessionState", str], None]
RawCallback = Callable[[str, float, str], None]

MAX_LINE = 64 * 1024
PERMANENT_RETRY = 30.0
GREETING_TIMEOUT = 5.0


class SessionState(Enum):
    """Where a node's connection stands."""

    CONNECTING = "connecting"
    SYNCING = "syncing"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


class _Closed(Exception):
    pass


GC_HOLD_MAX = 30.0
"""Seconds a session may keep the collector paused for one dump (a dump that takes longer
loads with collections on)."""


class NodeSession:
    """Supervise one babeld control connection and its live model.

    Args:
        name: the node's name, stamped on its events.
        opener: coroutine factory returning a fresh :class:`Channel`.
        on_events: called with (name, events) after each batch of lines.
        on_state: called with (name, state, message) on every state change.
        on_raw: called with (name, time, line) for every raw line (recording).
        grace: see :class:`NodeModel`.
        backoff: first and maximum reconnect delay, in seconds.
        clock: the wall clock (replay passes its virtual clock).
        fail_fast: raise the first connection error out of :meth:`run`
            instead of retrying (for one-shot CLI use).
        label: how messages name the node's socket (defaults to ``name``).
    """

    def __init__(
        self,
        name: str,
        opener: Opener,
        *,
        on_events: EventsCallback | None = None,
        on_state: StateCallback | None = None,
        on_raw: RawCallback | None = None,
        grace: float = DEFAULT_GRACE,
        backoff: tuple[float, float] = (0.25, 5.0),
        clock: Callable[[], float] = time.time,
        fail_fast: bool = False,
        tick: float = 0.1,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.label = label or name
        self.opener = opener
        self.on_events = on_events
        self.on_state = on_state
        self.on_raw = on_raw
        self.backoff = backoff
        self.clock = clock
        self.fail_fast = fail_fast
        self.tick = tick
        self.model = NodeModel(grace=grace)
        self.state = SessionState.CONNECTING
        self.message = ""
        self.connects = 0
        self.disconnects = 0
        self.synced_at: float | None = None
        self._channel: Channel | None = None
        self._live = asyncio.Event()
        self._stopping = False
        self._gc_held = False
        self._gc_limit: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------------- public

    @property
    def stale(self) -> bool:
        """Whether the model may be out of date (not connected and synced)."""
        return self.state is not SessionState.LIVE

    async def wait_live(self, timeout: float | None = None) -> bool:
        """Wait until the session is live; False on timeout."""
        try:
            await asyncio.wait_for(self._live.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def flush(self) -> None:
        """Decide what is still in its grace period as if the grace had run out.

        For the end of a replay, where no more lines will come: first what a
        tick would say at this moment (silent neighbours), then the grace periods.
        """
        now = self.clock()
        self._emit(self.model.tick(now))
        self._emit(self.model.commit(now + self.model.grace))

    async def stop(self) -> None:
        """Stop reading and close the connection; :meth:`run` returns."""
        self._stopping = True
        channel = self._channel
        if channel is not None:
            await channel.close()

    async def run(self) -> None:
        """Connect and read until :meth:`stop`, reconnecting with backoff."""
        delay = self.backoff[0]
        ticker = asyncio.create_task(self._tick(), name=f"meshtui-tick-{self.name}")
        try:
            while not self._stopping:
                try:
                    await self._connect_and_read()
                    delay = self.backoff[0]
                except ConnectError as exc:
                    if self.fail_fast and self.connects == 0:
                        raise  # the caller reports it, once
                    self._lost(str(exc), failed=exc.permanent)
                    if exc.permanent:  # needs the user (known_hosts, keys): retry rarely
                        delay = max(delay, PERMANENT_RETRY)
                except _Closed as exc:
                    self._lost(str(exc) or "babeld closed the connection")
                    if self.synced_at is not None:
                        delay = self.backoff[0]
                except (OSError, ConnectionError, EOFError) as exc:
                    self._lost(f"connection lost: {exc}")
                finally:
                    channel, self._channel = self._channel, None
                    if channel is not None:
                        await channel.close()
                if self._stopping:
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self._set_state(SessionState.STOPPED, "")

    # ----------------------------------------------------------------- internals

    def _set_state(self, state: SessionState, message: str) -> None:
        if state is self.state and message == self.message:
            return
        self.state = state
        self.message = message
        if state is SessionState.LIVE:
            self._live.set()
        else:
            self._live.clear()
        if self.on_state is not None:
            self.on_state(self.name, state, message)

    def _emit(self, events: list[Event]) -> None:
        if events and self.on_events is not None:
            name = self.name
            self.on_events(name, [dataclasses.replace(e, node=name) for e in events])

    def _lost(self, message: str, failed: bool = False) -> None:
        if self._stopping:
            return
        if self.state is SessionState.LIVE:
            self.disconnects += 1
            self._emit([Event(EventType.DISCONNECTED, self.clock(), message=message)])
        self._set_state(SessionState.FAILED if failed else SessionState.RECONNECTING, message)

    async def _tick(self) -> None:
        model = self.model
        while True:
            await asyncio.sleep(self.tick)
            if self.state is SessionState.LIVE:
                self._emit(model.tick(self.clock()))

    async def _connect_and_read(self) -> None:
        try:
            await self._read_connection()
        finally:
            self._end_gc_hold()

    def _end_gc_hold(self) -> None:
        if self._gc_limit is not None:
            self._gc_limit.cancel()
            self._gc_limit = None
        if self._gc_held:
            self._gc_held = False
            gcpolicy.release_collections()

    async def _read_connection(self) -> None:
        if self.state is not SessionState.FAILED:
            self._set_state(
                SessionState.CONNECTING if self.connects == 0 else SessionState.RECONNECTING,
                self.message,
            )
        channel = await self.opener()
        self._channel = channel
        if self._stopping:
            return
        staging = NodeModel(grace=self.model.grace, announce=False)
        # a reconnect: the routes whose lines are unchanged are taken over, not built again
        known = self.model.current_lines if self.model.routes else None
        phase = 0  # 0 greeting, 1 dump, 2 live
        pending = b""
        model = self.model
        clock = self.clock
        on_raw = self.on_raw
        name = self.name
        where = self.label
        first_line = True
        while True:
            if phase == 0:
                try:
                    data = await asyncio.wait_for(channel.read(), GREETING_TIMEOUT)
                except TimeoutError:
                    raise ConnectError(
                        f"{where}: babeld did not greet within {GREETING_TIMEOUT:g} s "
                        "(it serves at most 4 clients: is it full?)",
                        "busy",
                    ) from None
            else:
                data = await channel.read()
            if not data:
                if phase == 0 and first_line:
                    raise ConnectError(
                        f"{name}: the socket closed before babeld's greeting", "closed"
                    )
                raise _Closed("babeld closed the connection")
            now = clock()
            text = (
                (pending + data).decode("utf-8", "replace")
                if pending
                else data.decode("utf-8", "replace")
            )
            lines = text.split("\n")
            tail = lines.pop()
            pending = tail.encode()
            if len(pending) > MAX_LINE:
                raise _Closed(f"a line longer than {MAX_LINE} bytes: not babeld output")
            if phase == 2:
                if on_raw is not None:
                    for line in lines:
                        on_raw(name, now, line)
                feed = model.feed
                for line in lines:
                    feed(line, now)
                self._emit(model.commit(now))
                continue
            i = 0
            while i < len(lines):
                if phase == 2:  # the rest of a chunk that ended the dump
                    for line in lines[i:]:
                        if on_raw is not None:
                            on_raw(name, now, line)
                        model.feed(line, now)
                    break
                if first_line:
                    first_line = False
                    problem = greeting_problem(lines[0], where)
                    if problem is not None:
                        if on_raw is not None:
                            on_raw(name, now, lines[0])
                        raise problem
                # greeting and dump: the model's batch path, up to the reply that ends them
                start = i
                i, reply = staging.load(lines, i, now, known)
                if on_raw is not None:
                    for line in lines[start:i]:
                        on_raw(name, now, line)
                if reply is None:
                    break
                if reply.status != "ok":
                    raise ConnectError(f"{where}: babeld answered {reply.status!r}", "closed")
                if phase == 0:
                    phase = 1
                    self._set_state(SessionState.SYNCING, "")
                    if not self._gc_held:  # until the dump is adopted (_synced), at most
                        self._gc_held = True  # GC_HOLD_MAX: a dump stalled on a dying link
                        gcpolicy.hold_collections()  # must not leave the process uncollected
                        self._gc_limit = asyncio.get_running_loop().call_later(
                            GC_HOLD_MAX, self._end_gc_hold
                        )
                    await channel.write(b"monitor\n")
                else:
                    phase = 2
                    self._synced(staging, now)
            if phase == 2:
                self._emit(model.commit(now))

    def _synced(self, staging: NodeModel, now: float) -> None:
        model = self.model
        first = self.connects == 0
        self.connects += 1
        model.stats.lines += staging.stats.lines
        model.stats.errors += staging.stats.errors
        events = model.adopt(staging, now)
        self._end_gc_hold()
        self.synced_at = now
        info = staging.node
        head = Event(
            EventType.CONNECTED if first else EventType.RESYNCED,
            now,
            message=f"{info.host} {info.version} id {info.my_id}",
        )
        self._set_state(SessionState.LIVE, "")
        self._emit([head, *events])
