"""Headless commands on live babeld data: ``status``, ``watch`` and ``record``.

These are a stable contract shared by scripts, the tests and the dashboard:
``status --json`` prints one object, ``watch --json`` one object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtui.cli import CliError
from meshtui.commands import inventory_from_arg, say, seconds, speed, tcp_port, warn
from meshtui.commands.sources import from_inventory, resolve_sources
from meshtui.core import foresight
from meshtui.core.events import ROUTE_EVENTS, Event, EventType
from meshtui.core.inventory import Inventory
from meshtui.core.meshcheck import (
    CellState,
    CheckKind,
    Matrix,
    build_matrix,
    changed_cells,
    format_findings,
    format_matrix,
    mesh_report,
)
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.core.sanitize import inert
from meshtui.transport.local import ConnectError
from meshtui.transport.replay import Recorder
from meshtui.transport.session import NodeSession, SessionState
from meshtui.transport.sources import Source, run_until_live

EXAMPLES = {
    "status": """
meshtui status --socket /run/babeld.sock
meshtui status --port 33123 --json | jq '.destinations'
meshtui status --inventory mesh.toml --node relay-fra
meshtui status --replay outage.rec --speed 0
""",
    "watch": """
meshtui watch --socket /run/babeld.sock
meshtui watch --inventory mesh.toml --json
meshtui watch --replay outage.rec --speed 10 --duration 60
""",
    "record": """
