"""Security lint for a babeld mesh: inventory + node configs + interface facts + firewall text.

Pure: every input is data (parsed configs, interface facts, ``nft list ruleset``
output as text). The checks follow the seed's warning that the mesh has no
authentication unless HMAC keys are used, so advertisements must never be
accepted from public, internet-facing interfaces:

* babeld running on an interface with a public address or the default route;
* no final ``in deny`` / ``out deny``; the node's own /128 not denied in;
* a filter that lets in or out a range wider than (or outside) the mesh prefix;
* tunnels between sites without an HMAC key;
* a firewall that admits UDP 6696 (Babel) on interfaces outside the mesh.

Each ``Finding`` has a severity, the node, file:line, a message and a fix.

Reported severities (:func:`report_severity`) and ``lint``'s exit status
(:func:`lint_exit_status`) answer two questions apart: will babeld start
(``error``: babeld refuses the file, exit 1) and is the mesh closed
(``security``: babeld runs but a security check failed, exit 3); ``warning``
never changes the exit status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from meshtui.core.babelconf import Chain, Filter, ParsedConfig, Severity
from meshtui.core.filters import FilterSet
from meshtui.core.inventory import Inventory, Node

__all__ = [
    "BABEL_PORT",
    "EXIT_CLEAN",
    "EXIT_INSECURE",
    "EXIT_REFUSED",
    "Finding",
    "InterfaceFacts",
    "interface_facts_from",
    "is_public",
    "lint_config",
    "lint_exit_status",
    "lint_firewall",
    "lint_mesh",
    "lint_node",
    "report_severity",
]

BABEL_PORT = 6696
_ULA = IPv6Network("fc00::/7")
_LINK_LOCAL = IPv6Network("fe80::/10")

EXIT_CLEAN = 0
"""babeld accepts every file and no security check failed (warnings allowed)."""
EXIT_REFUSED = 1
"""babeld would refuse at least one file, or one could not be read."""
EXIT_INSECURE = 3
"""babeld accepts every file, but security findings remain."""


def report_severity(kind: str, severity: str) -> str:
    """The severity a lint report shows: ``error``, ``security`` or ``warning``.

    Args:
        kind: ``grammar`` (babeld's verdict), ``security`` (a check of this
            module) or ``remote`` (reading the node).
        severity: the diagnostic's own :class:`Severity` value.
    """
    if severity != Severity.ERROR.value:
        return "warning"
    return "security" if kind == "security" else "error"


def lint_exit_status(severities: Iterable[str]) -> int:
    """``lint``'s exit status for the reported severities (see :func:`report_severity`)."""
    seen = set(severities)
    if "error" in seen:
        return EXIT_REFUSED
    return EXIT_INSECURE if "security" in seen else EXIT_CLEAN


@dataclass(frozen=True)
class Finding:
    """One security finding."""

    severity: Severity
    node: str | None
    file: str
    line: int
    message: str
    fix: str

    def format(self) -> str:
        """``file:line: severity: [node] message (fix: ...)``."""
        who = f"[{self.node}] " if self.node else ""
        return (
            f"{self.file}:{self.line}: {self.severity.value}: {who}{self.message} (fix: {self.fix})"
        )


@dataclass(frozen=True)
class InterfaceFacts:
    """What is known about one interface of a node (addresses, default route)."""

    name: str
    addresses: tuple[IPv4Address | IPv6Address, ...] = ()
    default_route: bool = False


