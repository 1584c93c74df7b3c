"""What nodes run, read-only: deployed babeld.conf, config diffs and security-lint facts over SSH.

Nothing here writes to a node. The deployed babeld.conf is read through SFTP
(no shell, no command run on the node), or where sshd has no SFTP subsystem
with ``cat -- CONFIG_PATH``. Every remote command is an argv that the node's one
SSH connection (:class:`~meshtui.transport.ssh.SSHPool`) quotes with
:func:`shlex.join`::

    ip -j addr show, ip -j -6 route show table all, ip -j -d link show
                                             interface facts (meshtui.transport.facts)
    nft list ruleset                         the host firewall

A missing tool is "not available", never an error. Key values: a deployed
config may hold ``key ... value HEX`` lines; its text lives in fields with
``repr=False``, and :func:`config_diff` masks every key value on both sides
*before* diffing (:mod:`meshtui.core.secrets`, the one masker and diff) — a key
whose value alone differs is reported by name, never by value.

:func:`config_source_for` gives the dashboard's Filters view a way to load a
node's config: over SSH for an inventory node, from a local file (``--config
FILE``) otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import asyncssh

from meshtui.core.decisions import ConfigSource, LoadedConfig
from meshtui.core.inventory import Node
from meshtui.core.lint import InterfaceFacts, interface_facts_from
from meshtui.core.secrets import key_changes, masked_diff
from meshtui.core.secrets import mask_secrets as mask_keys  # the name callers know
from meshtui.transport.facts import fetch_remote_facts
from meshtui.transport.local import ConnectError
from meshtui.transport.sources import Source
from meshtui.transport.ssh import CommandResult, SSHPool, destination_of

__all__ = [
    "LINT_FACTS",
    "MAX_CONFIG_BYTES",
    "NFT_ARGV",
    "ConfigDiff",
    "ConfigSource",
    "DeployedConfig",
    "FileConfigSource",
    "LintFacts",
    "LoadedConfig",
    "NodeResult",
    "RemoteReadError",
    "SSHConfigSource",
    "config_diff",
    "config_source_for",
    "fetch_lint_facts",
    "key_changes",
    "mask_keys",
    "read_deployed_config",
    "read_deployed_configs",
    "read_remote_file",
]

MAX_CONFIG_BYTES = 1 << 20
READ_TIMEOUT = 15.0
NFT_ARGV = ("nft", "list", "ruleset")
LINT_FACTS = ("addresses", "routes", "links")
"""The facts the security lint needs: addresses, the default route, the interfaces."""

_NOT_FOUND = ("command not found", "not found")


class RemoteReadError(Exception):
    """A read-only fetch failed; the message names the node and the path or command."""


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


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _tool_missing(result: CommandResult) -> bool:
    if result.exit_status == 127:
        return True
    line = _first_line(result.stderr)
    tool = result.argv[0] if result.argv else ""
    return (
        result.exit_status not in (0, None)
        and not result.stdout
        and tool in line
        and any(s in line for s in _NOT_FOUND)
    )


async def _sftp_read(pool: SSHPool, node: Node, path: str, timeout: float) -> str | None:
    """The file through SFTP (no shell on the node); raises _NoSFTP when SFTP is unavailable."""
    conn = await pool.connection(node)
    try:
        sftp = await asyncio.wait_for(conn.start_sftp_client(), timeout)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        if conn.is_closed():
            raise ConnectError(f"{node.name}: SSH connection lost: {exc}", "ssh") from None
        raise _NoSFTP(str(exc) or type(exc).__name__) from None
    try:
        async with asyncio.timeout(timeout):
            try:
                attrs = await sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            if attrs.size is not None and attrs.size > MAX_CONFIG_BYTES:
                raise RemoteReadError(
                    f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes: "
                    "not a babeld.conf"
                )
            async with sftp.open(path, "rb") as f:
                data: bytes = await f.read(MAX_CONFIG_BYTES + 1)
    except TimeoutError:
        raise ConnectError(
            f"{node.name}: reading {path} took over {timeout:g} s", "timeout"
        ) from None
    except asyncssh.SFTPError as exc:
        if conn.is_closed():
            raise ConnectError(f"{node.name}: SSH connection lost: {exc.reason}", "ssh") from None
        raise RemoteReadError(f"{node.name}: cannot read {path}: {exc.reason}") from None
    finally:
        sftp.exit()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sftp.wait_closed(), 2.0)
    if len(data) > MAX_CONFIG_BYTES:
        raise RemoteReadError(f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes")
    return bytes(data).decode("utf-8", "replace")


class _NoSFTP(Exception):
    """The node's sshd offers no SFTP subsystem."""