meshtui record --socket /run/babeld.sock -o outage.rec --duration 600
meshtui record --port 33123 -o outage.rec --force
meshtui record --inventory mesh.toml --node edge-a -o edge-a.rec
""",
}


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """Options that choose which babeld to read."""
    group = parser.add_argument_group("babeld to read (one of --socket, --port, --replay)")
    one = group.add_mutually_exclusive_group()
    one.add_argument("--socket", metavar="PATH", help="babeld's unix control socket (local-path)")
    one.add_argument(
        "--port", metavar="N", type=tcp_port, help="babeld's TCP control port on [::1]"
    )
    one.add_argument("--replay", metavar="FILE", help="a recording made with `meshtui record`")
    group.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        metavar="X",
        help="replay speed: more than 0 (1 = real time), or 0 for as fast as possible",
    )
    group.add_argument(
        "--inventory",
        metavar="FILE",
        nargs="?",
        const="",
        help="every node of a mesh inventory, over SSH (FILE defaults to ./mesh.toml, then "
        "$XDG_CONFIG_HOME/meshtui/mesh.toml)",
    )
    group.add_argument(
        "--node",
        metavar="NAME",
        action="append",
        help="with --inventory: only this node (repeat for more)",
    )


async def close_ssh(sources: list[Source]) -> None:
    """Close the SSH connections of inventory sources (nothing to do for the others)."""
    if any(s.access.ssh is not None for s in sources):
        from meshtui.transport.ssh import close_sources

        await close_sources(sources)


# --------------------------------------------------------------------- status


def _table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[inert(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    out = [f"{title} ({len(rows)})"]
    out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(out)


def format_status(model: NodeModel, names: Names | None = None, node: str | None = None) -> str:
    """The readable form of one node's snapshot.

    With ``names`` (an inventory), next hops and destinations read as node
    names (``relay-1 (wg-r1)``) as seen from ``node``.
    """

    def hop(via: str, interface: str) -> str:
        return names.describe_hop(node, via, interface) if names else f"{via}%{interface}"

    def dest(prefix: str) -> str:
        return names.describe_prefix(prefix) if names else prefix

    info = model.node
    parts = [f"node {info.host}  babeld {info.version}  router-id {info.my_id}"]
    shortest = model.shortest_hello()
    iface_rows = []
    for i in model.interfaces.values():
        hello, _source = model.interface_hello(i.name)
        seen = "-"
        if hello is not None:
            det = foresight.detection_time(hello, shortest)
            seen = (
                f"~{foresight.format_seconds(det.expected)} "
                f"({foresight.format_seconds(det.cost_infinite)}-"
                f"{foresight.format_seconds(det.latest)})" + (" SLOW" if det.slow else "")
            )
        iface_rows.append(
            [
                i.name,
                "up" if i.up else "down",
                i.ipv6 or "-",
                "-" if hello is None else f"{hello:g} s",
                seen,
            ]
        )
    columns = ["name", "up", "ipv6", "hello", "detection"]
    parts.append(_table("interfaces", columns, iface_rows))
    parts.append(
        _table(
            "neighbours",
            ["neighbour", "heard", "loss", "rxcost", "txcost", "cost", "rtt"],
            [
                [
                    hop(n.address, n.interface),
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
            f"{hop(r.via, r.interface)} {r.metric}"
            + (f" (+{r.metric - sel.metric})" if sel else "")
            for r in d.standby
        )
        rows.append(
            [
                dest(d.prefix),
                d.state,
                hop(sel.via, sel.interface) if sel else "-",
                sel.metric if sel else "-",
                standby or ("none (single point of failure)" if sel else "-"),
            ]
        )
    parts.append(_table("destinations", ["to", "state", "via", "metric", "standby"], rows))
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

    try:
        return await asyncio.gather(*(one(s) for s in sources))
    finally:
        await close_ssh(sources)


def inventory_of(sources: list[Source]) -> Inventory | None:
    for source in sources:
        if source.access.inventory is not None:
            return source.access.inventory
    return None


def _multi_status_json(results: list[tuple[Source, Any]], names: Names) -> dict[str, Any]:
    """One object keyed by node name: the local ``status --json`` shape, names added."""
    out: dict[str, Any] = {}
    for source, result in results:
        if isinstance(result, Exception):
            reason = getattr(result, "reason", "timeout")
            out[source.name] = {"error": str(result), "reason": reason}
        else:
            out[source.name] = names.annotate_snapshot(source.name, result.snapshot())
    return out


def _multi_status_text(results: list[tuple[Source, Any]], names: Names) -> str:
    parts = []
    models: dict[str, NodeModel | None] = {}
    errors: dict[str, str] = {}
    for source, result in results:
        parts.append(f"== {source.name} ({source.label})")
        if isinstance(result, Exception):
            parts.append(f"error: {result}\n")
            models[source.name] = None
            errors[source.name] = str(result)
        else:
            parts.append(format_status(result, names, source.name) + "\n")
            models[source.name] = result
    report = mesh_report(models, names, errors=errors)
    parts.append("== mesh (relay or first hop, metric)")
    parts.append(format_matrix(report.matrix) + "\n")
    parts.append("== checks")
    # A node that could not be read already says why in its own section: once is enough.
    parts.append(format_findings(f for f in report.findings if f.kind is not CheckKind.NODE_DOWN))
    return "\n".join(parts)


def cmd_status(args: argparse.Namespace) -> int:
    """Print one snapshot of each node and exit."""
    sources = resolve_sources(args)
    results = asyncio.run(_status(sources, args.timeout))
    multi = from_inventory(sources)
    failed = [(s, r) for s, r in results if isinstance(r, Exception)]
    if not multi and failed:
        raise CliError(str(failed[0][1]))
    if multi:
        models = {s.name: r for s, r in results if not isinstance(r, Exception)}
        names = Names.build(inventory_of(sources), models)
        if args.json:
            json.dump(_multi_status_json(results, names), sys.stdout, indent=2)
            sys.stdout.write("\n")
            for _source, result in failed:
                warn(str(result))
        else:
            say(_multi_status_text(results, names))  # each failed node says why, once
    elif args.json:
        json.dump(results[0][1].snapshot(), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        say(format_status(results[0][1]))
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
                out.write(inert(format_event(event)) + "\n")
        out.flush()

    def state(self, node: str, state: SessionState, message: str) -> None:
        if state in (SessionState.RECONNECTING, SessionState.FAILED) and message:
            warn(f"{node}: {state.value}: {message}")


async def run_sessions(sources: list[Source], duration: float | None, **session_kwargs) -> int:
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
    waiter: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    replays = [s.replay for s in sources if s.replay is not None]
    if replays:  # a replay ends with its recording
        waiter.cancel()
        waiter = asyncio.create_task(_first(stop.wait(), _all_set([r.finished for r in replays])))
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
                    warn(str(exc))
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
        waiter.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)
    return status


async def _all_set(events: list[asyncio.Event]) -> None:
    """Wait until every one of ``events`` is set."""
    for event in events:
        await event.wait()


async def _first(*aws) -> None:
    """Wait until the first of ``aws`` completes; cancel the others and collect them."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_RELEARN_EVENTS = (EventType.CONNECTED, EventType.RESYNCED, EventType.NEIGHBOUR_UP)
MESH_SETTLE = 0.5  # seconds a burst of changes gets before the mesh matrix is compared


