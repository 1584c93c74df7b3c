"""What nodes run, read-only: deployed babeld.conf, config diffs and security-lint facts over SSH.

Nothing here writes to a node. The deployed babeld.conf is read with
:func:`meshtui.transport.config_read.read_remote_file` (SFTP, no shell; where
sshd has no SFTP subsystem, ``cat -- CONFIG_PATH``). Every remote command is an
argv that the node's one SSH connection (:class:`~meshtui.transport.ssh.SSHPool`)
quotes with :func:`shlex.join`::

    ip -j addr show, ip -j -6 route show table all, ip -j -d link show
                                             interface facts (meshtui.transport.facts)
    nft list ruleset                         the host firewall

A missing tool is "not available", never an error. Key values: a deployed
config may hold ``key ... value HEX`` lines; its text lives in fields with
``repr=False``, and :func:`config_diff` masks every key value on both sides
*before* diffing (:mod:`meshtui.core.secrets`, the one masker and diff) — a key
whose value alone differs is reported by name, never by value.

Where the dashboard's Filters view reads a node's config from is the node's
access to say (:meth:`meshtui.transport.node.NodeAccess.config_source`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from meshtui.core.inventory import Node
from meshtui.core.lint import InterfaceFacts, interface_facts_from
from meshtui.core.secrets import key_changes, masked_diff
from meshtui.core.secrets import mask_secrets as mask_keys  # the name callers know
from meshtui.transport.config_read import (
    READ_TIMEOUT,
    RemoteReadError,
    first_line,
    read_remote_file,
    tool_missing,
)
from meshtui.transport.facts import fetch_remote_facts
from meshtui.transport.local import ConnectError
from meshtui.transport.ssh import SSHPool

__all__ = [
    "LINT_FACTS",
    "NFT_ARGV",
    "ConfigDiff",
    "DeployedConfig",
    "LintFacts",
    "NodeResult",
    "RemoteReadError",
    "config_diff",
    "fetch_lint_facts",
    "key_changes",
    "mask_keys",
    "read_deployed_config",
    "read_deployed_configs",
    "read_remote_file",
]

NFT_ARGV = ("nft", "list", "ruleset")
LINT_FACTS = ("addresses", "routes", "links")
"""The facts the security lint needs: addresses, the default route, the interfaces."""


# --------------------------------------------------------------------- reading files


@dataclass(frozen=True)
class DeployedConfig:
    """A node's babeld.conf as read from the node (``text`` None: there is no such file)."""

    node: str
    path: str
    text: str | None = field(repr=False)

    @property
    def exists(self) -> bool:
        return self.text is not None

    @property
    def label(self) -> str:
        """``node:path`` as in messages and diagnostics."""
        return f"{self.node}:{self.path}"


T = TypeVar("T")


@dataclass(frozen=True)
class NodeResult(Generic[T]):
    """The outcome of a read-only fetch from one node: a value, or why there is none."""

    node: str
    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def read_deployed_config(
    pool: SSHPool, node: Node, timeout: float = READ_TIMEOUT
) -> DeployedConfig:
    """The babeld.conf at ``node.config_path`` on the node (read-only).

    Raises:
        ConnectError: the node cannot be reached.
        RemoteReadError: the file cannot be read.
    """
    text = await read_remote_file(pool, node, node.config_path, timeout)
    return DeployedConfig(node.name, node.config_path, text)


async def read_deployed_configs(
    pool: SSHPool, nodes: Iterable[Node], timeout: float = READ_TIMEOUT
) -> list[NodeResult[DeployedConfig]]:
    """Every node's deployed config, concurrently; one result per node, in order."""

    async def one(node: Node) -> NodeResult[DeployedConfig]:
        try:
            return NodeResult(node.name, await read_deployed_config(pool, node, timeout))
        except (ConnectError, RemoteReadError) as exc:
            return NodeResult(node.name, error=str(exc))

    return list(await asyncio.gather(*(one(n) for n in nodes)))


# --------------------------------------------------------------------- diffs


@dataclass(frozen=True)
class ConfigDiff:
    """The deployed config against the generated one, key values masked on both sides."""

    node: str
    path: str
    diff: str  # unified diff of the masked texts ("" when they are the same)
    keys_changed: tuple[str, ...] = ()
    absent: bool = False

    @property
    def identical(self) -> bool:
        return not self.diff and not self.keys_changed and not self.absent

    def render(self) -> str:
        """The diff, then a line per key whose value alone differs."""
        out = self.diff
        for name in self.keys_changed:
            out += (
                f"# {self.node}:{self.path}: key {name}: value differs from the generated one "
                "(values are never shown)\n"
            )
        return out


def config_diff(deployed: DeployedConfig, generated: str, compare_keys: bool = True) -> ConfigDiff:
    """Diff a node's deployed config against ``generated``, masking key values first.

    Args:
        deployed: what the node has.
        generated: what meshtui renders for it.
        compare_keys: also name the keys whose values alone differ (False when
            ``generated`` holds placeholder values).
    """
    keys = tuple(key_changes(deployed.text, generated)) if compare_keys else ()
    text = masked_diff(deployed.text, generated, deployed.label, key_lines=False)
    return ConfigDiff(deployed.node, deployed.path, text, keys, absent=deployed.text is None)


# --------------------------------------------------------------------- lint facts


@dataclass
class LintFacts:
    """What the security lint needs from a node: interface facts and the firewall ruleset.

    ``interfaces`` / ``firewall`` are None when they could not be had; ``notes``
    say why ("not available: nft is not installed").
    """

    node: str
    interfaces: list[InterfaceFacts] | None = None
    firewall: str | None = None
    notes: list[str] = field(default_factory=list)


async def fetch_lint_facts(pool: SSHPool, node: Node, timeout: float = READ_TIMEOUT) -> LintFacts:
    """Interface facts and ``nft list ruleset`` from ``node``, read-only, concurrently.

    Raises:
        ConnectError: the node cannot be reached at all.
    """
    out = LintFacts(node.name)

    async def facts() -> None:
        gathered = await fetch_remote_facts(pool, node, LINT_FACTS, timeout)
        for fact in LINT_FACTS:
            problem = gathered.problem(fact)
            if problem:
                out.notes.append(f"{fact}: {problem}")
        if gathered.addresses is not None or gathered.routes is not None:
            out.interfaces = interface_facts_from(gathered)

    async def firewall() -> None:
        try:
            result = await pool.run(node, NFT_ARGV, timeout=timeout)
        except ConnectError as exc:
            out.notes.append(f"firewall: {exc}")
            return
        if tool_missing(result):
            out.notes.append("firewall: not available: nft is not installed")
        elif result.exit_status != 0:
            detail = first_line(result.stderr) or f"exit status {result.exit_status}"
            out.notes.append(f"firewall: `{result.command}` failed: {detail}")
        else:
            out.firewall = result.stdout

    await pool.connection(node)  # one connect, with its clear errors
    await asyncio.gather(facts(), firewall())
    return out
