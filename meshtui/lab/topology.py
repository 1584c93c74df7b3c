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

A *replica* (:func:`replica_topology`) is the same kind of topology built from
an inventory instead: its node names, roles, sites and /128s (the inventory's
prefix), its LAN and tunnel interface names inside the namespaces; wireguard-go
devices are created as ``w<id>t<N>`` (unique on the machine) and renamed;
underlays use subnet ``0x8000 + N`` per tunnel, link-locals ``fe80::a:I`` (LAN)
and ``fe80::b:I`` (tunnels) for node number I.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network

from meshtui.core.inventory import Inventory
from meshtui.core.sanitize import inert

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
    "replica_topology",
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
    peer_device: str = ""  # the far end's wireguard-go name (its ``wg_name``)
    device: str = ""  # wireguard-go's name when it differs from ``interface`` (renamed after)
    hello: float | None = None  # None: the mesh's tunnel hello interval
    key: str | None = None  # the HMAC key's name (replicas: as the inventory says)
    keepalive: bool = False  # this end starts the handshake (persistent keepalive)

    @property
    def wg_name(self) -> str:
        """wireguard-go's name for the device (its control socket); unique on the machine."""
        return self.device or self.interface


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
    lan: str | None = None  # the LAN interface babeld runs on (None: no LAN)
    lan_bridge: bool = False  # this node holds its site's LAN bridge (the others plug in)
    lan_hello: float | None = None  # None: the mesh's wired hello interval

    @property
    def lan_port(self) -> str:
        """The bridge-side end of this node's LAN veth, in the bridge holder's namespace."""
        name = f"p-{self.name}"
        return name if len(name) <= 15 else f"p{self.index}"

    @property
    def mgmt_root_address(self) -> IPv6Address:
        return self.mgmt_network.network_address + 1

    @property
    def mgmt_address(self) -> IPv6Address:
        """Where this node's sshd listens (reachable from the root namespace)."""
        return self.mgmt_network.network_address + 2

    @property
    def has_lan(self) -> bool:
        return self.lan is not None

    @property
    def interfaces(self) -> tuple[str, ...]:
        """The interfaces babeld runs on, LAN first."""
        names = [self.lan] if self.lan is not None else []
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
    mesh: IPv6Network | None = None  # the mesh prefix when it is not the /48's first /64
    primary: str | None = "relay-1"  # the relay every inter-site path prefers once converged
    keys: tuple[tuple[str, str], ...] = ()  # HMAC keys (name, type) the tunnels use
    source: str | None = None  # a replica: the inventory file it copies
    unplaced: tuple[str, ...] = ()  # a replica: what of the inventory it could not build

    @property
    def prefix(self) -> IPv6Network:
        """The mesh prefix every node's /128 comes from."""
        return self.mesh or next(self.ula.subnets(new_prefix=64))

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

    def bridge_of(self, site: str) -> LabNode:
        """The node holding ``site``'s LAN bridge."""
        return next(n for n in self.nodes if n.lan_bridge and n.site == site)

    def lan_members(self, site: str) -> list[LabNode]:
        """The nodes plugged into ``site``'s LAN bridge (its holder excluded), by home site."""
        return [n for n in self.nodes if n.has_lan and not n.lan_bridge and n.site == site]

    def mgmt_root_ifs(self) -> list[str]:
        return [n.mgmt_root_if for n in self.nodes]

    def wg_interfaces(self) -> list[str]:
        """wireguard-go's device names (control sockets), every tunnel end."""
        return [t.wg_name for n in self.nodes for t in n.tunnels]


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
                peer_device=wg_edge(site, k),
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
                peer_device=wg_relay(k, site),
                keepalive=True,  # as behind NAT
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
                lan=LAN_IF,
                lan_bridge=True,
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
                    lan=LAN_IF,
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


REPLICA_UNDERLAY = 0x8000  # + tunnel number: a replica's underlay subnets
REPLICA_WG_PORT = 51820  # + the end's number in its namespace


