"""The lab's topology as plain data: names, namespaces, interfaces and addresses.

Pure (no I/O): everything here is derived from a lab id, a random ULA /48 and a
`LabConfig`, so another process can rebuild the same topology from the lab's
state file. Every kernel-visible name that could collide between labs running
at once carries the lab id: namespaces (``mtl-<id>-<node>``), root-namespace
veths (``mt<id>m<n>``) and WireGuard interfaces (``w<id>e<site><k>`` on edges,
``w<id>r<k><site>`` on relays; their control sockets in /var/run/wireguard are
shared by every namespace). All names stay within the 15 characters Linux allows.

Address plan inside the lab's ``fdXX:XXXX:XXXX::/48``:

* ``::/64`` (subnet 0) is the mesh prefix; edges hold ``::ee:S``, relays
  ``::ff:K``, servers ``::S:J`` (site number S, relay number K, server J), each
  as a /128 on ``lo`` in their namespace.
* subnet ``0x1000 + 16*S + K``: the underlay veth between edge S and relay K
  (edge ``::1``, relay ``::2``) that carries the WireGuard UDP packets.
* subnet ``0x2000 + N``: the management veth of node number N, root side ``::1``,
  node side ``::2`` (sshd listens there).
* WireGuard interfaces use link-local addresses only: ``fe80::ee:S`` on the edge
  side, ``fe80::ff:K`` on the relay side; LANs use ``fe80::ee:S`` (edge bridge)
  and ``fe80::S:J`` (server).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

__all__ = [
    "LAB_ID_RE",
    "LAN_IF",
    "MGMT_IF",
    "MAX_RELAYS",
    "MAX_SERVERS",
    "MAX_SITES",
    "LabConfig",
    "LabNode",
    "Topology",
    "TunnelEnd",
    "Underlay",
    "build_topology",
    "namespace_name",
    "relay_rxcost",
    "render_inventory",
]

LAB_ID_RE = re.compile(r"^[0-9a-f]{6}$")
NS_PREFIX = "mtl-"
LAN_IF = "lan0"  # the LAN interface babeld runs on: a bridge on edges, a veth on servers
MGMT_IF = "mgmt0"  # the node side of the management veth
MAX_SITES = 26
MAX_RELAYS = 9
MAX_SERVERS = 9
WG_PORT_EDGE = 51820  # + relay number, in the edge's namespace
WG_PORT_RELAY = 51900  # + site number, in the relay's namespace
BASE_RXCOST = 96  # babeld's default rxcost on wired and tunnel links


@dataclass(frozen=True)
class LabConfig:
    """The parameters of a lab: how many of each node, and how fast babeld talks."""

    sites: int = 2
    relays: int = 2
    servers_per_site: int = 1
    hello: float = 1.0

    def problems(self) -> list[str]:
        """Return what is wrong with these parameters (empty when they are usable)."""
        out = []
        if not 1 <= self.sites <= MAX_SITES:
            out.append(f"sites must be 1–{MAX_SITES}, not {self.sites}")
        if not 1 <= self.relays <= MAX_RELAYS:
            out.append(f"relays must be 1–{MAX_RELAYS}, not {self.relays}")
        if not 1 <= self.servers_per_site <= MAX_SERVERS:
            out.append(f"servers per site must be 1–{MAX_SERVERS}, not {self.servers_per_site}")
        if not 0.01 <= self.hello <= 655.35 or round(self.hello, 3) != self.hello:
            out.append(f"hello must be 0.01–655.35 s with at most 3 decimals, not {self.hello}")
        return out


@dataclass(frozen=True)
class TunnelEnd:
    """One end of a WireGuard tunnel between an edge and a relay."""

    interface: str  # unique on the machine (wireguard-go's socket name)
    peer: str  # node at the other end
    listen_port: int
    link_local: IPv6Address
    peer_link_local: IPv6Address
    endpoint: IPv6Address  # the peer's underlay address
    rxcost: int | None  # None: babeld's default


@dataclass(frozen=True)
class Underlay:
    """The veth between an edge and a relay namespace that carries WireGuard's UDP."""

    edge: str
    relay: str
    edge_if: str
    relay_if: str
    network: IPv6Network

    @property
    def edge_address(self) -> IPv6Address:
        return self.network.network_address + 1

    @property
    def relay_address(self) -> IPv6Address:
        return self.network.network_address + 2