def describe_named(event: Event, names: Names) -> str:
    """:meth:`Event.describe` with node names for next hops and /128s."""
    node = event.node
    if event.type in ROUTE_EVENTS and event.prefix is not None:
        dest = names.describe_prefix(event.prefix)
        old = (
            names.describe_hop(node, event.from_.via, event.from_.interface) if event.from_ else ""
        )
        new = names.describe_hop(node, event.to.via, event.to.interface) if event.to else ""
        t = event.type
        if t is EventType.FAILOVER and event.from_ and event.to:
            return (
                f"failover {dest}: {old} -> {new} (metric {event.from_.metric} -> "
                f"{event.to.metric})" + event.figures()
            )
        if t is EventType.UNREACHABLE:
            return f"unreachable {dest}" + (f" (was via {old})" if old else "")
        if t is EventType.RECOVERED and event.to:
            return f"recovered {dest} via {new} metric {event.to.metric}"
        if t is EventType.METRIC_CHANGED and event.from_ and event.to:
            return f"metric {dest} via {new}: {event.from_.metric} -> {event.to.metric}"
        path = event.to or event.from_
        verb = "route added" if t is EventType.ROUTE_ADDED else "route removed"
        return f"{verb} {dest}" + (f" via {new or old} metric {path.metric}" if path else "")
    if event.neighbour is not None and event.type in (
        EventType.NEIGHBOUR_UP,
        EventType.NEIGHBOUR_DOWN,
        EventType.DEGRADING,
    ):
        who = names.describe_hop(node, event.neighbour, event.interface)
        verb = event.type.value.replace("_", " ")
        return f"{verb} {who}" + (f": {event.message}" if event.message else "")
    return event.describe()


@dataclass
class TrackedSource(Source):
    """A source that remembers the session it made (so the printer can read its model)."""

    registry: dict[str, NodeSession] = field(default_factory=dict)

    def session(self, **kwargs: Any) -> NodeSession:
        session = super().session(**kwargs)
        self.registry[self.name] = session
        return session


class _MeshPrinter(_Printer):
    """``watch --inventory``: events with node names; session states as lines too."""

    def __init__(
        self, as_json: bool, verbose: bool, names: Names, sessions: dict[str, NodeSession]
    ):
        super().__init__(as_json, verbose)
        self.names = names
        self.sessions = sessions
        self._learnt: set[str] = set()
        self._relearnt_at = 0.0
        self._matrix: Matrix | None = None
        self._relays: dict[tuple[str, str], str] = {}  # the last relay each path crossed
        self._mesh_due = False

    def _learn(self, node: str) -> None:
        session = self.sessions.get(node)
        if session is not None:
            self.names.learn(node, session.model)
            self._learnt.add(node)

    def _learn_all(self) -> None:
        now = time.monotonic()
        if now - self._relearnt_at >= 1.0:
            self._relearnt_at = now
            for node in list(self.sessions):
                self._learn(node)

    def _schedule_mesh(self) -> None:
        """Compare the mesh matrix again shortly (coalescing a burst of changes)."""
        if not self._mesh_due:
            self._mesh_due = True
            asyncio.get_running_loop().call_later(MESH_SETTLE, self._mesh_changes)

    def _mesh_changes(self) -> None:
        """Emit ``relay_changed`` for every source whose path now crosses another relay.

        Edges see their own failover; nodes behind them (servers) only see a
        metric change: the matrix, traced through every node's table, shows
        that their path moved from one relay to another too.
        """
        self._mesh_due = False
        for node in list(self.sessions):
            self._learn(node)
        models = {
            n: (s.model if s.state is SessionState.LIVE else None) for n, s in self.sessions.items()
        }
        matrix = build_matrix(models, self.names)
        now = time.time()
        out = sys.stdout
        for key in sorted(changed_cells(self._matrix, matrix)):
            after = matrix.cells[key]
            if after.relay is None or after.state not in (CellState.OK, CellState.PENDING):
                continue  # unreachable and recovered events tell the rest
            before_relay = self._relays.get(key)
            self._relays[key] = after.relay
            if before_relay is None or before_relay == after.relay:
                continue
            if self.as_json:
                line = {"type": "relay_changed", "time": round(now, 6), "node": after.source}
                line.update(
                    {
                        "prefix": after.prefix,
                        "dest_node": after.dest,
                        "from_relay": before_relay,
                        "to_relay": after.relay,
                        "path": list(after.path),
                    }
                )
                out.write(json.dumps(line) + "\n")
            else:
                stamp = time.strftime("%H:%M:%S", time.localtime(now))
                text = (
                    f"{stamp}.{int((now % 1) * 1000):03d} [{after.source}] relay for {after.dest}:"
                    f" {before_relay} -> {after.relay}"
                )
                out.write(inert(text) + "\n")
        self._matrix = matrix
        out.flush()

    def events(self, node: str, events: list[Event]) -> None:
        if node not in self._learnt or any(e.type in _RELEARN_EVENTS for e in events):
            self._learn(node)
        if any(e.type in ROUTE_EVENTS or e.type in _RELEARN_EVENTS for e in events):
            self._schedule_mesh()
        out = sys.stdout
        for event in events:
            if not self.verbose and event.type in (EventType.ROUTE_ADDED, EventType.ROUTE_REMOVED):
                continue
            if self._unnamed(node, event):
                self._learn_all()
            if self.as_json:
                out.write(json.dumps(self.names.annotate_event(node, event.to_json())) + "\n")
            else:
                stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
                millis = int((event.time % 1) * 1000)
                line = describe_named(event, self.names)
                out.write(inert(f"{stamp}.{millis:03d} [{node}] {line}") + "\n")
        out.flush()

    def _unnamed(self, node: str, event: Event) -> bool:
        for path in (event.from_, event.to):
            if path is not None and self.names.neighbour(node, path.via, path.interface) is None:
                return True
        return False

    def state(self, node: str, state: SessionState, message: str) -> None:
        if state in (SessionState.RECONNECTING, SessionState.FAILED) and message:
            text = message.removeprefix(f"{node}: ")
            warn(f"{node}: {state.value}: {text}")
        self._schedule_mesh()
        if self.as_json:
            line = {"type": "state", "time": round(time.time(), 6), "node": node}
            line.update({"state": state.value, "message": message})
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


