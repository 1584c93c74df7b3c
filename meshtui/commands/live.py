"""Headless commands on live babeld data: ``status``, ``watch`` and ``record``.

These are a stable contract shared by scripts, the tests and the dashboard:
``status --json`` prints one object, ``watch --json`` one object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from meshtui.cli import CliError
from meshtui.core.events import Event, EventType
from meshtui.core.model import NodeModel
from meshtui.transport.local import ConnectError
from meshtui.transport.replay import Recorder, RecordingError
from meshtui.transport.session import SessionState
from meshtui.transport.sources import (
    Source,
    find_local_target,
    local_source,
    replay_source,
    run_until_live,
    tried_targets,
)


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """Options that choose which babeld to read."""
    group = parser.add_argument_group("babeld to read")
    group.add_argument("--socket", metavar="PATH", help="babeld's unix control socket (local-path)")
    group.add_argument("--port", metavar="N", type=int, help="babeld's TCP control port on [::1]")
    group.add_argument("--replay", metavar="FILE", help="a recording made with `meshtui record`")
    group.add_argument(
        "--speed", type=float, default=1.0, help="replay speed (1 = real time, 0 = at once)"
    )


def resolve_sources(args: argparse.Namespace) -> list[Source]:
    """The sources the options name; the usual local sockets when they name none."""
    if getattr(args, "replay", None):
        try:
            return [replay_source(args.replay, speed=args.speed)]
        except RecordingError as exc:
            raise CliError(str(exc)) from None
    if getattr(args, "socket", None):
        return [local_source(args.socket)]
    if getattr(args, "port", None) is not None:
        if not 0 < args.port < 65536:
            raise CliError(f"--port {args.port}: not a TCP port")
        return [local_source(args.port)]
    target = find_local_target()
    if target is None:
        raise CliError(
            f"no babeld control socket found (tried {tried_targets()}); pass --socket PATH or "
            "--port N, and enable one in babeld.conf with `local-path /run/babeld.sock` or "
            "`local-port 33123`"
        )
    return [local_source(target)]


# --------------------------------------------------------------------- status


def _table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    out = [f"{title} ({len(rows)})"]
    out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def format_status(model: NodeModel) -> str:
    """The readable form of one node's snapshot."""
    node = model.node
    parts = [f"node {node.host}  babeld {node.version}  router-id {node.my_id}"]
    parts.append(
        _table(
            "interfaces",
            ["name", "up", "ipv6"],
            [[i.name, "up" if i.up else "down", i.ipv6 or "-"] for i in model.interfaces.values()],
        )
    )
    parts.append(
        _table(
            "neighbours",
            ["address", "if", "heard", "loss", "rxcost", "txcost", "cost", "rtt"],
            [
                [
                    n.address,
                    n.interface,
                    f"{n.heard}/16",
                    f"{n.loss_pct:.0f}%",
                    n.rxcost,
                    n.txcost,
                    n.cost,
                    "-" if n.rtt is None else f"{n.rtt:.3f}",
                ]
                for n in sorted(model.neighbours.values(), key=lambda n: n.key)
            ],
        )
    )
    own = {x.prefix for x in model.xroutes.values()}
    rows = []
    for d in model.destinations():
        if d.prefix in own:
            continue
        sel = d.selected
        standby = ", ".join(
            f"{r.via}%{r.interface} {r.metric} (+{r.metric - sel.metric})"
            if sel
            else f"{r.via}%{r.interface} {r.metric}"
            for r in d.standby
        )
        rows.append(
            [
                d.prefix,
                d.state,
                f"{sel.via}%{sel.interface}" if sel else "-",
                sel.metric if sel else "-",
                standby or ("none (single point of failure)" if sel else "-"),
            ]
        )
    parts.append(_table("destinations", ["prefix", "state", "via", "metric", "standby"], rows))
    if model.stats.errors:
        parts.append(f"{model.stats.errors} malformed line(s) ignored")
    return "\n\n".join(parts)


async def _status(sources: list[Source], timeout: float) -> list[tuple[Source, Any]]:
    async def one(source: Source) -> tuple[Source, Any]:
        try:
            session = await run_until_live(source, timeout)
        except (ConnectError, TimeoutError) as exc:
            return source, exc
        return source, session.model

    return await asyncio.gather(*(one(s) for s in sources))


