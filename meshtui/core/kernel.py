"""Kernel links and WireGuard peers as the Interfaces view shows them (pure).

:class:`LocalFacts` is what the view draws for a node: the rows are shaped
here from facts parsed by :mod:`meshtui.core.facts`, whether they were
gathered on this machine (:mod:`meshtui.transport.probe`) or over a node's
SSH connection. WireGuard key material never leaves
:func:`meshtui.core.facts.parse_wg_dump`: private and preshared keys are
dropped as the dump is read, public keys are kept.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from meshtui.core.facts import Address, Link, NodeFacts, WgInterface


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
