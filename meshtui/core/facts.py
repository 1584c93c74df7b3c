"""Facts beyond babeld, parsed: kernel routes, links, addresses, WireGuard peers, service, log.

Pure: the parsers take the text the read-only commands print (``ip -j ...``,
``wg show all dump``, ``systemctl is-active``, ``journalctl``) or the records
pyroute2 returns, already turned into plain values, and build dataclasses.
Fetching lives in :mod:`meshtui.transport.facts`.

WireGuard's dump carries private and preshared keys: the parser drops them
on the spot; no dataclass here has a field that could hold one.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from enum import Enum
from functools import lru_cache
from typing import Any

__all__ = [
    "FACT_NAMES",
    "Address",
    "FactError",
    "FactName",
    "KernelRoute",
    "Link",
    "NodeFacts",
    "ServiceState",
    "WgInterface",
    "WgPeer",
    "canonical_prefix",
    "normalise_prefix",
    "parse_ip_addrs",
    "parse_ip_links",
    "parse_ip_routes",
    "parse_journal",
    "parse_service_state",
    "parse_wg_dump",
    "route_protocol_name",
    "route_table_name",
    "route_type_name",
]


class FactName(Enum):
    """The facts meshtui gathers about a node."""

    ROUTES = "routes"
    LINKS = "links"
    ADDRESSES = "addresses"
    WIREGUARD = "wireguard"
    SERVICE = "service"
    LOG = "log"


FACT_NAMES = tuple(f.value for f in FactName)


class FactError(ValueError):
    """Output that does not parse; ``str()`` names the fact and the problem."""

    def __init__(self, fact: str, message: str) -> None:
        super().__init__(f"{fact}: {message}")
        self.fact = fact


# rtnetlink numbers, for records read through pyroute2 (``ip -j`` prints names).
_PROTOCOLS = {
    0: "unspec",
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    10: "mrt",
    11: "zebra",
    12: "bird",
    13: "dnrouted",
    14: "xorp",
    15: "ntk",
    16: "dhcp",
    42: "babel",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
}
_TABLES = {0: "unspec", 253: "default", 254: "main", 255: "local"}
_TYPES = {
    0: "unspec",
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}


def route_protocol_name(proto: int | str) -> str:
    """``babel`` for 42, ``kernel`` for 2, ...; names pass through."""
    return _rtnl_name(_PROTOCOLS, proto, "unspec")


def route_table_name(table: int | str | None) -> str:
    """``main`` for 254 (and for ``ip -j``'s omitted table), ``local`` for 255, ..."""
    return _rtnl_name(_TABLES, table, "main")


def route_type_name(rtype: int | str | None) -> str:
    """``unicast`` for 1 (and for ``ip -j``'s omitted type), ``unreachable`` for 7, ..."""
    return _rtnl_name(_TYPES, rtype, "unicast")


def _rtnl_name(names: dict[int, str], value: int | str | None, omitted: str) -> str:
    """An rtnetlink number's name (its number when unnamed); names pass through."""
    if value is None:
        return omitted
    if isinstance(value, str):
        return value
    return names.get(value, str(value))


def normalise_prefix(dst: str, length: int | None = None, family: int = 6) -> str:
    """A prefix in babeld's spelling: ``fd42::1/128``, ``::/0`` (``default`` included)."""
    if dst in ("default", "", None):
        return "::/0" if family == 6 else "0.0.0.0/0"
    if "/" not in dst:
        if length is None:
            length = 128 if ":" in dst else 32
        dst = f"{dst}/{length}"
    return canonical_prefix(dst)


@lru_cache(maxsize=1 << 14)  # per kernel route, per table cell on every refresh: parse once
def canonical_prefix(text: str) -> str:
    """A prefix as ``ipaddress`` spells it (host bits cleared); ``text`` itself if it is none."""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return text


def _fields_json(record: Any) -> dict[str, Any]:
    """A record's JSON form: its fields in order, tuples as lists."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclass(frozen=True, slots=True)
class KernelRoute:
    """One route of the kernel's tables (IPv6)."""

    prefix: str
    type: str = "unicast"
    gateway: str | None = None
    dev: str | None = None
    protocol: str = "unspec"
    table: str = "main"
    metric: int | None = None
    src: str = "::/0"

    @property
    def is_babel(self) -> bool:
        """Installed by babeld (``proto babel``)."""
        return self.protocol == "babel"

    @property
    def forwards(self) -> bool:
        """Carries traffic somewhere (not unreachable, blackhole or prohibit)."""
        return self.type in ("unicast", "local")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "prefix": self.prefix,
            "from": self.src,
            "type": self.type,
            "gateway": self.gateway,
            "dev": self.dev,
            "protocol": self.protocol,
            "table": self.table,
            "metric": self.metric,
        }