async def _cat_read(pool: SSHPool, node: Node, path: str, timeout: float) -> str | None:
    result = await pool.run(node, ("cat", "--", path), timeout=timeout)
    if result.exit_status == 0:
        if len(result.stdout.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
            raise RemoteReadError(
                f"{node.name}: {path} is larger than {MAX_CONFIG_BYTES} bytes: not a babeld.conf"
            )
        return result.stdout
    detail = _first_line(result.stderr) or f"exit status {result.exit_status}"
    if _tool_missing(result):
        raise RemoteReadError(f"{node.name}: cannot read {path}: no SFTP and no cat on the node")
    if "No such file or directory" in detail:
        return None
    detail = detail.removeprefix("cat: ").removeprefix(f"{path}: ")
    raise RemoteReadError(f"{node.name}: cannot read {path}: {detail}")


async def read_remote_file(
    pool: SSHPool, node: Node, path: str, timeout: float = READ_TIMEOUT
) -> str | None:
    """The text of ``path`` on ``node``, read-only; None when the file does not exist.

    Read through SFTP (no shell, no command on the node); where sshd offers no
    SFTP subsystem, through ``cat -- PATH`` (an argv quoted with shlex.join).

    Raises:
        ConnectError: the node cannot be reached (host key, auth, timeout...).
        RemoteReadError: the file exists but cannot be read, or is too large.
    """
    try:
        return await _sftp_read(pool, node, path, timeout)
    except _NoSFTP:
        return await _cat_read(pool, node, path, timeout)


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
        if _tool_missing(result):
            out.notes.append("firewall: not available: nft is not installed")
        elif result.exit_status != 0:
            detail = _first_line(result.stderr) or f"exit status {result.exit_status}"
            out.notes.append(f"firewall: `{result.command}` failed: {detail}")
        else:
            out.firewall = result.stdout

    await pool.connection(node)  # one connect, with its clear errors
    await asyncio.gather(facts(), firewall())
    return out


# --------------------------------------------------------------------- config sources


@dataclass(frozen=True)
class FileConfigSource:
    """A babeld.conf on this machine (the dashboard's ``--config FILE``)."""

    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    async def load(self) -> LoadedConfig:
        """Read the file in a worker thread.

        Raises:
            RemoteReadError: the file cannot be read.
        """

        def read() -> str | None:
            try:
                if self.path.stat().st_size > MAX_CONFIG_BYTES:
                    raise RemoteReadError(f"{self.path}: larger than {MAX_CONFIG_BYTES} bytes")
                return self.path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise RemoteReadError(f"cannot read {self.path}: {exc.strerror or exc}") from None

        text = await asyncio.to_thread(read)
        return LoadedConfig(self.label, str(self.path), text)


@dataclass(frozen=True)
class SSHConfigSource:
    """A node's deployed babeld.conf, read over its SSH connection."""

    pool: SSHPool = field(repr=False)
    node: Node

    @property
    def label(self) -> str:
        return f"ssh {destination_of(self.node).label}:{self.node.config_path}"

    async def load(self) -> LoadedConfig:
        """Read the config over SSH.

        Raises:
            RemoteReadError: the node cannot be reached, or the file cannot be read.
        """
        try:
            deployed = await read_deployed_config(self.pool, self.node)
        except ConnectError as exc:
            raise RemoteReadError(str(exc)) from None
        return LoadedConfig(self.label, deployed.label, deployed.text)


def config_source_for(source: Source, config_file: Path | None = None) -> ConfigSource | None:
    """How to read the config of the node ``source`` reads.

    An inventory node reached over SSH: its ``config_path`` on the node. Any other
    node (local socket, replay): ``config_file`` when given, else None (not shown).
    """
    ssh = source.access.ssh
    if ssh is not None:
        return SSHConfigSource(ssh.pool, ssh.inventory_node)
    if config_file is not None:
        return FileConfigSource(Path(config_file))
    return None
