"""Where node streams come from: naming local sockets and recordings as :class:`Source` s.

A :class:`Source` pairs a node name with an opener; the CLI, the dashboard and
the tests build :class:`~meshtui.transport.session.NodeSession` s from them
the same way whatever the transport.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from meshtui.transport.local import Target, describe_target, open_local
from meshtui.transport.node import LocalAccess, NodeAccess, ReplayAccess
from meshtui.transport.replay import (
    ReplayClock,
    ReplaySource,
    load_recording,
    recorded_names,
    recording_started,
)
from meshtui.transport.session import NodeSession, Opener

DEFAULT_PORT = 33123
DEFAULT_PATHS = ("/run/babeld.sock", "/var/run/babeld.sock", "/run/babeld/babeld.sock")


@dataclass
class Source:
    """A node to read: its name, how to open its stream, and how to name it in messages."""

    name: str
    opener: Opener
    label: str
    clock: Callable[[], float] | None = None
    replay: ReplaySource | None = None
    access: NodeAccess = field(default_factory=NodeAccess)

    def session(self, **kwargs) -> NodeSession:
        """A session reading this source (keyword arguments go to NodeSession).

        Hello intervals the node's access knows (from an inventory) are the
        model's configured ones.
        """
        if self.clock is not None:
            kwargs.setdefault("clock", self.clock)
        kwargs.setdefault("label", self.label)
        session = NodeSession(self.name, self.opener, **kwargs)
        session.model.hello_intervals.update(self.access.hello)
        return session


def _default_name(target: Target) -> str:
    """``local`` for a port; the socket's name, or its folder's when that says more."""
    if isinstance(target, int):
        return "local"
    path = Path(target)
    if path.stem in ("babeld", "babel", "control", "local", "") and path.parent.name not in (
        "",
        "/",
        "run",
        "var",
        "tmp",
    ):
        return path.parent.name
    return path.stem or "local"


def local_source(target: Target, name: str | None = None) -> Source:
    """A babeld control socket on this machine."""
    return Source(
        name=name or _default_name(target),
        opener=lambda: open_local(target),
        label=describe_target(target),
        access=LocalAccess(target=target),
    )


def replay_source(path: str | Path, speed: float = 1.0, loop: bool = False) -> Source:
    """A recorded stream, replayed at ``speed`` (0 = as fast as possible)."""
    replay = ReplaySource(
        load_recording(path), speed=speed, loop=loop, origin=recording_started(path)
    )
    clock: ReplayClock = replay.clock
    return Source(
        name=Path(path).stem,
        opener=replay.open,
        label=f"replay of {path}",
        clock=clock,
        replay=replay,
        access=ReplayAccess(recorded=recorded_names(path)),
    )


def _port_answers(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("::1", port), timeout=timeout):
            return True
    except OSError:
        return False


def find_local_target() -> Target | None:
    """The first usual babeld control socket that exists here, or None."""
    if _port_answers(DEFAULT_PORT):
        return DEFAULT_PORT
    for path in DEFAULT_PATHS:
        if os.path.exists(path):
            return path
    return None


def tried_targets() -> str:
    """The list :func:`find_local_target` tries, for messages."""
    return ", ".join([f"[::1]:{DEFAULT_PORT}", *DEFAULT_PATHS])


async def run_until_live(source: Source, timeout: float) -> NodeSession:
    """Connect one session, wait for its first full sync, then stop it.

    Raises:
        ConnectError: the first connection attempt failed.
        TimeoutError: connected but no full dump within ``timeout``.
    """
    session = source.session(fail_fast=True)
    task = asyncio.create_task(session.run(), name=f"meshtui-snapshot-{source.name}")
    live = asyncio.create_task(session.wait_live())
    try:
        done, _ = await asyncio.wait(
            {task, live}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises the connection error
        if live not in done:
            raise TimeoutError(f"{source.label}: no complete dump within {timeout:g} s")
        return session
    finally:
        live.cancel()
        await session.stop()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reported above
            pass