@dataclass(frozen=True, slots=True)
class Link:
    """A network interface."""

    name: str
    index: int
    kind: str | None = None  # veth, bridge, wireguard, tun, ... (None: plain device)
    link_type: str | None = None  # ether, none, loopback, ...
    operstate: str = "UNKNOWN"
    flags: tuple[str, ...] = ()
    mtu: int | None = None
    mac: str | None = None

    @property
    def up(self) -> bool:
        """Administratively up with a carrier (``UP`` and ``LOWER_UP``)."""
        return "UP" in self.flags and ("LOWER_UP" in self.flags or self.operstate == "UP")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "index": self.index,
            "kind": self.kind,
            "link_type": self.link_type,
            "operstate": self.operstate,
            "flags": list(self.flags),
            "mtu": self.mtu,
            "up": self.up,
        }


@dataclass(frozen=True, slots=True)
class Address:
    """An address on an interface."""

    interface: str
    address: str
    prefixlen: int
    scope: str = "global"
    family: str = "inet6"

    @property
    def link_local(self) -> bool:
        """An IPv6 link-local address (fe80::/10)."""
        return self.family == "inet6" and self.scope == "link"

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class WgPeer:
    """A WireGuard peer (public facts only)."""

    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: int  # seconds since the epoch; 0: never
    rx_bytes: int
    tx_bytes: int
    keepalive: int | None  # seconds; None: off

    def handshake_age(self, now: float) -> float | None:
        """Seconds since the latest handshake (None: never)."""
        return None if not self.latest_handshake else max(0.0, now - self.latest_handshake)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class WgInterface:
    """A WireGuard interface and its peers (the private key is never kept)."""

    name: str
    public_key: str
    listen_port: int | None
    peers: tuple[WgPeer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "public_key": self.public_key,
            "listen_port": self.listen_port,
            "peers": [p.to_json() for p in self.peers],
        }


@dataclass(frozen=True, slots=True)
class ServiceState:
    """babeld's service state as the service manager reports it."""

    state: str  # active, inactive, failed, activating, ...
    manager: str = "systemd"

    @property
    def running(self) -> bool:
        """Whether the service manager says babeld runs."""
        return self.state in ("active", "reloading")


