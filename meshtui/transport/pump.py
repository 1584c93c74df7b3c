"""`SocketPump`: read every live node's socket on a thread of its own, so babeld never waits.

babeld cuts a client off when a write to it blocks for about 100 ms. The
sessions parse and apply lines on the UI's event loop, which a long repaint
(or a busy machine) can hold up for longer than that. So the dashboard opens
each live connection on the pump's event loop, in its own thread, where a
task reads the socket as fast as babeld writes and hands the bytes over to
the UI loop; the session then reads from memory (:class:`PumpedChannel`).
Model and views stay single-threaded: only bytes cross the thread boundary.
Replays need no pump (there is no babeld to cut anyone off).

What the UI loop takes in one go is bounded: a backlog (the UI was busy, a
dump is arriving) is handed over in slices cut after a line, and the loop
runs whatever is ready (a key press, a repaint) between two slices. A slice
is :data:`READ_BUDGET` bytes, or half the backlog when that is more: a key
waits for a few ms of parsing under a steady storm, and the model still
catches up with any backlog in a few turns of the loop (fixed slices fell
behind for good when every turn also drew a frame).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from meshtui.transport.local import Channel

T = TypeVar("T")

Opener = Callable[[], Awaitable[Channel]]

READY_TIMEOUT = 10.0
OPEN_TIMEOUT = 60.0  # the opener has its own, shorter timeouts; this only guards a lost pump
CLOSE_TIMEOUT = 5.0
READ_BUDGET = 16 * 1024
"""Most bytes one :meth:`PumpedChannel.read` returns (~110 route lines, a few ms to parse)."""


class SocketPump:
    """An event loop on a thread, reading sockets for the UI loop.

    The app runs :meth:`serve` in a thread worker and calls :meth:`stop` when
    it exits. Counters (``bytes_in``, ``chunks_in``, ``max_backlog``) feed the
    storm benchmark.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.bytes_in = 0
        self.chunks_in = 0
        self.max_backlog = 0
        self.backlog = 0

    def serve(self) -> None:
        """Run the pump's loop until :meth:`stop` (blocking: a thread worker's body)."""
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        self.ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop the loop (from any thread)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)

    async def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the pump's loop and await its result from the calling loop.

        Raises:
            RuntimeError: the pump is not running (the app is exiting).
            TimeoutError: no result within ``timeout`` seconds.
        """
        if not self.ready.is_set():
            ready = await asyncio.to_thread(self.ready.wait, READY_TIMEOUT)
            if not ready:
                coro.close()
                raise RuntimeError("the socket pump did not start")
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            coro.close()
            raise RuntimeError("the socket pump has stopped")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def wrap(self, opener: Opener) -> Opener:
        """An opener whose channels are read by the pump."""

        async def open_pumped() -> Channel:
            inner: Channel = await self.call(opener(), OPEN_TIMEOUT)  # type: ignore[arg-type]
            return PumpedChannel(inner, self, asyncio.get_running_loop())

        return open_pumped


class PumpedChannel:
    """A channel read by the pump's loop; :meth:`read` returns what has arrived since.

    Chunks that queued up while the UI was busy are handed over joined (one
    wake-up, not one per chunk), up to :data:`READ_BUDGET` bytes (or half the
    backlog) at a time; the rest waits for the next read, which first lets
    the UI loop run.
    """

    def __init__(self, inner: Channel, pump: SocketPump, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._pump = pump
        self._loop = loop
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self._backlog = 0
        self._rest = b""  # read but not handed over yet (over the budget)
        self._more = False  # the last read left some behind
        self._closed = False
        self.budget = READ_BUDGET
        assert pump.loop is not None
        self._task: Future[None] = asyncio.run_coroutine_threadsafe(self._run(), pump.loop)

    async def _run(self) -> None:
        """On the pump's loop: read until end of stream, handing each chunk to the UI loop."""
        deliver = self._deliver
        try:
            while True:
                data = await self._inner.read()
                self._loop.call_soon_threadsafe(deliver, data)
                if not data:
                    return
        except asyncio.CancelledError:
            self._loop.call_soon_threadsafe(deliver, b"")
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the session, which reports it
            self._loop.call_soon_threadsafe(deliver, exc)

    def _deliver(self, item: bytes | BaseException) -> None:
        """On the UI loop."""
        if self._closed:
            return  # nobody reads it any more: not counted in the pump's backlog
        if isinstance(item, bytes):
            pump = self._pump
            pump.bytes_in += len(item)
            pump.chunks_in += 1
            self._backlog += len(item)
            pump.backlog += len(item)
            if self._backlog > pump.max_backlog:
                pump.max_backlog = self._backlog
        self._queue.put_nowait(item)

    async def read(self) -> bytes:
        """What the pump has read since the last call, cut after a line at :attr:`budget`
        bytes or half the backlog, whichever is more (waits for at least one chunk; the
        end of stream comes alone)."""
        queue = self._queue
        if self._more:
            await asyncio.sleep(0)  # the UI loop's turn between two slices of a backlog
        if self._rest:
            data = self._rest
        else:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return item
            data = item
        # half of a large backlog at least: the model keeps up whatever else the loop does
        budget = max(self.budget, self._backlog // 2)
        if len(data) < budget and not queue.empty():
            parts = [data]
            size = len(data)
            while size < budget and not queue.empty():
                more = queue.get_nowait()
                if isinstance(more, BaseException) or not more:
                    queue.put_nowait(more)  # the end (or the error), last: on a later read
                    break
                parts.append(more)
                size += len(more)
            data = b"".join(parts)
        if len(data) > budget:
            cut = data.rfind(b"\n", 0, budget) + 1 or data.find(b"\n", budget) + 1 or len(data)
            data, self._rest = data[:cut], data[cut:]
        else:
            self._rest = b""
        self._more = bool(self._rest) or not queue.empty()
        self._backlog -= len(data)
        self._pump.backlog -= len(data)
        return data

    async def write(self, data: bytes) -> None:
        """Send a request (on the pump's loop)."""
        await self._pump.call(self._inner.write(data), CLOSE_TIMEOUT)

    async def close(self) -> None:
        """Close the connection and stop reading it (what is left unread leaves the backlog)."""
        if not self._closed:
            self._closed = True
            self._pump.backlog -= self._backlog
            self._backlog, self._rest = 0, b""
        self._task.cancel()
        try:
            await self._pump.call(self._inner.close(), CLOSE_TIMEOUT)
        except (RuntimeError, TimeoutError):
            pass  # the pump already stopped: the app is exiting