def replica_topology(lab_id: str, ula: IPv6Network, inv: Inventory, source: str) -> Topology:
    """A replica of an inventory's mesh: its names, roles, sites, /128s, LANs and tunnels.

    Every site with LAN nodes gets one bridge (held by its edge, else its first
    LAN node; the others plug in with a veth named as their ``lan``); every
    tunnel that both ends list (A's tunnel to B paired with one of B's to A, in
    order) gets an underlay veth between the two namespaces and a WireGuard
    pair named as the inventory says. What cannot be built is left out and
    said in ``unplaced``, never guessed: a LAN without a site, a tunnel whose
    peer lists no tunnel back, a node left with neither.
    """
    if not LAB_ID_RE.match(lab_id):
        raise ValueError(f"lab id must be 6 lowercase hex digits, not {lab_id!r}")
    if inv.prefix is None:
        raise ValueError("the inventory lacks [mesh] prefix: a replica needs the mesh's /128s")
    unplaced: list[str] = []
    usable = {}
    for node in inv.nodes.values():
        if node.role is None or node.address is None:
            unplaced.append(f"{node.name}: left out: no role or address (a monitoring entry)")
        else:
            usable[node.name] = node
    lan_of: dict[str, str] = {}
    for node in usable.values():
        if node.lan is None:
            continue
        if node.site is None:
            unplaced.append(f"{node.name}: LAN {node.lan} left out: the node has no site")
        else:
            lan_of[node.name] = node.lan
    # Pair tunnel ends: A's i-th tunnel to B with B's next unpaired tunnel to A.
    taken: set[tuple[str, int]] = set()
    pairs: list[tuple[tuple[str, int], tuple[str, int]]] = []
    for node in usable.values():
        for i, t in enumerate(node.tunnels):
            if (node.name, i) in taken:
                continue
            peer = usable.get(t.peer)
            back = next(
                (
                    j
                    for j, pt in enumerate(peer.tunnels if peer else ())
                    if pt.peer == node.name and (t.peer, j) not in taken
                ),
                None,
            )
            if back is None:
                why = "lists no tunnel back" if peer else "is not in the replica"
                unplaced.append(f"{node.name}: tunnel {t.interface} left out: {t.peer} {why}")
                continue
            taken.update({(node.name, i), (t.peer, back)})
            pairs.append(((node.name, i), (t.peer, back)))
    placed = [n for n in usable.values() if n.name in lan_of or any(
        (n.name, i) in taken for i in range(len(n.tunnels)))]  # fmt: skip
    for n in usable.values():
        if n not in placed:
            unplaced.append(f"{n.name}: left out: no site LAN and no tunnel both ends list")
    index = {n.name: i for i, n in enumerate(placed)}
    bridges: dict[str, str] = {}
    for n in sorted(placed, key=lambda n: n.role != "edge"):
        if n.name in lan_of and n.site not in bridges:
            bridges[n.site or ""] = n.name
    underlays: list[Underlay] = []
    ends: dict[tuple[str, int], dict] = {}
    for p, (a, b) in enumerate(pairs, start=1):
        net = _subnet(ula, REPLICA_UNDERLAY + p)
        u = Underlay(edge=a[0], relay=b[0], edge_if=f"u{p}", relay_if=f"u{p}", network=net)
        underlays.append(u)
        # b's node comes later in the order the lab configures WireGuard: its end
        # starts the handshake once a's end is ready (a's would wait 5 s to retry).
        for me, other, endpoint in ((a, b, u.relay_address), (b, a, u.edge_address)):
            ends[me] = dict(peer=other, endpoint=endpoint, keepalive=me is b)
    number = {end: k for k, end in enumerate(sorted(ends), start=1)}

    def device(end: tuple[str, int]) -> str:
        return f"w{lab_id}t{number[end]}"

    def link_local(name: str, kind: int) -> IPv6Address:
        return IPv6Address(f"fe80::{kind:x}:{index[name] + 1:x}")

    nodes: list[LabNode] = []
    for n in placed:
        role, address = n.role, n.address
        if role is None or address is None:  # not usable: never placed
            continue
        tunnels = []
        mine = sorted(end for end in ends if end[0] == n.name)
        for local, end in enumerate(mine, start=1):
            t = n.tunnels[end[1]]
            other = ends[end]["peer"]
            tunnels.append(
                TunnelEnd(
                    interface=t.interface,
                    peer=t.peer,
                    listen_port=REPLICA_WG_PORT + local,
                    link_local=link_local(n.name, 0xB),
                    peer_link_local=link_local(t.peer, 0xB),
                    endpoint=ends[end]["endpoint"],
                    rxcost=t.rxcost,
                    peer_device=device(other),
                    device=device(end),
                    hello=t.hello,
                    key=t.key,
                    keepalive=ends[end]["keepalive"],
                )
            )
        lan = lan_of.get(n.name)
        nodes.append(
            LabNode(
                name=n.name,
                role=role,
                site=n.site,
                index=index[n.name],
                namespace=namespace_name(lab_id, n.name),
                address=address,
                mgmt_root_if=f"mt{lab_id}m{index[n.name]}",
                mgmt_network=_subnet(ula, 0x2000 + index[n.name]),
                lan_link_local=link_local(n.name, 0xA) if lan else None,
                tunnels=tuple(tunnels),
                lan=lan,
                lan_bridge=lan is not None and bridges.get(n.site or "") == n.name,
                lan_hello=n.lan_hello if lan else None,
            )
        )
    used = sorted({t.key for n in nodes for t in n.tunnels if t.key})
    sites = tuple(dict.fromkeys(n.site for n in nodes if n.lan is not None and n.site))
    config = LabConfig(
        sites=len(sites),
        relays=sum(n.role == "relay" for n in nodes),
        servers_per_site=max(
            (sum(m.site == s and m.role == "server" for m in nodes) for s in sites), default=0
        ),  # fmt: skip
        hello=inv.hello_tunnel,
    )
    topo = Topology(
        lab_id=lab_id,
        config=config,
        ula=ula,
        nodes=tuple(nodes),
        underlays=tuple(underlays),
        sites=sites,
        mesh=inv.prefix,
        primary=None,
        keys=tuple((k, inv.keys[k].type) for k in used),
        source=source,
        unplaced=tuple(unplaced),
    )
    topo.by_name.update({n.name: n for n in nodes})
    return topo


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_str(name)