@dataclass
class NodeFacts:
    """Everything gathered about one node besides babeld's own tables.

    A fact is None when it could not be had; ``unavailable`` then says why
    ("not available: wg is not installed"), and ``errors`` holds output that
    did not parse.
    """

    node: str
    time: float
    routes: list[KernelRoute] | None = None
    links: list[Link] | None = None
    addresses: list[Address] | None = None
    wireguard: list[WgInterface] | None = None
    service: ServiceState | None = None
    log: list[str] | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def problem(self, fact: str) -> str | None:
        """Why a fact is missing (None when it is there)."""
        return self.unavailable.get(fact) or self.errors.get(fact)

    def kernel_routes(self, prefix: str, *, babel_only: bool = False) -> list[KernelRoute]:
        """The kernel routes for exactly ``prefix`` (any table)."""
        prefix = normalise_prefix(prefix)
        return [
            r for r in self.routes or () if r.prefix == prefix and (r.is_babel or not babel_only)
        ]

    def has_kernel_route(self, prefix: str, via: str | None, dev: str | None) -> bool | None:
        """Whether a forwarding kernel route for ``prefix`` goes via ``via`` on ``dev``.

        None when the routes are not known.
        """
        if self.routes is None:
            return None
        for r in self.kernel_routes(prefix):
            if not r.forwards:
                continue
            if via is not None and r.gateway != via:
                continue
            if dev is not None and r.dev != dev:
                continue
            return True
        return False

    def link(self, name: str) -> Link | None:
        """The link called ``name``."""
        for link in self.links or ():
            if link.name == name:
                return link
        return None

    def link_locals(self) -> dict[str, list[str]]:
        """Each interface's IPv6 link-local addresses."""
        out: dict[str, list[str]] = {}
        for a in self.addresses or ():
            if a.link_local:
                out.setdefault(a.interface, []).append(a.address)
        return out

    def scoped_wireguard(self) -> list[WgInterface] | None:
        """The WireGuard interfaces that are links of this node.

        ``wg show all`` lists every userspace interface whose control socket
        it can see, which on hosts sharing /var/run/wireguard between network
        namespaces includes other namespaces' interfaces.
        """
        if self.wireguard is None or self.links is None:
            return self.wireguard
        names = {link.name for link in self.links}
        return [w for w in self.wireguard if w.name in names]

    def to_json(self) -> dict[str, Any]:
        """The ``facts`` JSON object."""

        def many(items: list[Any] | None) -> list[Any] | None:
            return None if items is None else [i.to_json() for i in items]

        wg = self.scoped_wireguard()
        return {
            "node": self.node,
            "time": round(self.time, 3),
            "routes": many(self.routes),
            "links": many(self.links),
            "addresses": many(self.addresses),
            "wireguard": many(wg),
            "service": None if self.service is None else self.service.state,
            "log": self.log,
            "unavailable": dict(self.unavailable),
            "errors": dict(self.errors),
        }


# ------------------------------------------------------------------ parsers


