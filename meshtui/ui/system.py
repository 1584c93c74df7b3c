"""Facts for the Interfaces view: kernel links (pyroute2), WireGuard peers.

For a babeld on this machine they are read here; everything that does so
blocks (netlink, a subprocess), and the app calls it from thread workers only.
For a node over SSH, :func:`from_node_facts` shapes what the transport
gathered. Failures come back as one-line messages, never exceptions.
WireGuard key material never leaves :func:`meshtui.core.facts.parse_wg_dump`:
private and preshared keys are dropped as the dump is read, public keys are kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshtui.core.facts import (
    Address,
    FactError,
    Link,
    NodeFacts,
    WgInterface,
    parse_ip_addrs,
    parse_ip_links,
    parse_wg_dump,
)


@dataclass(frozen=True, slots=True)
class KernelLink:
    """A network interface as the kernel sees it."""

    name: str
    index: int
    state: str
    kind: str
    mtu: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WgPeer:
    """One WireGuard peer from ``wg show all dump``.

    Attributes:
        interface: the WireGuard interface.
        public_key: the peer's public key (not a secret).
        endpoint: ``host:port`` or ``(none)``.
        allowed_ips: as wg prints them.
        latest_handshake: epoch seconds, 0 for never.
        rx: bytes received.
        tx: bytes sent.
        keepalive: persistent keepalive in seconds, 0 when off.
    """

    interface: str
    public_key: str
    endpoint: str
    allowed_ips: str
    latest_handshake: int
    rx: int
    tx: int
    keepalive: int


@dataclass(frozen=True, slots=True)
class LocalFacts:
    """What the Interfaces view shows about this machine.

    Attributes:
        links: kernel links of babeld's network namespace (empty with ``links_error``).
        links_error: why the links could not be read, or "".
        namespace: "" for our own network namespace, else a note on which one.
        netns: babeld's network namespace (``/proc/PID/ns/net``), None for ours.
        peers: WireGuard peers (empty with ``peers_error``).
        peers_error: why, or "".
        taken_at: wall-clock time of the probe.
    """

    links: tuple[KernelLink, ...] = ()
    links_error: str = ""
    namespace: str = ""
    netns: str | None = None
    peers: tuple[WgPeer, ...] = ()
    peers_error: str = ""
    taken_at: float = field(default_factory=time.time)


def view_peers(interfaces: Iterable[WgInterface]) -> list[WgPeer]:
    """The Interfaces view's peer rows from parsed WireGuard interfaces (public facts only)."""
    return [
        WgPeer(
            interface=wg.name,
            public_key=peer.public_key,
            endpoint=peer.endpoint or "(none)",
            allowed_ips=",".join(peer.allowed_ips) or "(none)",
            latest_handshake=peer.latest_handshake,
            rx=peer.rx_bytes,
            tx=peer.tx_bytes,
            keepalive=peer.keepalive or 0,
        )
        for wg in interfaces
        for peer in wg.peers
    ]