def render_inventory(
    topo: Topology,
    node_dirs: dict[str, str],
    server_sites: dict[str, str] | None = None,
    restart_commands: dict[str, str] | None = None,
    key_files: dict[str, str] | None = None,
) -> str:
    """The lab's inventory (TOML schema v1) with per-node socket, config path and ssh.

    Args:
        topo: the lab.
        node_dirs: each node's directory (holds babeld.conf and babeld.sock).
        server_sites: where servers are now (after roaming); default: their home site.
        restart_commands: per node, the command that restarts its babeld.
        key_files: the value file of each of ``topo.keys``.
    """
    server_sites = server_sites or {}
    restart_commands = restart_commands or {}
    key_files = key_files or {}
    hello = f"{topo.config.hello:g}"
    if topo.source is not None:
        head = [
            f"# meshtui replica {topo.lab_id} of {inert(topo.source)}: names, roles, sites,",
            "# /128s, tunnels, hello intervals, rxcosts and keys as there;",
            "# generated by `meshtui lab up --inventory`.",
        ]
    else:
        head = [
            f"# meshtui lab {topo.lab_id}: {topo.config.sites} sites, {topo.config.relays} relays,",
            f"# {topo.config.servers_per_site} server(s) per site; generated by `meshtui lab up`.",
        ]
    out = [
        *head,
        "[mesh]",
        f"prefix = {_toml_str(str(topo.prefix))}",
        f"hello_wired = {hello}",
        f"hello_tunnel = {hello}",
        'babeld_version = "1.12"',
    ]
    for name, ktype in topo.keys:
        out += ["", f"[keys.{_toml_key(name)}]", f"type = {_toml_str(ktype)}"]
        out.append(f"value_file = {_toml_str(key_files[name])}")
    for n in topo.nodes:
        d = node_dirs[n.name]
        site = server_sites.get(n.name, n.site) if n.role == "server" else n.site
        out += ["", f"[nodes.{_toml_key(n.name)}]"]
        out.append(f"role = {_toml_str(n.role)}")
        if site is not None:
            out.append(f"site = {_toml_str(site)}")
        out.append(f"address = {_toml_str(str(n.address))}")
        out.append(f"ssh = {_toml_str('root@' + str(n.mgmt_address))}")
        out.append(f"socket = {_toml_str(d + '/babeld.sock')}")
        out.append(f"config_path = {_toml_str(d + '/babeld.conf')}")
        if n.name in restart_commands:
            out.append(f"restart_command = {_toml_str(restart_commands[n.name])}")
        if n.lan is not None:
            out.append(f"lan = {_toml_str(n.lan)}")
            if n.lan_hello is not None:
                out.append(f"lan_hello = {n.lan_hello:g}")
        for t in n.tunnels:
            out += ["", f"[[nodes.{_toml_key(n.name)}.tunnels]]"]
            out.append(f"interface = {_toml_str(t.interface)}")
            out.append(f"peer = {_toml_str(t.peer)}")
            if t.hello is not None:
                out.append(f"hello = {t.hello:g}")
            if t.rxcost is not None:
                out.append(f"rxcost = {t.rxcost}")
            if t.key is not None:
                out.append(f"key = {_toml_str(t.key)}")
    return "\n".join(out) + "\n"