def is_public(addr: IPv4Address | IPv6Address) -> bool:
    """True for an address reachable from outside: not ULA, link-local, loopback or private."""
    if addr.is_loopback or addr.is_unspecified or addr.is_multicast:
        return False
    if isinstance(addr, IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_public(addr.ipv4_mapped)
        return addr not in _ULA and addr not in _LINK_LOCAL
    return not (addr.is_private or addr.is_link_local or addr.is_reserved)


def interface_facts_from(node_facts: object) -> list[InterfaceFacts]:
    """Build InterfaceFacts from a :class:`meshtui.core.facts.NodeFacts`."""
    by_name: dict[str, list[IPv4Address | IPv6Address]] = {}
    for a in getattr(node_facts, "addresses", None) or ():
        try:
            by_name.setdefault(a.interface, []).append(ip_address(a.address))
        except ValueError:
            continue
    default_devs = {
        r.dev
        for r in getattr(node_facts, "routes", None) or ()
        if r.prefix in ("::/0", "default", "0.0.0.0/0") and r.forwards and r.dev
    }
    names = set(by_name) | default_devs
    for link in getattr(node_facts, "links", None) or ():
        names.add(link.name)
    return [InterfaceFacts(n, tuple(by_name.get(n, ())), n in default_devs) for n in sorted(names)]


def _first_line(config: ParsedConfig) -> int:
    return config.statements[0].line if config.statements else 1


def _last_line(config: ParsedConfig) -> int:
    return config.statements[-1].line if config.statements else 1


def _chain_end_line(config: ParsedConfig, chain: Chain) -> int:
    rules = config.filters[chain]
    return rules[-1].line if rules else _last_line(config)


def _interface_line(config: ParsedConfig, name: str) -> int:
    conf = config.interfaces.get(name)
    return conf.lines[0] if conf and conf.lines else _first_line(config)


def lint_config(
    config: ParsedConfig,
    *,
    node: str | None = None,
    mesh_prefix: IPv6Network | None = None,
    own_address: IPv6Address | None = None,
) -> list[Finding]:
    """Checks that need only the config (and, when known, the mesh prefix and own /128)."""
    out: list[Finding] = []
    f = config.filename

    def add(sev: Severity, line: int, msg: str, fix: str) -> None:
        out.append(Finding(sev, node, f, line, msg, fix))

    for chain in (Chain.IN, Chain.OUT):
        catch_all = next((r for r in config.filters[chain] if r.is_catch_all), None)
        if catch_all is None:
            add(
                Severity.ERROR,
                _chain_end_line(config, chain),
                f"no final `{chain.value} deny`: babeld's default {chain.value} action is allow",
                f"end the {chain.value} rules with `{chain.value} deny`",
            )
        elif catch_all.action.kind != "deny":
            add(
                Severity.ERROR,
                catch_all.line,
                f"`{catch_all.text}` lets every remaining route {chain.value}",
                f"replace it with `{chain.value} deny`",
            )
    fs = FilterSet(config)
    running = sorted(config.interfaces)
    if own_address is not None:
        own = IPv6Network(f"{own_address}/128")
        places: list[str | None] = [*running] or [None]
        leaks = [i for i in places if fs.evaluate(Chain.IN, own, interface=i).allowed]
        if leaks:
            where = ", ".join(i for i in leaks if i) or "any interface"
            v = fs.evaluate(Chain.IN, own, interface=leaks[0])
            add(
                Severity.ERROR,
                v.line or _chain_end_line(config, Chain.IN),
                f"the node's own {own} is not denied in (accepted on {where}): a neighbour "
                "could announce it and capture its traffic",
                f"add `in ip {own} deny` before the other in rules",
            )
    if mesh_prefix is not None:
        for chain in (Chain.IN, Chain.OUT):
            for rule in config.filters[chain]:
                out.extend(_wide_rule(rule, chain, mesh_prefix, node, f))
    return out


def _wide_rule(
    rule: Filter, chain: Chain, mesh: IPv6Network, node: str | None, file: str
) -> list[Finding]:
    if rule.action.kind == "deny" or rule.is_catch_all:
        return []
    if rule.prefix is None:
        if rule.plen_ge != 0 or rule.plen_le < 128 or rule.src_prefix is not None:
            return []
        message = f"`{rule.text}` has no `ip` selector: it lets any range {chain.value}"
        fix = f"add `ip {mesh}` to the rule"
    elif rule.prefix.version == 4 or not rule.prefix.subnet_of(mesh):
        wider = rule.prefix.version == 6 and rule.prefix.supernet_of(mesh)
        what = "wider than" if wider else "outside"
        message = f"`{rule.text}` lets {rule.prefix} {chain.value}, {what} the mesh prefix {mesh}"
        fix = f"narrow it to `ip {mesh}`"
    else:
        return []
    return [Finding(Severity.ERROR, node, file, rule.line, message, fix)]


def lint_node(
    inv: Inventory,
    node_name: str,
    config: ParsedConfig,
    facts: Sequence[InterfaceFacts] | None = None,
    firewall: str | None = None,
    firewall_file: str | None = None,
) -> list[Finding]:
    """All checks for one node of the inventory."""
    node = inv.node(node_name)
    out = lint_config(config, node=node.name, mesh_prefix=inv.prefix, own_address=node.address)
    out.extend(_public_interfaces(node, config, facts))
    out.extend(_tunnel_keys(inv, node, config))
    if firewall is not None:
        out.extend(
            lint_firewall(
                firewall,
                mesh_interfaces=set(config.interfaces) | set(node.interfaces),
                node=node.name,
                file=firewall_file or f"nft ruleset of {node.name}",
            )
        )
    return out


def _public_interfaces(
    node: Node, config: ParsedConfig, facts: Sequence[InterfaceFacts] | None
) -> list[Finding]:
    if not facts:
        return []
    out = []
    by_name = {f.name: f for f in facts}
    for name in sorted(config.interfaces):
        fact = by_name.get(name)
        if fact is None:
            continue
        public = [a for a in fact.addresses if is_public(a)]
        line = _interface_line(config, name)
        problems = []
        if public:
            problems.append(
                (
                    f"babeld runs on {name}, which has the public address "
                    f"{', '.join(str(a) for a in public)}: unauthenticated routes could come "
                    "from the internet",
                    f"remove `interface {name}`, or run babeld only on the LAN and WireGuard "
                    "interfaces",
                )
            )
        if fact.default_route:
            problems.append(
                (
                    f"babeld runs on {name}, which carries the default route (the uplink)",
                    f"remove `interface {name}`; announce the mesh over WireGuard instead",
                )
            )
        out += [
            Finding(Severity.ERROR, node.name, config.filename, line, message, fix)
            for message, fix in problems
        ]
    return out


def _tunnel_keys(inv: Inventory, node: Node, config: ParsedConfig) -> list[Finding]:
    out = []
    for t in node.tunnels:
        peer = inv.nodes.get(t.peer)
        same_site = (
            node.site is not None and peer is not None and peer.site is not None
            and node.site == peer.site
        )  # fmt: skip
        if same_site:
            continue
        conf = config.effective_interface(t.interface)
        keyed = conf.get("key") is not None
        if keyed:
            continue
        out.append(
            Finding(
                Severity.WARNING,
                node.name,
                config.filename,
                _interface_line(config, t.interface),
                f"tunnel {t.interface} to {t.peer} crosses sites without an HMAC key: anyone "
                "who can reach it can inject routes",
                'add a [keys.NAME] to the inventory and `key = "NAME"` to the tunnel, '
                "then regenerate",
            )
        )
    return out


def lint_mesh(
    inv: Inventory,
    configs: Mapping[str, ParsedConfig],
    facts: Mapping[str, Sequence[InterfaceFacts]] | None = None,
    firewalls: Mapping[str, str] | None = None,
) -> list[Finding]:
    """All checks for every node with a config in ``configs``, in node order."""
    out: list[Finding] = []
    for name in inv.nodes:
        config = configs.get(name)
        if config is None:
            continue
        out.extend(
            lint_node(
                inv,
                name,
                config,
                (facts or {}).get(name),
                (firewalls or {}).get(name),
            )
        )
    return out


# --------------------------------------------------------------------- nftables

_CHAIN_RE = re.compile(r"^\s*chain\s+(\S+)\s*\{")
_HOOK_RE = re.compile(r"type\s+filter\s+hook\s+(\w+)[^;]*;\s*(?:policy\s+(\w+))?")
_POLICY_RE = re.compile(r"policy\s+(\w+)\s*;")
_IIF_RE = re.compile(r"\biif(?:name)?\s+(!=\s*)?(\{[^}]*\}|\"[^\"]*\"|\S+)")
_DPORT_RE = re.compile(r"\b(?:udp|th)\s+dport\s+(!=\s*)?(\{[^}]*\}|\S+)")
_VERDICT_RE = re.compile(r"\b(accept|drop|reject|jump|goto|return)\b")


def _names(text: str) -> set[str]:
    return {w.strip().strip('"') for w in text.strip("{} ").split(",") if w.strip()}


def _ports(text: str) -> set[int] | None:
    """The ports a dport expression covers; None when it is not a plain list/range."""
    ports: set[int] = set()
    for item in _names(text):
        if item == "babel":
            ports.add(BABEL_PORT)
        elif re.fullmatch(r"\d+-\d+", item):
            lo, hi = (int(x) for x in item.split("-"))
            if lo <= BABEL_PORT <= hi:
                ports.add(BABEL_PORT)
        elif item.isdigit():
            ports.add(int(item))
        else:
            return None
    return ports


def lint_firewall(
    ruleset: str,
    mesh_interfaces: Iterable[str],
    *,
    node: str | None = None,
    file: str = "nft ruleset",
) -> list[Finding]:
    """Find where an ``nft list ruleset`` text admits UDP 6696 outside the mesh interfaces.

    A rule admits Babel when it accepts UDP (or any transport) to port 6696 or to any
    port, in an input-hook chain, without an ``iifname`` restricted to mesh interfaces.
    A chain with ``policy accept`` admits Babel unless a rule drops it first.
    """
    mesh = set(mesh_interfaces)
    out: list[Finding] = []
    chain: str | None = None
    is_input = False
    policy_accept = False
    policy_line = 0
    blocked = False
    depth = 0
    for n, raw in enumerate(ruleset.splitlines(), start=1):
        line = raw.strip()
        m = _CHAIN_RE.match(raw)
        if m:
            chain, is_input, policy_accept, blocked, depth = m.group(1), False, False, False, 1
            policy_line = n
            continue
        if chain is None:
            continue
        if line.startswith("}"):
            depth -= 1
            if depth <= 0:
                if is_input and policy_accept and not blocked:
                    out.append(
                        Finding(
                            Severity.ERROR,
                            node,
                            file,
                            policy_line,
                            f"input chain {chain} has policy accept and nothing drops UDP "
                            f"{BABEL_PORT}: Babel is admitted on every interface",
                            f"add `iifname != {{ {', '.join(sorted(mesh))} }} udp dport "
                            f"{BABEL_PORT} drop` or set policy drop",
                        )
                    )
                chain = None
            continue
        hook = _HOOK_RE.search(line)
        if hook:
            is_input = hook.group(1) == "input"
            policy_accept = (hook.group(2) or "accept") == "accept"
            policy_line = n
            continue
        pol = _POLICY_RE.fullmatch(line)
        if pol:
            policy_accept = pol.group(1) == "accept"
            policy_line = n
            continue
        if not is_input or not line:
            continue
        verdict = _VERDICT_RE.findall(line)
        if not verdict:
            continue
        action = verdict[-1]
        dport = _DPORT_RE.search(line)
        if dport:
            if dport.group(1):  # dport != ...: covers 6696 unless listed
                ports = _ports(dport.group(2))
                covers = ports is not None and BABEL_PORT not in ports
            else:
                ports = _ports(dport.group(2))
                covers = ports is None or BABEL_PORT in ports
            if re.search(r"\btcp\b", line) and not re.search(r"\b(udp|th)\b", line):
                covers = False
        else:
            covers = not re.search(r"\b(tcp|icmpv6|icmp|ct|meta l4proto|ip6 nexthdr)\b", line)
        if not covers:
            continue
        iif = _IIF_RE.search(line)
        if iif is None:
            outside = True
            where = "every interface"
        elif iif.group(1):  # iifname != {...}: everything but those
            outside = True
            where = f"every interface except {', '.join(sorted(_names(iif.group(2))))}"
        else:
            names = _names(iif.group(2))
            bad = sorted(names - mesh - {"lo"})
            outside = bool(bad)
            where = ", ".join(bad)
        if action in ("drop", "reject"):
            if iif is None or (iif.group(1) and _names(iif.group(2)) <= mesh):
                blocked = True
            continue
        if action == "accept" and outside:
            out.append(
                Finding(
                    Severity.ERROR,
                    node,
                    file,
                    n,
                    f"input chain {chain} accepts UDP {BABEL_PORT} (Babel) on {where}, "
                    "outside the mesh interfaces",
                    f"restrict it: `iifname {{ {', '.join(sorted(mesh))} }} udp dport "
                    f"{BABEL_PORT} accept`",
                )
            )
    return out
