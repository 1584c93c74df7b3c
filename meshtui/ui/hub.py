"""`NodeHub`: what the dashboard reaches its nodes through (the one UI module using transport, ops).

The hub owns the node feeds and their sessions, the socket pump and the SSH
pools (and which event loop owns each: the sessions' pool lives on the pump's
loop, an action's pool on the app's), the kernel probes of the Interfaces
view, the reading of each node's config for the Filters view (where from is
the node access's to say) and the Mesh view's input. The app composes screens
and routes keys and messages; it runs the hub's coroutines in its workers, and
views get what the hub knows through :class:`~meshtui.ui.views.base.ViewContext`.

No other UI module imports :mod:`meshtui.transport` or :mod:`meshtui.ops` (an
import-linter contract in pyproject.toml): the few of their types the UI names
come from here (:class:`Source`, the deploy dialog's :class:`Change` and
:class:`Verification`), and so does a recording for the tests
(:func:`held_recording`).

A :class:`NodeFeed` is one node as the dashboard sees it: the session's
callbacks only append to the node's :class:`~meshtui.ui.journal.NodeJournal`
and return, so the reader keeps draining babeld's socket whatever the UI is
doing; the app looks at the journal on its own (coalesced) schedule.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshtui.core.babelconf import ParsedConfig, parse_config
from meshtui.core.decisions import ConfigSource, LoadedConfig, babeld_version_of
from meshtui.core.events import Event
from meshtui.core.kernel import LocalFacts, from_node_facts
from meshtui.core.model import NodeModel
from meshtui.core.names import Names
from meshtui.transport.held import HeldReplay, demo_recording, held_replay_source
from meshtui.transport.probe import probe_local
from meshtui.transport.pump import SocketPump
from meshtui.transport.session import NodeSession, SessionState
from meshtui.transport.sources import Source
from meshtui.ui.journal import LinkState, NodeJournal
from meshtui.ui.views.base import NodeConfig
from meshtui.ui.views.mesh import MeshInput

if TYPE_CHECKING:
    from meshtui.core.inventory import Inventory
    from meshtui.ops.deploy import Change as Change  # the deploy screen's types, re-exported
    from meshtui.ops.deploy import DeployReport, Operator
    from meshtui.ops.deploy import Verification as Verification
    from meshtui.ops.why import WhyReport
    from meshtui.transport.ssh import SSHPool

__all__ = ["NodeFeed", "NodeHub", "Source", "held_recording"]  # Change, Verification: types only

PROBE_INTERVAL = 10.0
"""Seconds between two probes of the kernel and WireGuard (Interfaces view)."""
PROBE_TIMEOUT = 15.0
REMOTE_FACTS = ("links", "addresses", "wireguard")

CONFIG_TIMEOUT = 120.0
"""Bound on reading one node's config (a stuck SSH path shows an error, not "reading …")."""

WorkerRunner = Callable[..., Any]
"""The app's ``run_worker`` (workers belong to the app; their outcomes come back to it)."""