async def _watch_mesh(sources: list[Source], args: argparse.Namespace) -> int:
    sessions: dict[str, NodeSession] = {}
    tracked: list[Source] = [
        TrackedSource(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, registry=sessions
        )
        for s in sources
    ]
    names = Names(inventory_of(sources))
    printer = _MeshPrinter(args.json, args.verbose, names, sessions)
    try:
        return await run_sessions(
            tracked, args.duration, on_events=printer.events, on_state=printer.state
        )
    finally:
        await close_ssh(sources)


def cmd_watch(args: argparse.Namespace) -> int:
    """Stream semantic events until interrupted."""
    sources = resolve_sources(args)
    if from_inventory(sources):
        return asyncio.run(_watch_mesh(sources, args))
    printer = _Printer(args.json, args.verbose)
    return asyncio.run(
        run_sessions(sources, args.duration, on_events=printer.events, on_state=printer.state)
    )


# --------------------------------------------------------------------- record


def cmd_record(args: argparse.Namespace) -> int:
    """Record the raw stream with timestamps, for replay."""
    sources = resolve_sources(args)
    if len(sources) != 1:
        raise CliError("record reads one node: name it with --socket or --port")
    source = sources[0]
    out_path = Path(args.output)
    if out_path.exists() and not args.force:
        raise CliError(f"{out_path} exists: pass --force to overwrite it")
    if out_path.is_dir():
        raise CliError(f"{out_path} is a directory: name a file with -o")
    tmp = out_path.with_name(f".{out_path.name}.part")
    try:
        fh = tmp.open("w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    inv = source.access.inventory
    if getattr(args, "names", None):
        inv = inventory_from_arg(args.names)
    names = (
        {n.name: str(n.address) for n in inv.nodes.values() if n.address is not None}
        if isinstance(inv, Inventory)
        else {}
    )
    recorder = Recorder(fh, source.label, names)
    printer = _Printer(False, False)
    try:
        status = asyncio.run(
            run_sessions([source], args.duration, on_raw=recorder.raw, on_state=printer.state)
        )
    finally:
        fh.flush()
        fh.close()
    if recorder.lines == 0:
        tmp.unlink(missing_ok=True)
        return status or 1
    tmp.replace(out_path)
    print(inert(f"recorded {recorder.lines} lines to {out_path}"), file=sys.stderr)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``status``, ``watch`` and ``record``."""
    p = sub.add_parser("status", help="print one snapshot of babeld's tables and exit")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument(
        "--timeout", type=seconds, default=10.0, metavar="S", help="seconds to wait per node"
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("watch", help="stream routing events (failover, unreachable, ...)")
    add_target_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-v", "--verbose", action="store_true", help="also every route added/removed")
    p.add_argument(
        "--duration",
        type=seconds,
        metavar="S",
        help="stop after this many seconds (default: never)",
    )
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("record", help="record babeld's raw stream for replay")
    add_target_args(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the recording to write (written whole at the end; an existing file is kept "
        "unless --force)",
    )
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument(
        "--duration",
        type=seconds,
        metavar="S",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    p.add_argument(
        "--names",
        metavar="INVENTORY",
        help="write this inventory's node names into the recording, so replays name the nodes "
        "(automatic with --inventory)",
    )
    p.set_defaults(func=cmd_record)
