"""``meshtui export``: babeld's live state as Prometheus metrics, and the alert rules.

One session per node (the same supervisors as ``watch``: one shared
connection each, reconnect with backoff, resync), read continuously; a scrape
reads the live models as they stand (no dump per scrape) through
:func:`meshtui.core.metrics.collect`. ``/metrics`` is served with
``prometheus_client``'s own HTTP server; its threads hand the reading to the
asyncio loop that owns the models, so a scrape never sees a table half-updated.
``--textfile DIR`` writes node_exporter's textfile format instead, atomically.
``--rules`` prints the shipped alert rules.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from meshtui.cli import CliError
from meshtui.commands import warn
from meshtui.commands.live import (
    TrackedSource,
    add_target_args,
    close_ssh,
    inventory_of,
    run_sessions,
)
from meshtui.commands.sources import from_inventory, resolve_sources
from meshtui.core.events import Event
from meshtui.core.metrics import Counters, Family, Kind, NodeReading, collect
from meshtui.core.names import Names
from meshtui.paths import write_atomic
from meshtui.transport.session import NodeSession, SessionState
from meshtui.transport.sources import Source

DEFAULT_LISTEN = "[::1]:9798"
TEXTFILE_NAME = "meshtui.prom"
RULES_RESOURCE = "alerts.rules.yml"
SCRAPE_TIMEOUT = 10.0  # seconds a scrape waits for the loop that owns the models

T = TypeVar("T")


def rules_text() -> str:
    """The alert rules shipped with meshtui (a Prometheus rules file)."""
    return resources.files("meshtui").joinpath(RULES_RESOURCE).read_text(encoding="utf-8")


def parse_listen(text: str) -> tuple[str, int]:
    """``[::1]:9798``, ``127.0.0.1:9798`` or ``:9798`` as (address, port).

    Raises:
        CliError: not ADDR:PORT with a port from 0 to 65535.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise CliError(f"--listen {text}: expected ADDR:PORT, e.g. {DEFAULT_LISTEN}")
    host = host.removeprefix("[").removesuffix("]") or "::1"
    return host, int(port_text)


class Exporter:
    """The sessions' counters and models, read as metric families at scrape time.

    Everything here runs on the asyncio loop that owns the sessions;
    :meth:`families_threadsafe` is the only entry point for other threads.
    """

    def __init__(
        self,
        names: Names,
        *,
        route_metrics: bool = False,
        single: bool = False,
    ) -> None:
        self.names = names
        self.route_metrics = route_metrics
        self.single = single
        self.sessions: dict[str, NodeSession] = {}
        self.counters: dict[str, Counters] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False

    def events(self, node: str, events: list[Event]) -> None:
        """Session callback: count failovers and resyncs."""
        self.counters.setdefault(node, Counters()).observe(events)

    def state(self, node: str, state: SessionState, message: str) -> None:
        """Session callback: report connection trouble on stderr, one line.

        A session only stops when the exporter does: from then on nothing is written.
        """
        if state is SessionState.STOPPED:
            self.stopping = True
        if state in (SessionState.RECONNECTING, SessionState.FAILED) and message:
            warn(f"{node}: {state.value}: {message.removeprefix(f'{node}: ')}")

    def _node_name(self, name: str, session: NodeSession) -> str:
        """The ``node`` label: the inventory's name; for a single socket, the name a
        recording gives the node's own /128, else babeld's host."""
        if not self.single:
            return name
        model = session.model
        for xroute in model.xroutes.values():
            named = self.names.node_of_prefix(xroute.prefix)
            if named and named != name:
                return named
        return model.node.host or name

    def families(self) -> list[Family]:
        """Every metric family, read from the live models now (on the loop's thread)."""
        readings = []
        for name, session in list(self.sessions.items()):
            live = session.state is SessionState.LIVE
            readings.append(
                NodeReading(
                    self._node_name(name, session),
                    session.model if session.synced_at is not None else None,
                    live,
                    self.counters.setdefault(name, Counters()),
                )
            )
        return collect(readings, self.names, route_metrics=self.route_metrics, mesh=not self.single)

    def families_threadsafe(self) -> list[Family]:
        """:meth:`families` from another thread (the HTTP server's): runs on the loop.

        A scrape that cannot be answered (the loop is shutting down or stuck) serves
        nothing, with one line on stderr, rather than a traceback from the HTTP server.
        """
        loop = self.loop
        if loop is None or loop.is_closed():
            return []
        try:
            return _on_loop(loop, self.families, SCRAPE_TIMEOUT)
        except concurrent.futures.TimeoutError:
            warn(f"scrape: no answer from the sessions' loop within {SCRAPE_TIMEOUT:g} s")
        except RuntimeError as exc:  # the loop closed meanwhile
            warn(f"scrape: {exc}")
        return []


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], T], timeout: float) -> T:
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return future.result(timeout)