def _json_list(fact: str, text: str) -> list[dict[str, Any]]:
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactError(fact, f"not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise FactError(fact, "expected a JSON list of objects")
    return data


def _named(fact: str, text: str, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of ``ip -j`` output whose ``key`` is a string, with that string."""
    for item in _json_list(fact, text):
        name = item.get(key)
        if isinstance(name, str):
            yield name, item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def parse_ip_routes(text: str) -> list[KernelRoute]:
    """Parse ``ip -j -6 route show table all``.

    Raises:
        FactError: the text is not ``ip -j`` route output.
    """
    return [_kernel_route(dst, r) for dst, r in _named("routes", text, "dst")]


def _kernel_route(dst: str, r: dict[str, Any]) -> KernelRoute:
    gateway = r.get("gateway")
    dev = r.get("dev")
    if gateway is None and isinstance(r.get("nexthops"), list) and r["nexthops"]:
        first = r["nexthops"][0]
        if isinstance(first, dict):
            gateway = first.get("gateway")
            dev = dev or first.get("dev")
    src = _str(r.get("from"))
    return KernelRoute(
        prefix=normalise_prefix(dst),
        type=route_type_name(r.get("type")),
        gateway=_str(gateway),
        dev=_str(dev),
        protocol=route_protocol_name(r.get("protocol", "boot")),
        table=route_table_name(r.get("table")),
        metric=_int(r.get("metric")),
        src=normalise_prefix(src) if src is not None else "::/0",
    )


def parse_ip_links(text: str) -> list[Link]:
    """Parse ``ip -j [-d] link show``.

    Raises:
        FactError: the text is not ``ip -j`` link output.
    """
    return [_link(name, item) for name, item in _named("links", text, "ifname")]


def _link(name: str, item: dict[str, Any]) -> Link:
    info = item.get("linkinfo")
    flags = item.get("flags")
    return Link(
        name=name,
        index=_int(item.get("ifindex")) or 0,
        kind=_str(info.get("info_kind")) if isinstance(info, dict) else None,
        link_type=_str(item.get("link_type")),
        operstate=str(item.get("operstate", "UNKNOWN")),
        flags=tuple(sorted(str(f) for f in flags)) if isinstance(flags, list) else (),
        mtu=_int(item.get("mtu")),
        mac=_str(item.get("address")),
    )


def parse_ip_addrs(text: str) -> list[Address]:
    """Parse ``ip -j addr show``.

    Raises:
        FactError: the text is not ``ip -j`` address output.
    """
    return [a for name, item in _named("addresses", text, "ifname") for a in _addrs(name, item)]


def _addrs(name: str, item: dict[str, Any]) -> Iterator[Address]:
    infos = item.get("addr_info")
    for info in infos if isinstance(infos, list) else ():
        if isinstance(info, dict) and isinstance(info.get("local"), str):
            yield Address(
                interface=name,
                address=info["local"],
                prefixlen=_int(info.get("prefixlen")) or 0,
                scope=str(info.get("scope", "global")),
                family=str(info.get("family", "inet6")),
            )


def _endpoint(text: str) -> str | None:
    return None if text in ("(none)", "") else text


def parse_wg_dump(text: str) -> list[WgInterface]:
    """Parse ``wg show all dump``; private and preshared keys are dropped at once.

    Interface lines: ``IF PRIVATE PUBLIC PORT FWMARK``; peer lines:
    ``IF PUBLIC PRESHARED ENDPOINT ALLOWED HANDSHAKE RX TX KEEPALIVE``.

    Raises:
        FactError: a line with neither layout (its content is not repeated).
    """
    interfaces: dict[str, tuple[str, int | None, list[WgPeer]]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) == 5:
            name, _private, public, port, _fwmark = cols
            del _private
            interfaces[name] = (public, _int(port), interfaces.get(name, ("", None, []))[2])
        elif len(cols) == 9:
            name, public, _psk, endpoint, allowed, handshake, rx, tx, keepalive = cols
            del _psk
            entry = interfaces.setdefault(name, ("", None, []))
            entry[2].append(
                WgPeer(
                    public_key=public,
                    endpoint=_endpoint(endpoint),
                    allowed_ips=tuple(a for a in allowed.split(",") if a and a != "(none)"),
                    latest_handshake=_int(handshake) or 0,
                    rx_bytes=_int(rx) or 0,
                    tx_bytes=_int(tx) or 0,
                    keepalive=None if keepalive == "off" else _int(keepalive),
                )
            )
        else:
            raise FactError("wireguard", f"line {lineno}: {len(cols)} columns, expected 5 or 9")
    return [
        WgInterface(name=name, public_key=pub, listen_port=port, peers=tuple(peers))
        for name, (pub, port, peers) in sorted(interfaces.items())
    ]


_SERVICE_STATES = {
    "active",
    "inactive",
    "failed",
    "activating",
    "deactivating",
    "reloading",
    "maintenance",
    "refreshing",
    "unknown",
}


def parse_service_state(stdout: str, stderr: str = "") -> ServiceState | None:
    """Parse ``systemctl is-active babeld``; None when systemd cannot answer."""
    word = stdout.strip().splitlines()[0].strip() if stdout.strip() else ""
    if word in _SERVICE_STATES:
        return ServiceState(state=word)
    return None


_JOURNAL_NOISE = ("No journal files were found.", "Hint: ", "-- Logs begin at")


def _journal_noise(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith(_JOURNAL_NOISE):
        return True
    return stripped.startswith("-- ") and stripped.endswith(" --")  # -- No entries --, -- Boot --


def parse_journal(text: str, limit: int = 50) -> list[str]:
    """The last ``limit`` log lines of ``journalctl --no-pager`` output, noise removed."""
    lines = [line.rstrip() for line in text.splitlines() if not _journal_noise(line)]
    return lines[-limit:]