def wg_peers(timeout: float = 5.0) -> tuple[list[WgPeer], str]:
    """Run ``wg show all dump``; returns (peers, error message or "")."""
    wg = shutil.which("wg")
    if wg is None:
        return [], "wg is not installed"
    try:
        result = subprocess.run(
            [wg, "show", "all", "dump"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"wg show failed: {exc}"
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()
        return [], f"wg show: {message[-1] if message else f'exit status {result.returncode}'}"
    try:
        return view_peers(parse_wg_dump(result.stdout)), ""
    except FactError as exc:
        return [], str(exc)


def _netns_inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def socket_peer_netns(path: str) -> str | None:
    """The network namespace of the process serving a unix socket, when it differs from ours.

    Uses the peer's credentials (SO_PEERCRED) on a short connection; returns
    ``/proc/PID/ns/net`` for a babeld in another namespace, None otherwise.
    """
    from meshtui.transport.tables import socket_peer_pid

    pid = socket_peer_pid(path)
    if pid is None:
        return None
    theirs = f"/proc/{pid}/ns/net"
    mine = _netns_inode("/proc/self/ns/net")
    other = _netns_inode(theirs)
    if other is None or mine is None or other == mine:
        return None
    return theirs


def _links_in(netns: str) -> tuple[list[KernelLink], str]:
    """Another namespace's links and addresses, from ``nsenter --net=NETNS ip -j``.

    Not pyroute2's ``IPRoute(netns=...)``: that forks a helper process, and a
    fork in this threaded process (the socket pump, Textual's threads) can
    deadlock the child before it runs. ``subprocess`` forks and execs in C.
    """
    outputs: list[str] = []
    for argv in (["ip", "-d", "-j", "link", "show"], ["ip", "-j", "addr", "show"]):
        try:
            result = subprocess.run(
                ["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [], f"cannot read the kernel's links of {netns}: {exc}"
        if result.returncode != 0:
            detail = result.stderr.strip() or f"exit status {result.returncode}"
            return [], f"cannot read the kernel's links of {netns}: {detail}"
        outputs.append(result.stdout)
    try:
        return view_links(parse_ip_links(outputs[0]), parse_ip_addrs(outputs[1])), ""
    except FactError as exc:
        return [], f"cannot read the kernel's links of {netns}: {exc}"


def view_links(links: Iterable[Link], addresses: Iterable[Address]) -> list[KernelLink]:
    """The Interfaces view's link rows (by index), each with its addresses."""
    by_name: dict[str, list[str]] = {}
    for addr in addresses:
        by_name.setdefault(addr.interface, []).append(f"{addr.address}/{addr.prefixlen}")
    return [
        KernelLink(
            name=link.name,
            index=link.index,
            state=link.operstate.lower(),
            kind=link.kind or ("loopback" if link.link_type == "loopback" else "-"),
            mtu=link.mtu or 0,
            addresses=tuple(by_name.get(link.name, [])),
        )
        for link in sorted(links, key=lambda link: link.index)
    ]


def babeld_peers(peers: list[WgPeer], interfaces: set[str]) -> list[WgPeer]:
    """The peers on babeld's interfaces (all of them while those are not known yet)."""
    return [p for p in peers if p.interface in interfaces] if interfaces else peers


def kernel_links(netns: str | None = None) -> tuple[list[KernelLink], str]:
    """The kernel's links and addresses (of ``netns``, a path, or our own namespace)."""
    if netns:
        return _links_in(netns)
    from meshtui.transport.facts import gather_local_facts  # pyroute2, this namespace

    facts = gather_local_facts("local", ("links", "addresses"))
    if facts.links is None:
        why = facts.errors.get("links") or facts.unavailable.get("links") or "no answer"
        return [], f"cannot read the kernel's links: {why}"
    return view_links(facts.links, facts.addresses or []), ""


def probe_local(
    target: str | int | None, interfaces: set[str], netns: str | None | bool = False
) -> LocalFacts:
    """Kernel links and WireGuard peers for a babeld on this machine (blocking).

    Args:
        target: babeld's control socket; for a unix socket served from another
            network namespace, that namespace's links are read.
        interfaces: babeld's interface names; WireGuard peers are limited to these
            when any match.
        netns: babeld's namespace from an earlier probe (False: find it, which takes
            one short connection to babeld's socket — one of its four client slots).
    """
    if netns is False:
        netns = socket_peer_netns(target) if isinstance(target, str) else None
    assert netns is None or isinstance(netns, str)
    links, links_error = kernel_links(netns)
    note = ""
    if netns:
        note = f"babeld runs in another network namespace ({netns})"
    peers, peers_error = wg_peers()
    peers = babeld_peers(peers, interfaces)
    return LocalFacts(tuple(links), links_error, note, netns, tuple(peers), peers_error)


def from_node_facts(facts: NodeFacts, interfaces: set[str], where: str) -> LocalFacts:
    """The Interfaces view's facts from facts gathered over a node's SSH connection.

    Args:
        facts: what :func:`meshtui.transport.facts.fetch_facts` gathered.
        interfaces: babeld's interface names (WireGuard peers are limited to these).
        where: the note shown above the kernel table (which node, how).
    """

    def problem(fact: str) -> str:
        return facts.errors.get(fact) or facts.unavailable.get(fact, "")

    links = tuple(view_links(facts.links or [], facts.addresses or []))
    peers = babeld_peers(view_peers(facts.scoped_wireguard() or []), interfaces)
    links_error = "" if facts.links is not None else problem("links") or "no answer"
    peers_error = "" if facts.wireguard is not None else problem("wireguard") or "no answer"
    return LocalFacts(
        links, links_error, where, None, tuple(peers), peers_error, taken_at=facts.time
    )