def cmd_status(args: argparse.Namespace) -> int:
    """Print one snapshot of each node and exit."""
    sources = resolve_sources(args)
    results = asyncio.run(_status(sources, args.timeout))
    multi = getattr(args, "inventory", None) is not None
    failed = [(s, r) for s, r in results if isinstance(r, Exception)]
    if not multi and failed:
        raise CliError(str(failed[0][1]))
    if args.json:
        if multi:
            out = {
                s.name: ({"error": str(r)} if isinstance(r, Exception) else r.snapshot())
                for s, r in results
            }
        else:
            out = results[0][1].snapshot()
        json.dump(out, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        for source, result in results:
            if multi:
                print(f"== {source.name} ({source.label})")
            if isinstance(result, Exception):
                print(f"error: {result}")
            else:
                print(format_status(result))
            if multi:
                print()
    return 1 if failed else 0


# --------------------------------------------------------------------- watch


def format_event(event: Event) -> str:
    """One readable line for an event, with its time and node."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    millis = int((event.time % 1) * 1000)
    node = f"[{event.node}] " if event.node else ""
    return f"{stamp}.{millis:03d} {node}{event.describe()}"


class _Printer:
    def __init__(self, as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose

    def events(self, _node: str, events: list[Event]) -> None:
        out = sys.stdout
        for event in events:
            if not self.verbose and event.type in (
                EventType.ROUTE_ADDED,
                EventType.ROUTE_REMOVED,
            ):
                continue
            if self.as_json:
                out.write(json.dumps(event.to_json()) + "\n")
            else:
                out.write(format_event(event) + "\n")
        out.flush()

    def state(self, node: str, state: SessionState, message: str) -> None:
        if state in (SessionState.RECONNECTING, SessionState.FAILED) and message:
            print(f"meshtui: {node}: {state.value}: {message}", file=sys.stderr, flush=True)


async def _run_sessions(sources: list[Source], duration: float | None, **session_kwargs) -> int:
    sessions = [s.session(**session_kwargs) for s in sources]
    fail_fast = len(sessions) == 1
    for session in sessions:
        session.fail_fast = fail_fast
    tasks = [asyncio.create_task(s.run(), name=f"meshtui-watch-{s.name}") for s in sessions]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    replays = [s.replay for s in sources if s.replay is not None]
    if replays:  # a replay ends with its recording
        waiter.cancel()
        waiter = asyncio.create_task(
            _first(stop.wait(), asyncio.gather(*(r.finished.wait() for r in replays)))
        )
    status = 0
    try:
        pending = {*tasks, waiter}
        deadline = None if duration is None else loop.time() + duration
        while True:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter in done or not done:
                break
            for task in done:
                exc = task.exception()
                if isinstance(exc, ConnectError):
                    print(f"meshtui: {exc}", file=sys.stderr)
                    status = 1
                elif exc is not None:
                    raise exc
            if not pending - {waiter}:
                break
    finally:
        for session in sessions:
            if session.state is SessionState.LIVE:
                session.flush()
            await session.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        waiter.cancel()
    return status


async def _first(*aws) -> None:
    """Wait until the first of ``aws`` completes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def cmd_watch(args: argparse.Namespace) -> int:
    """Stream semantic events until interrupted."""
    sources = resolve_sources(args)
    printer = _Printer(args.json, args.verbose)
    return asyncio.run(
        _run_sessions(sources, args.duration, on_events=printer.events, on_state=printer.state)
    )


# --------------------------------------------------------------------- record


def cmd_record(args: argparse.Namespace) -> int:
    """Record the raw stream with timestamps, for replay."""
    sources = resolve_sources(args)
    if len(sources) != 1:
        raise CliError("record reads one node: name it with --socket or --port")
    source = sources[0]
    out_path = Path(args.output)
    tmp = out_path.with_name(f".{out_path.name}.part")
    try:
        fh = tmp.open("w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    recorder = Recorder(fh, source.label)
    printer = _Printer(False, False)
    try:
        status = asyncio.run(
            _run_sessions([source], args.duration, on_raw=recorder.raw, on_state=printer.state)
        )
    finally:
        fh.flush()
        fh.close()
    if recorder.lines == 0:
        tmp.unlink(missing_ok=True)
        return status or 1
    tmp.replace(out_path)
    print(f"recorded {recorder.lines} lines to {out_path}", file=sys.stderr)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``status``, ``watch`` and ``record``."""
    p = sub.add_parser("status", help="print one snapshot of babeld's tables and exit")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per node")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("watch", help="stream routing events (failover, unreachable, ...)")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-v", "--verbose", action="store_true", help="also every route added/removed")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("record", help="record babeld's raw stream for replay")
    add_target_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_record)