@dataclass(frozen=True)
class LabNode:
    """One node of the lab: a namespace running babeld and sshd."""

    name: str
    role: str  # server | edge | relay
    site: str | None  # the *home* site of a server (roaming changes the live one)
    index: int  # position in Topology.nodes; numbers the management veth
    namespace: str
    address: IPv6Address  # the /128 on lo
    mgmt_root_if: str  # root-namespace end of the management veth
    mgmt_network: IPv6Network
    lan_link_local: IPv6Address | None = None
    tunnels: tuple[TunnelEnd, ...] = ()

    @property
    def mgmt_root_address(self) -> IPv6Address:
        return self.mgmt_network.network_address + 1

    @property
    def mgmt_address(self) -> IPv6Address:
        """Where this node's sshd listens (reachable from the root namespace)."""
        return self.mgmt_network.network_address + 2

    @property
    def has_lan(self) -> bool:
        return self.role in ("server", "edge")

    @property
    def interfaces(self) -> tuple[str, ...]:
        """The interfaces babeld runs on, LAN first."""
        names = [LAN_IF] if self.has_lan else []
        names.extend(t.interface for t in self.tunnels)
        return tuple(names)


@dataclass(frozen=True)
class Topology:
    """The whole lab: nodes in a stable order (relays, then per site the edge and servers)."""

    lab_id: str
    config: LabConfig
    ula: IPv6Network  # the lab's /48
    nodes: tuple[LabNode, ...]
    underlays: tuple[Underlay, ...]
    sites: tuple[str, ...]
    by_name: dict[str, LabNode] = field(default_factory=dict, compare=False, repr=False)

    @property
    def prefix(self) -> IPv6Network:
        """The mesh /64 every node's /128 comes from."""
        return next(self.ula.subnets(new_prefix=64))

    def node(self, name: str) -> LabNode:
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(n.name for n in self.nodes)
            raise KeyError(f"no lab node named {name!r} (nodes: {known})") from None

    def role(self, role: str) -> list[LabNode]:
        return [n for n in self.nodes if n.role == role]

    def edge_of(self, site: str) -> LabNode:
        return self.node(f"edge-{site}")

    def servers_of(self, site: str) -> list[LabNode]:
        return [n for n in self.nodes if n.role == "server" and n.site == site]

    def mgmt_root_ifs(self) -> list[str]:
        return [n.mgmt_root_if for n in self.nodes]

    def wg_interfaces(self) -> list[str]:
        return [t.interface for n in self.nodes for t in n.tunnels]

    def relay_by_interface(self, node: str, interface: str) -> str | None:
        """Which node is at the other end of ``interface`` on ``node`` (tunnels only)."""
        for t in self.node(node).tunnels:
            if t.interface == interface:
                return t.peer
        return None


def namespace_name(lab_id: str, node: str) -> str:
    return f"{NS_PREFIX}{lab_id}-{node}"


def relay_rxcost(k: int) -> int | None:
    """The rxcost an edge sets on its tunnel to relay ``k``: relay 1 is the primary.

    Relay 1 keeps babeld's default (96); relay 2 costs 192, relay 3 288, ... so
    the order of preference is deterministic.
    """
    return None if k == 1 else BASE_RXCOST * k


def site_names(count: int) -> tuple[str, ...]:
    return tuple(string.ascii_lowercase[:count])


def _subnet(ula: IPv6Network, number: int) -> IPv6Network:
    base = int(ula.network_address) + (number << 64)
    return IPv6Network((base, 64))


