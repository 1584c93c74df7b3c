"""SocketPump: a backlog reaches the UI loop in slices cut after a line (half of it, then a
fixed budget), with the loop's other work run between two slices, and nothing lost, reordered
or cut mid-line; then the end."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from pathlib import Path

from meshtui.transport.local import open_local
from meshtui.transport.pump import READ_BUDGET, PumpedChannel, SocketPump


def serve_once(path: str, data: bytes, go: threading.Event) -> threading.Thread:
    """A unix socket that, once ``go`` is set, writes ``data`` to its one client and closes."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn:
            go.wait(10)
            conn.sendall(data)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_a_backlog_is_read_in_slices_with_the_loop_running_between() -> None:
    lines = [f"change route {i:08x} prefix fd42:1::{i:x}/128 metric {i % 97}" for i in range(8000)]
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 10 * READ_BUDGET
    pump = SocketPump()
    thread = threading.Thread(target=pump.serve, daemon=True)
    thread.start()
    go = threading.Event()
    with tempfile.TemporaryDirectory() as work:
        path = str(Path(work) / "s.sock")
        server = serve_once(path, data, go)
        channel = await pump.wrap(lambda: open_local(path))()
        assert isinstance(channel, PumpedChannel)
        try:
            go.set()
            for _ in range(500):  # the whole backlog waits on this loop, unread
                if pump.bytes_in == len(data):
                    break
                await asyncio.sleep(0.01)
            assert pump.backlog == len(data)
            slices: list[bytes] = []
            turns: list[int] = []
            loop = asyncio.get_running_loop()
            while True:
                got = await channel.read()
                if not got:
                    break
                slices.append(got)
                # something else the loop has to do: it runs before the next slice
                loop.call_soon(turns.append, len(slices))
            assert b"".join(slices) == data
            # half the backlog at a time, then READ_BUDGET bytes: each cut after a line
            left = len(data)
            for part in slices:
                assert len(part) <= max(READ_BUDGET, left // 2) and part.endswith(b"\n")
                left -= len(part)
            assert len(slices) > 5 and len(slices[-2]) > READ_BUDGET - 200
            assert turns[: len(slices) - 1] == list(range(1, len(slices)))
            assert pump.backlog == 0 and pump.max_backlog == len(data)
        finally:
            await channel.close()
            pump.stop()
            server.join(5)
            thread.join(5)


async def test_a_channel_closed_unread_leaves_the_pumps_backlog() -> None:
    """A session that stops reading (a bad reply, a line too long) closes its channel: what
    it left unread no longer counts, or the app would never be calm enough to collect."""
    data = b"".join(b"change route %08x metric 1\n" % i for i in range(4000))
    pump = SocketPump()
    thread = threading.Thread(target=pump.serve, daemon=True)
    thread.start()
    go = threading.Event()
    with tempfile.TemporaryDirectory() as work:
        path = str(Path(work) / "s.sock")
        server = serve_once(path, data, go)
        channel = await pump.wrap(lambda: open_local(path))()
        try:
            go.set()
            for _ in range(500):
                if pump.bytes_in == len(data):
                    break
                await asyncio.sleep(0.01)
            first = await channel.read()
            assert first and pump.backlog == len(data) - len(first)
        finally:
            await channel.close()
            await asyncio.sleep(0.05)  # the reader's last delivery (the end) arrives after
            assert pump.backlog == 0
            pump.stop()
            server.join(5)
            thread.join(5)