class PrometheusCollector:
    """A ``prometheus_client`` collector over :class:`Exporter` (or any family source)."""

    def __init__(self, families: Callable[[], list[Family]]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        """``prometheus_client``'s metric families, built at scrape time."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for family in self._families():
            spec = family.spec
            labels = list(family.labels)
            if spec.kind is Kind.COUNTER:
                metric: Any = CounterMetricFamily(spec.name, spec.help, labels=labels)
            else:
                metric = GaugeMetricFamily(spec.name, spec.help, labels=labels)
            for sample in family.samples:
                metric.add_metric(list(sample.labels), sample.value)
            yield metric


def registry_for(families: Callable[[], list[Family]], process: bool = False) -> Any:
    """A registry holding meshtui's collector (and the process' own metrics, if asked)."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PrometheusCollector(families))
    if process:
        ProcessCollector(registry=registry)
    return registry


def exposition(registry: Any) -> str:
    """The text exposition format (what ``/metrics`` serves and the textfile holds)."""
    from prometheus_client import generate_latest

    return generate_latest(registry).decode("utf-8")


def _serve_http(registry: Any, listen: str) -> Any:
    """Start ``prometheus_client``'s HTTP server; print where it listens."""
    from prometheus_client import start_http_server

    host, port = parse_listen(listen)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise CliError(f"--listen {listen}: {exc.strerror or exc}") from None
    address, bound_port = server.socket.getsockname()[:2]
    shown = f"[{address}]" if ":" in address else address
    warn(f"serving http://{shown}:{bound_port}/metrics")
    return server


async def _write_textfiles(exporter: Exporter, registry: Any, path: Path, every: float) -> None:
    """Write the textfile every ``every`` seconds (first once every node had a chance)."""
    await asyncio.gather(*(s.wait_live(every) for s in list(exporter.sessions.values())))
    while not exporter.stopping:
        try:
            write_atomic(path, exposition(registry))
        except OSError as exc:
            warn(f"cannot write {path}: {exc.strerror or exc}")
        await asyncio.sleep(every)


async def _export(sources: list[Source], args: argparse.Namespace) -> int:
    single = not from_inventory(sources)
    names = Names(inventory_of(sources))
    for source in sources:  # names a recording carries (its header's names= field)
        names.add_names(source.access.names)
    exporter = Exporter(names, route_metrics=args.route_metrics, single=single)
    exporter.loop = asyncio.get_running_loop()
    tracked: list[Source] = [
        TrackedSource(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)},
            registry=exporter.sessions,
        )
        for s in sources
    ]
    server = None
    writer: asyncio.Task[None] | None = None
    try:
        if args.textfile is not None:
            registry = registry_for(exporter.families)
            target = Path(args.textfile) / TEXTFILE_NAME
            runner = asyncio.create_task(
                run_sessions(
                    tracked, args.duration, on_events=exporter.events, on_state=exporter.state
                ),
                name="meshtui-export-sessions",
            )
            await asyncio.sleep(0)  # the sessions exist once the runner started
            writer = asyncio.create_task(
                _write_textfiles(exporter, registry, target, args.interval),
                name="meshtui-export-textfile",
            )
            return await runner
        registry = registry_for(exporter.families_threadsafe, process=True)
        server = _serve_http(registry, args.listen)
        return await run_sessions(
            tracked, args.duration, on_events=exporter.events, on_state=exporter.state
        )
    finally:
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        if server is not None:
            server.shutdown()
            server.server_close()
        exporter.loop = None
        await close_ssh(sources)


def cmd_export(args: argparse.Namespace) -> int:
    """Serve (or write) the metrics until interrupted; or print the rules."""
    if args.rules:
        sys.stdout.write(rules_text())
        return 0
    if args.textfile is not None:
        directory = Path(args.textfile)
        if not directory.is_dir():
            raise CliError(f"--textfile {args.textfile}: no such directory")
        if args.interval <= 0:
            raise CliError(f"--interval {args.interval:g}: must be more than 0 seconds")
    else:
        parse_listen(args.listen)
    sources = resolve_sources(args)
    return asyncio.run(_export(sources, args))


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export``."""
    p = sub.add_parser(
        "export",
        help="Prometheus metrics of every node (/metrics, or a node_exporter textfile)",
        description="Serve babeld's live state as Prometheus metrics (read-only).",
    )
    add_target_args(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        default=DEFAULT_LISTEN,
        help=f"serve /metrics here (default {DEFAULT_LISTEN}; port 0: any free port)",
    )
    out.add_argument(
        "--textfile",
        metavar="DIR",
        help=f"write DIR/{TEXTFILE_NAME} for node_exporter's textfile collector instead",
    )
    out.add_argument(
        "--interval",
        type=float,
        default=15.0,
        help="with --textfile: seconds between writes (default 15)",
    )
    out.add_argument(
        "--route-metrics",
        action="store_true",
        help="also babel_route_metric, one series per route (cardinality!)",
    )
    out.add_argument("--rules", action="store_true", help="print the alert rules and exit")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_export)
