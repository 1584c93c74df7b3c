"""Gathering facts beyond babeld: over a node's SSH connection, or here through pyroute2.

Remote facts come from read-only commands run through the node's one SSH
connection (the pool's), each an argv quoted with :func:`shlex.join`, all in
one session (one shell start on the node, see :func:`batch_script`)::

    ip -j -6 route show table all      ip -j -d link show      ip -j addr show
    wg show all dump                   systemctl is-active babeld
    journalctl -u babeld -n 50 --no-pager -o short-iso

Local facts read the same through pyroute2 (routes, links, addresses) and
run ``wg``, ``systemctl`` and ``journalctl`` as argv (no shell). Inside another
network namespace, every fact is the command above run with ``ip netns exec``:
pyroute2's ``NetNS`` forks a helper, which can deadlock in a threaded process.
A tool that is missing, or a service manager that is not running, is reported
as "not available", never as an error.
Parsing is pure and lives in :mod:`meshtui.core.facts`.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any

from meshtui.core.facts import (
    FACT_NAMES,
    Address,
    FactError,
    FactName,
    KernelRoute,
    Link,
    NodeFacts,
    normalise_prefix,
    parse_ip_addrs,
    parse_ip_links,
    parse_ip_routes,
    parse_journal,
    parse_service_state,
    parse_wg_dump,
    route_protocol_name,
    route_table_name,
    route_type_name,
)
from meshtui.core.inventory import Node
from meshtui.transport.local import ConnectError
from meshtui.transport.sources import Source
from meshtui.transport.ssh import CommandResult, SSHPool

__all__ = [
    "COMMANDS",
    "batch_script",
    "fetch_facts",
    "fetch_local_facts",
    "fetch_remote_facts",
    "gather_local_facts",
    "interpret",
    "split_batch",
]

COMMANDS: dict[str, tuple[str, ...]] = {
    FactName.ROUTES.value: ("ip", "-j", "-6", "route", "show", "table", "all"),
    FactName.LINKS.value: ("ip", "-j", "-d", "link", "show"),
    FactName.ADDRESSES.value: ("ip", "-j", "addr", "show"),
    FactName.WIREGUARD.value: ("wg", "show", "all", "dump"),
    FactName.SERVICE.value: ("systemctl", "is-active", "babeld"),
    FactName.LOG.value: ("journalctl", "-u", "babeld", "-n", "50", "--no-pager", "-o", "short-iso"),
}
"""The read-only command behind each fact (the same remotely and locally)."""

COMMAND_TIMEOUT = 10.0

_NOT_FOUND = ("command not found", "No such file or directory", "not found")
_NO_SYSTEMD = (
    "System has not been booted with systemd",
    "Failed to connect to bus",
    "Failed to get D-Bus connection",
)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def interpret(fact: str, result: CommandResult, facts: NodeFacts) -> None:
    """Store what ``result`` says about ``fact`` in ``facts`` (value, unavailable or error)."""
    tool = result.argv[0] if result.argv else "?"
    stderr = result.stderr
    if result.exit_status == 127 or (
        result.exit_status not in (0, None) and not result.stdout and _missing_tool(stderr, tool)
    ):
        facts.unavailable[fact] = f"not available: {tool} is not installed"
        return
    try:
        if fact == FactName.SERVICE.value:
            state = parse_service_state(result.stdout, stderr)
            if state is not None:
                facts.service = state
            elif any(s in stderr for s in _NO_SYSTEMD):
                facts.unavailable[fact] = "not available: systemd is not running"
            else:
                facts.unavailable[fact] = f"not available: {_first_line(stderr) or 'no answer'}"
            return
        if result.exit_status != 0:
            detail = _first_line(stderr) or f"exit status {result.exit_status}"
            if fact in (FactName.WIREGUARD.value, FactName.LOG.value):
                facts.unavailable[fact] = f"not available: {detail}"
            else:
                facts.errors[fact] = f"`{result.command}`: {detail}"
            return
        if fact == FactName.ROUTES.value:
            facts.routes = parse_ip_routes(result.stdout)
        elif fact == FactName.LINKS.value:
            facts.links = parse_ip_links(result.stdout)
        elif fact == FactName.ADDRESSES.value:
            facts.addresses = parse_ip_addrs(result.stdout)
        elif fact == FactName.WIREGUARD.value:
            facts.wireguard = parse_wg_dump(result.stdout)
        elif fact == FactName.LOG.value:
            facts.log = parse_journal(result.stdout)
    except FactError as exc:
        facts.errors[fact] = str(exc)


def _missing_tool(stderr: str, tool: str) -> bool:
    line = _first_line(stderr)
    return tool in line and any(s in line for s in _NOT_FOUND)


def _wanted(facts: Iterable[str] | None) -> list[str]:
    names = list(FACT_NAMES if facts is None else facts)
    unknown = [f for f in names if f not in COMMANDS]
    if unknown:
        raise ValueError(f"unknown fact(s) {', '.join(unknown)}; known: {', '.join(FACT_NAMES)}")
    return names


def batch_script(facts: Iterable[str], nonce: str) -> str:
    """One POSIX sh script running each fact's command (an argv quoted with shlex.join).

    Each command's stdout passes through; its stderr and exit status follow it,
    between lines starting with ``nonce``. The script only prints: it writes
    nothing on the node.
    """
    lines = ["exec 3>&1"]
    for fact in facts:
        command = shlex.join(COMMANDS[fact])
        lines += [
            f"printf '%s begin %s\\n' {nonce} {fact}",
            f"err=$( {{ {command} 1>&3 3>&-; }} 2>&1 ); rc=$?",
            f"printf '\\n%s stderr %s %s\\n' {nonce} {fact} \"$rc\"",
            "printf '%s' \"$err\"",
            f"printf '\\n%s end %s\\n' {nonce} {fact}",
        ]
    return "\n".join(lines) + "\n"


def split_batch(output: str, nonce: str) -> dict[str, CommandResult]:
    """The per-fact results in the output of :func:`batch_script`."""
    out: dict[str, CommandResult] = {}
    fact = ""
    part = ""
    status: int | None = None
    chunks: dict[str, list[str]] = {"stdout": [], "stderr": []}
    for line in output.splitlines(keepends=True):
        if line.startswith(nonce + " "):
            words = line.split()
            if len(words) >= 3 and words[1] == "begin":
                fact, part, status = words[2], "stdout", None
                chunks = {"stdout": [], "stderr": []}
                continue
            if len(words) >= 4 and words[1] == "stderr" and words[2] == fact:
                part = "stderr"
                status = int(words[3]) if words[3].isdigit() else None
                continue
            if len(words) >= 3 and words[1] == "end" and words[2] == fact and fact in COMMANDS:
                stdout = "".join(chunks["stdout"])
                stderr = "".join(chunks["stderr"])
                out[fact] = CommandResult(
                    COMMANDS[fact],
                    status,
                    stdout[:-1] if stdout.endswith("\n") else stdout,
                    stderr[:-1] if stderr.endswith("\n") else stderr,
                )
                fact, part = "", ""
                continue
        if part:
            chunks[part].append(line)
    return out


async def fetch_remote_facts(
    pool: SSHPool,
    node: Node,
    facts: Iterable[str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> NodeFacts:
    """Run the fact commands on ``node`` through its SSH connection, in one session.

    One session (one shell start on the node) runs every command in turn, see
    :func:`batch_script`; a fact whose command cannot run is "not available".

    Raises:
        ConnectError: the node could not be reached at all.
    """
    names = _wanted(facts)
    await pool.connection(node)  # one connect for all commands, with its clear errors
    out = NodeFacts(node=node.name, time=clock())
    nonce = f"@@meshtui-{secrets.token_hex(6)}"
    try:
        result = await pool.run(node, ("sh", "-c", batch_script(names, nonce)), timeout=timeout)
    except ConnectError as exc:
        for fact in names:
            out.errors[fact] = str(exc)
        return out
    results = split_batch(result.stdout, nonce)
    for fact in names:
        if fact in results:
            interpret(fact, results[fact], out)
        else:
            detail = _first_line(result.stderr) or f"exit status {result.exit_status}"
            out.errors[fact] = f"`{shlex.join(COMMANDS[fact])}` did not run: {detail}"
    return out


# ------------------------------------------------------------------ local

_IFF = {
    0x1: "UP",
    0x2: "BROADCAST",
    0x8: "LOOPBACK",
    0x10: "POINTOPOINT",
    0x80: "NOARP",
    0x100: "PROMISC",
    0x200: "ALLMULTI",
    0x400: "MASTER",
    0x800: "SLAVE",
    0x1000: "MULTICAST",
    0x10000: "LOWER_UP",
    0x20000: "DORMANT",
}
_LINK_TYPES = {1: "ether", 772: "loopback", 776: "sit", 65534: "none", 768: "ipip", 769: "tunnel6"}
_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def _flag_names(flags: int) -> tuple[str, ...]:
    return tuple(sorted(name for bit, name in _IFF.items() if flags & bit))


def _routes_from_netlink(records: Iterable[Any], names: dict[int, str]) -> list[KernelRoute]:
    out = []
    for r in records:
        dst = r.get_attr("RTA_DST")
        src = r.get_attr("RTA_SRC")
        oif = r.get_attr("RTA_OIF")
        gateway = r.get_attr("RTA_GATEWAY")
        if gateway is None:
            multipath = r.get_attr("RTA_MULTIPATH")
            if multipath:
                hop = multipath[0]
                gateway = hop.get_attr("RTA_GATEWAY")
                oif = oif or hop.get("oif")
        table = r.get_attr("RTA_TABLE") or r["table"]
        out.append(
            KernelRoute(
                prefix=normalise_prefix(dst or "default", r["dst_len"]),
                type=route_type_name(r["type"]),
                gateway=gateway,
                dev=names.get(oif) if oif is not None else None,
                protocol=route_protocol_name(r["proto"]),
                table=route_table_name(table),
                metric=r.get_attr("RTA_PRIORITY"),
                src=normalise_prefix(src, r["src_len"]) if src else "::/0",
            )
        )
    return out


def _links_from_netlink(records: Iterable[Any]) -> list[Link]:
    out = []
    for x in records:
        info = x.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        out.append(
            Link(
                name=x.get_attr("IFLA_IFNAME"),
                index=x["index"],
                kind=kind,
                link_type=_LINK_TYPES.get(x["ifi_type"], str(x["ifi_type"])),
                operstate=x.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
                flags=_flag_names(x["flags"]),
                mtu=x.get_attr("IFLA_MTU"),
                mac=x.get_attr("IFLA_ADDRESS"),
            )
        )
    return out


def _addrs_from_netlink(records: Iterable[Any], names: dict[int, str]) -> list[Address]:
    out = []
    for a in records:
        address = a.get_attr("IFA_ADDRESS") or a.get_attr("IFA_LOCAL")
        if address is None:
            continue
        family = "inet6" if a["family"] == socket.AF_INET6 else "inet"
        out.append(
            Address(
                interface=names.get(a["index"], str(a["index"])),
                address=address,
                prefixlen=a["prefixlen"],
                scope=_SCOPES.get(a["scope"], str(a["scope"])),
                family=family,
            )
        )
    return out


def _netlink_facts(out: NodeFacts, names: list[str]) -> None:
    """Routes, links and addresses of this process's own namespace, over netlink."""
    wanted = {FactName.ROUTES.value, FactName.LINKS.value, FactName.ADDRESSES.value} & set(names)
    if not wanted:
        return
    try:
        from pyroute2 import IPRoute
    except ImportError:
        for fact in wanted:
            out.unavailable[fact] = "not available: pyroute2 is not installed"
        return
    try:
        ipr = IPRoute()
    except Exception as exc:  # noqa: BLE001 - pyroute2 raises many kinds; reported, not raised
        for fact in wanted:
            out.errors[fact] = f"netlink: {exc}"
        return
    try:
        links = list(ipr.get_links())
        index = {x["index"]: x.get_attr("IFLA_IFNAME") for x in links}
        if FactName.LINKS.value in wanted:
            out.links = _links_from_netlink(links)
        if FactName.ROUTES.value in wanted:
            out.routes = _routes_from_netlink(ipr.route("dump", family=socket.AF_INET6), index)
        if FactName.ADDRESSES.value in wanted:
            out.addresses = _addrs_from_netlink(ipr.get_addr(), index)
    except Exception as exc:  # noqa: BLE001 - as above
        for fact in wanted:
            if getattr(out, fact) is None:
                out.errors[fact] = f"netlink: {exc}"
    finally:
        ipr.close()


