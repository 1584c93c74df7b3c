"""How a node is reached, typed: :class:`NodeAccess` for a local socket, SSH and a replay.

A :class:`~meshtui.transport.sources.Source` opens a node's stream; its
:class:`NodeAccess` says what else the node offers — the inventory node and its
SSH connection, the local control socket, the names a recording carries, the
hello intervals its config sets — gathers its kernel facts and says where its
babeld.conf is read from (:meth:`NodeAccess.config_source`: the inventory
node's ``config_path`` over SSH, else the file given with ``--config FILE``).
Capabilities ask ``source.access.ssh`` (an :class:`SSHAccess` or None) instead
of looking keys up in a dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from meshtui.core.facts import NodeFacts
from meshtui.core.inventory import Inventory, Node

if TYPE_CHECKING:  # asyncssh is imported only when a node is reached over SSH
    from meshtui.core.decisions import ConfigSource
    from meshtui.transport.held import HeldReplay
    from meshtui.transport.ssh import SSHDestination, SSHPool


@dataclass(kw_only=True)
class NodeAccess:
    """A node reached only through its stream; the base of the other kinds.

    Attributes:
        hello: hello intervals its babeld.conf sets, per interface (``"*"``: every
            interface), from an inventory; the model's configured ones.
    """

    hello: dict[str, float] = field(default_factory=dict)

    @property
    def ssh(self) -> SSHAccess | None:
        """The node's SSH access, for a node reached over SSH."""
        return None

    @property
    def local_target(self) -> str | int | None:
        """The control socket on this machine (path or port), for a local node."""
        return None

    @property
    def held(self) -> HeldReplay | None:
        """The replay that holds on its last state, for a dashboard replay."""
        return None

    @property
    def inventory(self) -> Inventory | None:
        """The inventory the node comes from, when it is read over SSH."""
        return None

    @property
    def node(self) -> Node | None:
        """The inventory node, when it is read over SSH."""
        return None

    @property
    def names(self) -> Mapping[str, str]:
        """Names a recording carries (its header's ``names=`` field)."""
        return {}

    async def facts(
        self,
        name: str,
        label: str,
        facts: Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> NodeFacts:
        """The node's kernel facts, gathered on this machine (``timeout``: per command).

        Raises:
            ValueError: the node has no kernel to inspect (a recording).
        """
        from meshtui.transport.facts import COMMAND_TIMEOUT, fetch_local_facts

        return await fetch_local_facts(name, facts, timeout=timeout or COMMAND_TIMEOUT)

    def config_source(self, config_file: Path | str | None = None) -> ConfigSource | None:
        """Where the node's babeld.conf is read from, read-only (None: nowhere).

        A node reached only through its stream (a local socket, a recording) has
        no config of its own to point at: ``config_file`` (the dashboard's
        ``--config FILE``) when given.
        """
        from meshtui.transport.config_read import FileConfigSource

        return FileConfigSource(Path(config_file)) if config_file is not None else None


@dataclass(kw_only=True)
class LocalAccess(NodeAccess):
    """A babeld control socket on this machine (a unix path or a TCP port on ::1)."""

    target: str | int

    @property
    def local_target(self) -> str | int | None:
        return self.target


@dataclass(kw_only=True)
class SSHAccess(NodeAccess):
    """An inventory node read over SSH, through a shared :class:`~meshtui.transport.ssh.SSHPool`."""

    pool: SSHPool = field(repr=False)
    inventory_node: Node
    from_inventory: Inventory = field(repr=False)
    destination: SSHDestination

    @property
    def ssh(self) -> SSHAccess | None:
        return self

    @property
    def inventory(self) -> Inventory | None:
        return self.from_inventory

    @property
    def node(self) -> Node | None:
        return self.inventory_node

    def with_pool(self, pool: SSHPool) -> SSHAccess:
        """The same node through another pool (one owned by another event loop)."""
        return dataclasses.replace(self, pool=pool)

    async def facts(
        self,
        name: str,
        label: str,
        facts: Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> NodeFacts:
        """The node's kernel facts, over its SSH connection.

        Raises:
            ConnectError: the node could not be reached.
        """
        from meshtui.transport.facts import COMMAND_TIMEOUT, fetch_remote_facts

        return await fetch_remote_facts(
            self.pool, self.inventory_node, facts, timeout or COMMAND_TIMEOUT
        )

    def config_source(self, config_file: Path | str | None = None) -> ConfigSource | None:
        """The node's ``config_path``, read over its pool (``config_file`` is not this node's).

        The pool's connections belong to the loop that opened them: load it there.
        """
        from meshtui.transport.config_read import SSHConfigSource

        return SSHConfigSource(self.pool, self.inventory_node)


@dataclass(kw_only=True)
class ReplayAccess(NodeAccess):
    """A recording: no kernel behind it; the names its recorder knew."""

    recorded: dict[str, str] = field(default_factory=dict)
    holding: HeldReplay | None = None

    @property
    def names(self) -> Mapping[str, str]:
        return self.recorded

    @property
    def held(self) -> HeldReplay | None:
        return self.holding

    async def facts(
        self,
        name: str,
        label: str,
        facts: Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> NodeFacts:
        raise ValueError(f"{label}: a recording has no kernel facts")
