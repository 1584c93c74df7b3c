"""babeld's filter semantics: which rule decides a route in the in/out/redistribute/install chains.

A faithful model of babeld's ``filter_match``/``do_filter`` (configuration.c):
first match wins; each chain only sees some selectors (``in`` has no protocol,
``out`` no neighbour or protocol, ``redistribute`` no router-id or neighbour,
``install`` no neighbour or protocol and a router-id only from babeld 1.14); a
rule without ``proto``/``local`` never matches a local address (nor a kernel
route of protocol ``boot``); a filter ``if NAME`` naming an interface that does
not exist never matches; prefix lengths are compared in babeld's 128-bit space
(IPv4 v4-mapped). Defaults: ``in``/``out`` allow; ``redistribute`` denies, after
the ``redistribute local allow`` babeld appends; ``install`` allows through the
catch-all ``install`` rule babeld appends (its own no-match default is deny).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from meshtui.core.babelconf import PROTO_LOCAL, Chain, Filter, ParsedConfig
from meshtui.core.protocol import INFINITY

__all__ = ["RTPROT_BOOT", "FilterSet", "FilterVerdict", "evaluate"]

RTPROT_BOOT = 3
_V4_MAPPED = int(IPv6Address("::ffff:0:0"))
_V4_MASK96 = ((1 << 96) - 1) << 32

Net = IPv4Network | IPv6Network
Addr = IPv4Address | IPv6Address


@dataclass(frozen=True)
class FilterVerdict:
    """The outcome for one route in one chain.

    ``rule_index``/``line`` name the deciding rule of the config; both are None when
    babeld's default or a rule babeld appends decided (``source`` says which).
    """

    action: str  # allow | deny | metric
    metric: int  # metric added: 0 allow, 65535 deny
    rule_index: int | None
    line: int | None
    source: str  # "rule" | "appended" | "default"
    rule: Filter | None = None

    @property
    def allowed(self) -> bool:
        return self.metric < INFINITY


def _action(metric: int) -> str:
    if metric == 0:
        return "allow"
    if metric >= INFINITY:
        return "deny"
    return "metric"


def _mapped(net: Net) -> tuple[int, int]:
    """(128-bit value, prefix length in babeld's 128-bit space)."""
    if net.version == 4:
        return _V4_MAPPED | int(net.network_address), net.prefixlen + 96
    return int(net.network_address), net.prefixlen


def _mapped_addr(addr: Addr) -> int:
    return _V4_MAPPED | int(addr) if addr.version == 4 else int(addr)


def _in_prefix(value: int, prefix: int, plen: int) -> bool:
    plen = min(plen, 128)
    if plen == 0:
        return True
    shift = 128 - plen
    return (value >> shift) == (prefix >> shift)


def _is_v4(value: int, plen: int) -> bool:
    return plen >= 96 and (value & _V4_MASK96) == _V4_MAPPED


def _net(value: str | Net | None, default_v4: bool) -> Net:
    if value is None:
        return IPv4Network("0.0.0.0/0") if default_v4 else IPv6Network("::/0")
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    return ipaddress.ip_network(value, strict=False)


def _router_id(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    parts = value.replace("-", ":").split(":")
    if len(parts) == 6:
        parts = parts[:3] + ["ff", "fe"] + parts[3:]
    if len(parts) != 8:
        raise ValueError(f"{value!r} is not a router id (8 bytes as xx:xx:...)")
    return bytes(int(p, 16) for p in parts)


class FilterSet:
    """The four chains of one ParsedConfig, with the interfaces that exist on the node.

    Args:
        config: the parsed babeld.conf.
        interfaces: names of interfaces that exist on the node (a filter naming any
            other never matches). Default: the interfaces the config runs babeld on.
    """

    def __init__(self, config: ParsedConfig, interfaces: Iterable[str] | None = None) -> None:
        self.config = config
        self.interfaces = frozenset(config.interfaces if interfaces is None else interfaces)
        v = config.version.split(".")
        self._install_sees_id = (int(v[0]), int(v[1])) >= (1, 14)

    def evaluate(
        self,
        chain: Chain | str,
        prefix: str | Net,
        src_prefix: str | Net | None = None,
        interface: str | None = None,
        neighbour: str | Addr | None = None,
        router_id: str | bytes | None = None,
        proto: int | None = None,
        local: bool = False,
    ) -> FilterVerdict:
        """Which rule of ``chain`` decides this route, and what it does.

        Args:
            chain: in, out, redistribute or install.
            prefix: the route's destination prefix.
            src_prefix: its source prefix (default ::/0, or 0.0.0.0/0 for IPv4).
            interface: the interface the route is received on / sent on / via.
            neighbour: the neighbour's address (only the ``in`` chain sees it).
            router_id: the originating router-id (``in``, ``out``; ``install`` from 1.14).
            proto: the kernel protocol of a redistributed route (``redistribute`` only).
            local: a local address being redistributed (``redistribute`` only).
        """
        chain = Chain(chain)
        dst = _net(prefix, False)
        src = _net(src_prefix, dst.version == 4)
        d_val, d_plen = _mapped(dst)
        s_val, s_plen = _mapped(src)
        neigh = None
        rid = None
        route_proto = 0
        if chain is Chain.IN:
            neigh = _mapped_addr(ipaddress.ip_address(neighbour)) if neighbour else None
            rid = _router_id(router_id)
        elif chain is Chain.OUT:
            rid = _router_id(router_id)
        elif chain is Chain.REDISTRIBUTE:
            route_proto = PROTO_LOCAL if local else (proto or 0)
        elif chain is Chain.INSTALL and self._install_sees_id:
            rid = _router_id(router_id)

        def matches(f: Filter) -> bool:
            return self._match(f, d_val, d_plen, s_val, s_plen, neigh, rid, interface, route_proto)

        for f in self.config.filters[chain]:
            if matches(f):
                m = f.action.add_metric
                return FilterVerdict(_action(m), m, f.index, f.line, "rule", f)
        if chain is Chain.REDISTRIBUTE:
            if route_proto == PROTO_LOCAL:
                return FilterVerdict("allow", 0, None, None, "appended")
            return FilterVerdict("deny", INFINITY, None, None, "default")
        if chain is Chain.INSTALL:
            # babeld's own no-match default is deny, but it appends a catch-all `install`.
            return FilterVerdict("allow", 0, None, None, "appended")
        return FilterVerdict("allow", 0, None, None, "default")

    def _match(
        self,
        f: Filter,
        d_val: int,
        d_plen: int,
        s_val: int,
        s_plen: int,
        neigh: int | None,
        rid: bytes | None,
        interface: str | None,
        proto: int,
    ) -> bool:
        if f.af:
            if _is_v4(d_val, d_plen):
                if f.af == 6:
                    return False
            elif f.af == 4:
                return False
        if f.id is not None and (rid is None or rid != f.id):
            return False
        if f.prefix is not None:
            p_val, p_len = _mapped(f.prefix)
            if d_plen < p_len or not _in_prefix(d_val, p_val, p_len):
                return False
        if f.src_prefix is not None:
            p_val, p_len = _mapped(f.src_prefix)
            if s_plen < p_len or not _in_prefix(s_val, p_val, p_len):
                return False
        if (f.plen_ge > 0 or f.plen_le < 128) and not f.plen_ge <= d_plen <= f.plen_le:
            return False
        if (f.src_plen_ge > 0 or f.src_plen_le < 128) and not (
            f.src_plen_ge <= s_plen <= f.src_plen_le
        ):
            return False
        if f.neigh is not None and (neigh is None or neigh != _mapped_addr(f.neigh)):
            return False
        if f.ifname is not None:
            if f.ifname not in self.interfaces:
                return False
            if interface is None or interface != f.ifname:
                return False
        if f.proto:
            if not proto or f.proto != proto:
                return False
        elif proto in (PROTO_LOCAL, RTPROT_BOOT):
            return False
        return True


def evaluate(
    config: ParsedConfig,
    chain: Chain | str,
    prefix: str | Net,
    src_prefix: str | Net | None = None,
    interface: str | None = None,
    neighbour: str | Addr | None = None,
    router_id: str | bytes | None = None,
    proto: int | None = None,
    local: bool = False,
    *,
    interfaces: Iterable[str] | None = None,
) -> FilterVerdict:
    """``FilterSet(config, interfaces).evaluate(...)`` for a single question."""
    return FilterSet(config, interfaces).evaluate(
        chain, prefix, src_prefix, interface, neighbour, router_id, proto, local
    )