def build_topology(lab_id: str, ula: IPv6Network, config: LabConfig) -> Topology:
    """Derive every name and address of a lab from its id, its /48 and its parameters."""
    if not LAB_ID_RE.match(lab_id):
        raise ValueError(f"lab id must be 6 lowercase hex digits, not {lab_id!r}")
    if ula.prefixlen != 48 or not ula.subnet_of(IPv6Network("fd00::/8")):
        raise ValueError(f"lab range must be a /48 under fd00::/8, not {ula}")
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    mesh = int(_subnet(ula, 0).network_address)
    sites = site_names(config.sites)
    relays = range(1, config.relays + 1)

    def wg_edge(site: str, k: int) -> str:
        return f"w{lab_id}e{site}{k}"

    def wg_relay(k: int, site: str) -> str:
        return f"w{lab_id}r{k}{site}"

    underlays = []
    for s, site in enumerate(sites, start=1):
        for k in relays:
            underlays.append(
                Underlay(
                    edge=f"edge-{site}",
                    relay=f"relay-{k}",
                    edge_if=f"u-r{k}",
                    relay_if=f"u-{site}",
                    network=_subnet(ula, 0x1000 + 16 * s + k),
                )
            )

    def underlay(site: str, k: int) -> Underlay:
        return next(u for u in underlays if u.edge == f"edge-{site}" and u.relay == f"relay-{k}")

    specs: list[dict] = []
    for k in relays:
        tunnels = tuple(
            TunnelEnd(
                interface=wg_relay(k, site),
                peer=f"edge-{site}",
                listen_port=WG_PORT_RELAY + s,
                link_local=IPv6Address(f"fe80::ff:{k:x}"),
                peer_link_local=IPv6Address(f"fe80::ee:{s:x}"),
                endpoint=underlay(site, k).edge_address,
                rxcost=None,
            )
            for s, site in enumerate(sites, start=1)
        )
        specs.append(
            dict(
                name=f"relay-{k}",
                role="relay",
                site=None,
                address=IPv6Address(mesh + (0xFF << 16) + k),
                tunnels=tunnels,
            )
        )
    for s, site in enumerate(sites, start=1):
        tunnels = tuple(
            TunnelEnd(
                interface=wg_edge(site, k),
                peer=f"relay-{k}",
                listen_port=WG_PORT_EDGE + k,
                link_local=IPv6Address(f"fe80::ee:{s:x}"),
                peer_link_local=IPv6Address(f"fe80::ff:{k:x}"),
                endpoint=underlay(site, k).relay_address,
                rxcost=relay_rxcost(k),
            )
            for k in relays
        )
        specs.append(
            dict(
                name=f"edge-{site}",
                role="edge",
                site=site,
                address=IPv6Address(mesh + (0xEE << 16) + s),
                lan_link_local=IPv6Address(f"fe80::ee:{s:x}"),
                tunnels=tunnels,
            )
        )
        for j in range(1, config.servers_per_site + 1):
            specs.append(
                dict(
                    name=f"srv-{site}{j}",
                    role="server",
                    site=site,
                    address=IPv6Address(mesh + (s << 16) + j),
                    lan_link_local=IPv6Address(f"fe80::{s:x}:{j:x}"),
                )
            )
    nodes = tuple(
        LabNode(
            index=i,
            namespace=namespace_name(lab_id, spec["name"]),
            mgmt_root_if=f"mt{lab_id}m{i}",
            mgmt_network=_subnet(ula, 0x2000 + i),
            **spec,
        )
        for i, spec in enumerate(specs)
    )
    topo = Topology(
        lab_id=lab_id,
        config=config,
        ula=ula,
        nodes=nodes,
        underlays=tuple(underlays),
        sites=sites,
    )
    topo.by_name.update({n.name: n for n in nodes})
    return topo


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_inventory(
    topo: Topology,
    node_dirs: dict[str, str],
    server_sites: dict[str, str] | None = None,
    restart_commands: dict[str, str] | None = None,
) -> str:
    """The lab's inventory (TOML schema v1) with per-node socket, config path and ssh.

    Args:
        topo: the lab.
        node_dirs: each node's directory (holds babeld.conf and babeld.sock).
        server_sites: where servers are now (after roaming); default: their home site.
        restart_commands: per node, the command that restarts its babeld.
    """
    server_sites = server_sites or {}
    restart_commands = restart_commands or {}
    hello = f"{topo.config.hello:g}"
    out = [
        f"# meshtui lab {topo.lab_id}: {topo.config.sites} sites, {topo.config.relays} relays,",
        f"# {topo.config.servers_per_site} server(s) per site; generated by `meshtui lab up`.",
        "[mesh]",
        f"prefix = {_toml_str(str(topo.prefix))}",
        f"hello_wired = {hello}",
        f"hello_tunnel = {hello}",
        'babeld_version = "1.12"',
    ]
    for n in topo.nodes:
        d = node_dirs[n.name]
        site = server_sites.get(n.name, n.site) if n.role == "server" else n.site
        out += ["", f"[nodes.{n.name}]"]
        out.append(f"role = {_toml_str(n.role)}")
        if site is not None:
            out.append(f"site = {_toml_str(site)}")
        out.append(f"address = {_toml_str(str(n.address))}")
        out.append(f"ssh = {_toml_str('root@' + str(n.mgmt_address))}")
        out.append(f"socket = {_toml_str(d + '/babeld.sock')}")
        out.append(f"config_path = {_toml_str(d + '/babeld.conf')}")
        if n.name in restart_commands:
            out.append(f"restart_command = {_toml_str(restart_commands[n.name])}")
        if n.has_lan:
            out.append(f"lan = {_toml_str(LAN_IF)}")
        for t in n.tunnels:
            out += ["", f"[[nodes.{n.name}.tunnels]]"]
            out.append(f"interface = {_toml_str(t.interface)}")
            out.append(f"peer = {_toml_str(t.peer)}")
            if t.rxcost is not None:
                out.append(f"rxcost = {t.rxcost}")
    return "\n".join(out) + "\n"