def _run_local(argv: tuple[str, ...], netns: str | None, timeout: float) -> CommandResult:
    if shutil.which(argv[0]) is None:
        return CommandResult(argv, 127, "", f"{argv[0]}: command not found")
    full = ("ip", "netns", "exec", netns, *argv) if netns else argv
    try:
        proc = subprocess.run(
            list(full), capture_output=True, text=True, timeout=timeout, errors="replace",
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return CommandResult(argv, None, "", f"timed out after {timeout:g} s")
    except OSError as exc:
        return CommandResult(argv, 126, "", f"{argv[0]}: {exc.strerror or exc}")
    return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)


def gather_local_facts(
    node: str = "local",
    facts: Iterable[str] | None = None,
    *,
    netns: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> NodeFacts:
    """The facts of this machine (or of network namespace ``netns``); blocking.

    Routes, links and addresses come through pyroute2 (``ip -j`` inside
    ``netns``); WireGuard, the service state and the log through ``wg``,
    ``systemctl`` and ``journalctl`` run as argv.
    """
    names = _wanted(facts)
    out = NodeFacts(node=node, time=time.time())
    if netns is None:
        _netlink_facts(out, names)
    for fact in names:
        netlink = (FactName.ROUTES.value, FactName.LINKS.value, FactName.ADDRESSES.value)
        if netns is None and fact in netlink:
            continue
        interpret(fact, _run_local(COMMANDS[fact], netns, timeout), out)
    return out


async def fetch_local_facts(
    node: str = "local",
    facts: Iterable[str] | None = None,
    *,
    netns: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> NodeFacts:
    """:func:`gather_local_facts` in a worker thread."""
    return await asyncio.to_thread(gather_local_facts, node, facts, netns=netns, timeout=timeout)


async def fetch_facts(
    source: Source, facts: Iterable[str] | None = None, timeout: float = COMMAND_TIMEOUT
) -> NodeFacts:
    """The facts of the node a source reads: over its SSH connection, or locally.

    Raises:
        ConnectError: an SSH node could not be reached.
        ValueError: a replay source (a recording has no facts).
    """
    if source.replay is not None:
        raise ValueError(f"{source.label}: a recording has no kernel facts")
    return await source.access.facts(source.name, source.label, facts, timeout)