def held_recording(
    path: Path | str | None = None,
    *,
    speed: float = 1.0,
    stop_at: float | None = None,
    origin: float | None = None,
    name: str | None = None,
) -> Source:
    """A recording replayed for the dashboard, holding on its last state (default: the demo's).

    Args:
        path: the recording (default: the one shipped with meshtui).
        speed: 1.0 is real time, 0 as fast as possible.
        stop_at: end the replay at this offset (seconds).
        origin: wall-clock time of the recording's start (fixed for snapshots).
        name: the node's name (default: the recording's).

    Raises:
        RecordingError: the file is missing or not a recording.
    """
    return held_replay_source(
        path if path is not None else demo_recording(),
        speed=speed,
        stop_at=stop_at,
        origin=origin,
        name=name,
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


class NodeHub:
    """Every node the dashboard shows, and everything that reaches them.

    Args:
        feeds: one per node (at least one).
        pump: reads live nodes' sockets on its own thread and loop (None: the app's loop).
        filters_config: babeld.conf of a local node or a recording (``--config FILE``).
    """

    def __init__(
        self,
        feeds: list[NodeFeed],
        pump: SocketPump | None = None,
        filters_config: Path | None = None,
    ) -> None:
        if not feeds:
            raise ValueError("the dashboard needs at least one node")
        self.feeds = feeds
        self.pump = pump
        self._filters_config = filters_config
        self._configs: dict[str, NodeConfig | None] = {}
        self._config_sources: dict[str, ConfigSource | None] = {}
        self._reading: dict[str, object] = {}  # the latest config read of each node
        self._run_worker: WorkerRunner | None = None
        inventories = (f.source.access.inventory for f in feeds if f.source.access.inventory)
        self.inventory: Inventory | None = next(inventories, None)
        self.names = Names.build(self.inventory, {})
        for feed in feeds:  # names a recording carries (its header's names= field)
            self.names.add_names(feed.source.access.names)
        self.local: dict[str, LocalFacts] = {}
        """Kernel links and WireGuard peers per node (the Interfaces view), as last probed."""
        self._probing: set[str] = set()

    @classmethod
    def for_sources(
        cls,
        sources: list[Source],
        *,
        hello: dict[str, float] | None = None,
        filters_config: Path | None = None,
    ) -> NodeHub:
        """One feed per source; live ones read through one socket pump (its own thread).

        Args:
            sources: the nodes (the first is shown first).
            hello: known hello intervals by interface name (``"*"``: every interface).
            filters_config: babeld.conf of a local node or a recording.
        """
        pump = SocketPump() if any(source.replay is None for source in sources) else None
        feeds = [NodeFeed(source, pump=pump) for source in sources]
        for feed in feeds:
            feed.hello = dict(hello or {})
        return cls(feeds, pump, filters_config)

    # ------------------------------------------------------------ sessions

    def start(self, run_worker: WorkerRunner) -> None:
        """Start the socket pump and every node's session, in the app's workers.

        ``run_worker`` also runs the hub's later work (config reads, probes).
        """
        self._run_worker = run_worker
        if self.pump is not None:
            run_worker(
                self.pump.serve,
                name="socket-pump",
                group="readers",
                description="reads every live node's socket as fast as babeld writes",
                exit_on_error=False,
                thread=True,
            )
        for feed in self.feeds:
            run_worker(
                feed.run(),
                name=f"session:{feed.name}",
                group="sessions",
                description=f"babeld session for {feed.label}",
                exit_on_error=False,
            )

    async def close(self) -> None:
        """Stop the sessions, close their SSH connections (on the loop that opened them)."""
        for feed in self.feeds:
            await feed.stop()
        pools = {id(p): p for f in self.feeds if (p := self.pool(f)) is not None}
        for pool in pools.values():
            try:
                if self.pump is not None:
                    await self.pump.call(pool.close(), timeout=5.0)
                else:
                    await pool.close()
            except (RuntimeError, TimeoutError):
                pass  # the pump is gone: the process is exiting and its sockets with it
        if self.pump is not None:
            self.pump.stop()

    def pump_stats(self) -> dict[str, int] | None:
        """The pump's counters (None without a pump), for ``--stats``."""
        if self.pump is None:
            return None
        return {
            "bytes": self.pump.bytes_in,
            "chunks": self.pump.chunks_in,
            "max_backlog": self.pump.max_backlog,
        }

    @property
    def backlog(self) -> int:
        """Bytes read from sockets and not yet parsed."""
        return self.pump.backlog if self.pump is not None else 0

    # ------------------------------------------------------------ SSH

    @staticmethod
    def pool(feed: NodeFeed) -> SSHPool | None:
        """The SSH pool the node's session reads through (None: not over SSH)."""
        ssh = feed.source.access.ssh
        return ssh.pool if ssh is not None else None

    async def ask_babeld(
        self, feed: NodeFeed, prefix: str, src: str, *, read_only: bool
    ) -> WhyReport | str:
        """babeld's own word on a destination (signals babeld: a write action).

        Returns:
            the report, or why babeld could not be asked (read-only mode, no
            babeld behind a recording, an unreachable node) in one line.
        """
        from meshtui.ops.why import ReadOnlyError, TablesError, ask_babeld
        from meshtui.transport.local import ConnectError

        source = feed.source
        pool = None
        if (ssh := source.access.ssh) is not None:
            from meshtui.transport.ssh import SSHPool

            # a pool on this loop (the sessions' pool lives on the pump's loop)
            pool = SSHPool(ssh.pool.settings)
            source = dataclasses.replace(source, access=ssh.with_pool(pool))
        try:
            return await ask_babeld(source, feed.model, prefix, src, read_only=read_only)
        except (ReadOnlyError, TablesError, ConnectError) as exc:
            return str(exc)
        finally:
            if pool is not None:
                await pool.close()

    async def deploy(self, names: list[str], operator: Operator, feed: NodeFeed) -> DeployReport:
        """Deploy the generated config to ``names`` through a pool of this loop's own."""
        from meshtui.ops.deploy import Deployer
        from meshtui.transport.ssh import SSHPool

        # asyncssh connections belong to the loop that opened them: the sessions'
        # pool lives on the socket pump's loop.
        inventory = self.inventory
        shared = self.pool(feed)
        assert inventory is not None and shared is not None  # check_action("deploy")
        pool = SSHPool(shared.settings)
        try:
            return await Deployer(inventory, pool, operator).deploy(names)
        finally:
            await pool.close()

    # ------------------------------------------------------------ probes

    def maybe_probe(self, feed: NodeFeed) -> None:
        """Probe the node's kernel links and WireGuard peers when due (in the app's worker)."""
        run_worker = self._run_worker
        if run_worker is None or feed.is_replay or feed.name in self._probing:
            return  # not started (no app to run the probe), a recording, or a probe running
        facts = self.local.get(feed.name)
        if facts is not None and time.time() - facts.taken_at < PROBE_INTERVAL:
            return
        if not feed.is_local:
            if self.pool(feed) is None:
                return
            self._probing.add(feed.name)
            run_worker(
                self._probe_remote(feed),
                name=f"probe:{feed.name}",
                group="probe",
                description=f"kernel links and WireGuard peers of {feed.label} over SSH",
                exit_on_error=False,
            )
            return
        self._probing.add(feed.name)
        interfaces = set(feed.model.interfaces)
        netns: str | None | bool = facts.netns if facts is not None else False
        run_worker(
            partial(probe_local, feed.target, interfaces, netns),
            name=f"probe:{feed.name}",
            group="probe",
            description=f"kernel links and WireGuard peers for {feed.label}",
            exit_on_error=False,
            thread=True,
        )

    async def _probe_remote(self, feed: NodeFeed) -> LocalFacts:
        """A remote node's links and WireGuard peers, over its SSH connection (read-only).

        Runs on the socket pump's loop, where the node's connection lives.
        """
        from meshtui.transport.facts import fetch_facts

        gather = fetch_facts(feed.source, REMOTE_FACTS, timeout=PROBE_TIMEOUT)
        if self.pump is not None:
            facts = await self.pump.call(gather, timeout=PROBE_TIMEOUT + 5)
        else:
            facts = await gather
        where = f"{feed.name}'s kernel, read over SSH"
        return from_node_facts(facts, set(feed.model.interfaces), where)

    def probed(self, node: str, result: object, error: BaseException | None) -> None:
        """A probe worker ended: keep its facts, or its error as the facts' message."""
        self._probing.discard(node)
        if isinstance(result, LocalFacts):
            self.local[node] = result
        elif error is not None:
            self.local[node] = LocalFacts(links_error=str(error))

    # ------------------------------------------------------------ configs and the mesh

    @property
    def filters_config(self) -> Path | None:
        """``--config FILE``: the config of a local node or a recording."""
        return self._filters_config

    @filters_config.setter
    def filters_config(self, path: Path | None) -> None:
        self._filters_config = path
        self._configs.clear()

    def set_config_source(self, node: str, source: ConfigSource | None) -> None:
        """Read ``node``'s config from ``source`` from now on (None: it has none to show)."""
        self._config_sources[node] = source
        self._configs.pop(node, None)

    def config_source(self, feed: NodeFeed) -> NodeConfig | None:
        """The node's babeld.conf for the Filters view (None: there is nowhere to read it).

        Where it is read from is the node access's to say (an inventory node's
        ``config_path`` over SSH; for a local babeld or a recording,
        :attr:`filters_config`); nothing is read until a view asks
        (:meth:`NodeConfig.read <meshtui.ui.views.base.NodeConfig.read>`).
        """
        name = feed.name
        if name not in self._configs:
            if name in self._config_sources:
                source = self._config_sources[name]
            else:
                source = feed.source.access.config_source(self._filters_config)
            self._configs[name] = None if source is None else self._node_config(feed, source)
        return self._configs[name]

    def _node_config(self, feed: NodeFeed, source: ConfigSource) -> NodeConfig:
        def reader(then: Callable[[], None] | None) -> None:
            self._read_config(feed, source, config, then)

        config = NodeConfig(source.label, reader)
        return config

    def _read_config(
        self,
        feed: NodeFeed,
        source: ConfigSource,
        config: NodeConfig,
        then: Callable[[], None] | None,
    ) -> None:
        """Start reading ``config`` (again) in a worker: read-only, never raises."""
        config.requested = True
        config.loading = True
        if self._run_worker is None:  # not started: there is no app to run the read
            config.loading, config.error = False, "the dashboard has not started"
            return
        token = self._reading[feed.name] = object()
        self._run_worker(
            self._load_config(feed, source, config, token, then),
            name=f"filters-config:{feed.name}",
            group="filters-config",
            description=f"read {source.label} (read-only)",
            exit_on_error=False,
        )

    async def _load_config(
        self,
        feed: NodeFeed,
        source: ConfigSource,
        config: NodeConfig,
        token: object,
        then: Callable[[], None] | None,
    ) -> None:
        """Read and parse the node's config into ``config``; a failure is its ``error``.

        A node read over SSH is read on the socket pump's loop, where its
        connection lives. A later read of the node's config wins over this one.
        """
        version = babeld_version_of(feed.model)
        interfaces = list(feed.model.interfaces)
        loaded: LoadedConfig | None = None
        parsed: ParsedConfig | None = None
        error: str | None = None
        try:
            if self.pump is not None and feed.source.access.ssh is not None:
                loaded = await self.pump.call(source.load(), CONFIG_TIMEOUT)
            else:
                loaded = await source.load()
            if loaded.text is not None:
                parsed = parse_config(
                    loaded.text, loaded.filename, version, extra_interfaces=interfaces
                )
        except Exception as exc:  # noqa: BLE001 - shown on screen, never a traceback
            error = str(exc) or type(exc).__name__
        if self._reading.get(feed.name) is not token:
            return  # read again meanwhile (`c`): that read tells
        del self._reading[feed.name]
        config.loading = False
        config.parsed = parsed
        config.absent = error is None and loaded is not None and loaded.text is None
        config.error = error
        if then is not None:
            then()

    def own_label(self, feed: NodeFeed) -> str | None:
        """What a node calls itself when its own name says nothing: babeld's ``host``."""
        generic = feed.is_replay or feed.name in ("local", "babeld", "babel")
        if self.inventory is not None or not generic:
            return None
        return feed.model.node.host or None

    def learn_names(self) -> None:
        """Names from what the live nodes say (their /128s; babeld's ``host``)."""
        for feed in self.feeds:
            if feed.session.state is SessionState.LIVE:
                self.names.learn(feed.name, feed.session.model, self.own_label(feed))

    def mesh_input(self) -> MeshInput:
        """Every node's model for the Mesh view (None for a node that is not live); names are
        learnt by :meth:`learn_names` (the refresh loop's, at least once a second)."""
        models: dict[str, NodeModel | None] = {}
        errors: dict[str, str] = {}
        states: dict[str, str] = {}  # a reconnecting node with a message is stale, not down
        for feed in self.feeds:
            state = feed.session.state
            states[feed.name] = state.value
            live = state is SessionState.LIVE
            models[feed.name] = feed.session.model if live else None
            if not live:
                errors[feed.name] = feed.session.message or state.value
        return MeshInput(models, self.names, errors=errors, states=states)
