"""The filter evaluator against real babeld: what each lab node accepts, redistributes, announces.

For every node of the shared lab the test parses the babeld.conf babeld runs on
(``lab.config_path(node)``) and checks :class:`~meshtui.core.filters.FilterSet`
against the node's own dump and its neighbours' dumps:

* **in** — every route in a node's table was allowed by its ``in`` chain on the
  interface, from the neighbour, with the router-id it carries;
* **redistribute** — the node's xroutes are exactly its local addresses and
  kernel routes that the ``redistribute`` chain allows (babeld's martians aside);
* **out, end to end** — for every link X→Y and every prefix seen anywhere in
  the lab, Y holds a route from X exactly when X had it to announce (an xroute,
  or its installed route unless split horizon holds it back on that interface),
  X's ``out`` allows it on that interface, and Y's ``in`` accepts it (babeld also
  drops updates carrying its own router-id). So every deny verdict is checked
  against an absent route (a node's own /128 is never learnt back; local
  underlay and management addresses are never announced) and every allow
  verdict against a present one.

A planted case adds test-only rules to relay-2's config (deny srv-a1 in from
edge-a; deny its own /128 out towards edge-b), restarts it, and checks that
babeld does what the evaluator predicts — the mesh carries those routes
otherwise — then restores the original config, restarts relay-2 and waits for
the lab to converge again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import ip_network
from typing import Any

import pytest

from meshtui.core.babelconf import Chain, ParsedConfig, parse_config
from meshtui.core.facts import parse_ip_addrs, parse_ip_links, parse_ip_routes, route_protocol_name
from meshtui.core.filters import FilterSet
from meshtui.core.model import NodeModel
from meshtui.core.protocol import INFINITY
from meshtui.lab.topology import LAN_IF
from meshtui.paths import write_atomic

pytestmark = pytest.mark.lab

AGREE_TIMEOUT = 90.0
_PROTO_NUMBERS = {route_protocol_name(n): n for n in range(256)}
Dest = tuple[str, str]  # (prefix, src), normalised


def _norm(prefix: str) -> str:
    return str(ip_network(prefix, strict=False))


def martian(prefix: str) -> bool:
    """babeld's ``martian_prefix`` (util.c): never redistributed nor accepted."""
    net = ip_network(prefix, strict=False)
    if net.version == 4:
        first = int(net.network_address) >> 24
        return (net.prefixlen >= 8 and first in (0, 127)) or (
            net.prefixlen >= 4 and (first & 0xE0) == 0xE0
        )
    addr = net.network_address
    return (
        (net.prefixlen >= 8 and addr in ip_network("ff00::/8"))
        or (net.prefixlen >= 10 and addr in ip_network("fe80::/10"))
        or (net.prefixlen == 128 and int(addr) in (0, 1))
    )


# --------------------------------------------------------------------- snapshot


@dataclass
class NodeState:
    """One node at one moment: its config, its dump, its addresses and kernel routes."""

    name: str
    config: ParsedConfig
    filters: FilterSet
    model: NodeModel
    addresses: list[Any] = field(default_factory=list)
    kernel_routes: list[Any] = field(default_factory=list)

    @property
    def my_id(self) -> str:
        return self.model.node.my_id

    def split_horizon(self, interface: str) -> bool:
        """babeld: on when configured, else on for ``type wired`` interfaces only."""
        conf = self.config.effective_interface(interface)
        configured = conf.get("split-horizon")
        if configured is not None:
            return bool(configured)
        return conf.get("type") == "wired"

    def xroutes(self) -> dict[Dest, Any]:
        return {(_norm(x.prefix), _norm(x.src)): x for x in self.model.xroutes.values()}

    def installed(self) -> dict[Dest, Any]:
        return {
            (_norm(r.prefix), _norm(r.src)): r for r in self.model.routes.values() if r.installed
        }


@dataclass(frozen=True)
class Link:
    """A directed Babel link: what ``sender`` announces on ``out_if``, ``receiver`` hears on
    ``in_if`` from the link-local address ``sender_ll``."""

    sender: str
    receiver: str
    out_if: str
    in_if: str
    sender_ll: str


def lab_links(lab: Any) -> list[Link]:
    """Every directed link of the lab, from its topology (tunnels and LANs)."""
    topo = lab.topology
    out: list[Link] = []
    for node in topo.nodes:
        for t in node.tunnels:
            peer = topo.node(t.peer)
            back = next(x for x in peer.tunnels if x.peer == node.name)
            out.append(Link(node.name, peer.name, t.interface, back.interface, str(t.link_local)))
    for edge in topo.role("edge"):
        for srv in topo.servers_of(edge.site or ""):
            if lab.site_of(srv.name) != edge.site:
                continue
            e_ll, s_ll = str(edge.lan_link_local), str(srv.lan_link_local)
            out.append(Link(edge.name, srv.name, LAN_IF, LAN_IF, e_ll))
            out.append(Link(srv.name, edge.name, LAN_IF, LAN_IF, s_ll))
    return out


def take_snapshot(lab: Any) -> dict[str, NodeState]:
    """Every node's config (the file babeld was started with), dump, addresses and routes."""
    nodes: dict[str, NodeState] = {}
    for name in lab.nodes:
        path = lab.config_path(name)
        config = parse_config(path.read_text(), str(path), "1.12")
        assert config.ok, [d.format() for d in config.errors]
        links = parse_ip_links(lab.exec(name, ["ip", "-j", "link", "show"], check=True).stdout)
        addrs = parse_ip_addrs(lab.exec(name, ["ip", "-j", "addr", "show"], check=True).stdout)
        routes = []
        for family in ("-4", "-6"):
            argv = ["ip", "-j", family, "route", "show", "table", "main"]
            routes += parse_ip_routes(lab.exec(name, argv, check=True).stdout)
        nodes[name] = NodeState(
            name=name,
            config=config,
            filters=FilterSet(config, [link.name for link in links]),
            model=lab.dump(name),
            addresses=addrs,
            kernel_routes=routes,
        )
    return nodes


# --------------------------------------------------------------------- checks


@dataclass
class Tally:
    """What was compared, and what disagreed."""

    routes_in: int = 0
    xroutes: int = 0
    redistribute_verdicts: int = 0
    link_verdicts: int = 0
    present: int = 0
    absent_out_deny: int = 0
    absent_in_deny: int = 0
    absent_not_candidate: int = 0
    split_horizon: int = 0
    rules_deciding: set[tuple[str, int]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.routes_in} routes checked against `in`; {self.xroutes} xroutes against "
            f"{self.redistribute_verdicts} redistribute verdicts; {self.link_verdicts} "
            f"(link, prefix) pairs: {self.present} learnt as predicted, "
            f"{self.absent_out_deny} absent by `out` deny, {self.absent_in_deny} absent by "
            f"`in` deny or own router-id, {self.absent_not_candidate} never announced "
            f"({self.split_horizon} by split horizon); {len(self.rules_deciding)} distinct "
            "rules decided"
        )


def check_in(nodes: dict[str, NodeState], tally: Tally) -> None:
    """Every route a node holds was allowed by its ``in`` chain."""
    for node in nodes.values():
        for r in node.model.routes.values():
            tally.routes_in += 1
            v = node.filters.evaluate(Chain.IN, r.prefix, r.src, r.interface, r.via, r.router_id)
            if v.line is not None:
                tally.rules_deciding.add((node.name, v.line))
            if not v.allowed:
                tally.problems.append(
                    f"{node.name}: holds {r.prefix} via {r.via}%{r.interface} although "
                    f"{node.config.filename}:{v.line} `{v.rule.text if v.rule else v.source}` "
                    "denies it in"
                )


def check_redistribute(nodes: dict[str, NodeState], tally: Tally) -> None:
    """A node's xroutes are exactly what its ``redistribute`` chain lets through."""
    for node in nodes.values():
        expected: set[Dest] = set()
        for a in node.addresses:
            plen = 128 if a.family == "inet6" else 32
            prefix = _norm(f"{a.address}/{plen}")
            if martian(prefix):
                continue
            tally.redistribute_verdicts += 1
            v = node.filters.evaluate(Chain.REDISTRIBUTE, prefix, interface=a.interface,
                                      local=True)  # fmt: skip
            if v.allowed:
                expected.add((prefix, "::/0" if plen == 128 else "0.0.0.0/0"))
        for k in node.kernel_routes:
            if k.is_babel or not k.forwards or martian(k.prefix):
                continue
            tally.redistribute_verdicts += 1
            proto = _PROTO_NUMBERS.get(k.protocol, 0)
            v = node.filters.evaluate(Chain.REDISTRIBUTE, k.prefix, k.src, k.dev, proto=proto)
            if v.allowed:
                expected.add((_norm(k.prefix), _norm(k.src)))
        actual = set(node.xroutes())
        tally.xroutes += len(actual)
        if actual != expected:
            tally.problems.append(
                f"{node.name}: xroutes {sorted(actual - expected)} not predicted, "
                f"{sorted(expected - actual)} predicted but absent"
            )


def announcement(sender: NodeState, dest: Dest, out_if: str) -> tuple[str | None, bool]:
    """(router-id, held back by split horizon) of what ``sender`` has to announce for
    ``dest`` on ``out_if``; router-id None when it has nothing (flushupdates in message.c)."""
    xroute = sender.xroutes().get(dest)
    if xroute is not None:
        return sender.my_id, False
    route = sender.installed().get(dest)
    if route is None:
        return None, False
    if sender.split_horizon(out_if) and route.interface == out_if:
        return None, True
    return route.router_id, False


def check_links(lab: Any, nodes: dict[str, NodeState], tally: Tally) -> None:
    """What each neighbour learnt from a node is exactly what its ``out`` (and their ``in``)
    allow on that link, for every prefix seen anywhere in the lab."""
    universe: set[Dest] = {(f"{lab.address(n)}/128", "::/0") for n in lab.nodes}
    for node in nodes.values():
        universe |= set(node.xroutes())
        universe |= {(_norm(r.prefix), _norm(r.src)) for r in node.model.routes.values()}
    for link in lab_links(lab):
        sender, receiver = nodes[link.sender], nodes[link.receiver]
        learnt: dict[Dest, Any] = {}
        for r in receiver.model.routes.values():
            if r.interface == link.in_if and lab.neighbour_name(r.via) == link.sender:
                learnt[(_norm(r.prefix), _norm(r.src))] = r
        for dest in sorted(universe):
            tally.link_verdicts += 1
            rid, held_back = announcement(sender, dest, link.out_if)
            present = dest in learnt
            why = ""
            if rid is None:
                expected = False
                tally.absent_not_candidate += not present
                tally.split_horizon += held_back and not present
                why = "split horizon" if held_back else "nothing to announce"
            else:
                out_v = sender.filters.evaluate(Chain.OUT, dest[0], dest[1], link.out_if,
                                                router_id=rid)  # fmt: skip
                if out_v.line is not None:
                    tally.rules_deciding.add((sender.name, out_v.line))
                via = learnt[dest].via if present else link.sender_ll
                in_v = receiver.filters.evaluate(Chain.IN, dest[0], dest[1], link.in_if, via, rid)
                if in_v.line is not None:
                    tally.rules_deciding.add((receiver.name, in_v.line))
                own = rid == receiver.my_id
                expected = out_v.allowed and in_v.allowed and not own
                if not out_v.allowed:
                    why = f"out {sender.config.filename}:{out_v.line}"
                    tally.absent_out_deny += not present
                elif not in_v.allowed or own:
                    why = f"in {receiver.config.filename}:{in_v.line}" + (" (own id)" * own)
                    tally.absent_in_deny += not present
                else:
                    tally.present += present
            if expected != present:
                have = "holds" if present else "lacks"
                tally.problems.append(
                    f"{link.receiver} {have} {dest[0]} from {link.sender} "
                    f"({link.out_if} → {link.in_if}); the evaluator predicted "
                    f"{'it' if expected else 'no route'} ({why or 'allowed both ways'})"
                )


def agreement(lab: Any) -> Tally:
    """All three checks on one snapshot."""
    nodes = take_snapshot(lab)
    tally = Tally()
    check_in(nodes, tally)
    check_redistribute(nodes, tally)
    check_links(lab, nodes, tally)
    return tally


def wait_for_agreement(
    lab: Any, extra: Callable[[], list[str]] | None = None, timeout: float = AGREE_TIMEOUT
) -> Tally:
    """Snapshots until one agrees everywhere (routes settle for a few seconds after a
    change: retractions linger, switches wait for feasibility); the last tally on timeout.

    ``in`` disagreements are never a matter of timing: they fail at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        tally = agreement(lab)
        in_problems = [p for p in tally.problems if "denies it in" in p]
        assert not in_problems, in_problems
        if extra is not None:
            tally.problems.extend(extra())
        if not tally.problems or time.monotonic() > deadline:
            return tally
        time.sleep(0.5)


def _show(problems: Iterable[str]) -> str:
    items = list(problems)
    return "\n".join(items[:40]) + (f"\n… {len(items) - 40} more" if len(items) > 40 else "")


# --------------------------------------------------------------------- tests


def test_evaluator_agrees_with_babeld_on_every_node(healthy_lab: Any) -> None:
    lab = healthy_lab
    tally = wait_for_agreement(lab)
    print(f"\nfilter evaluator vs babeld ({len(lab.nodes)} nodes): {tally.summary()}")
    assert not tally.problems, _show(tally.problems)
    # The comparison covered both verdicts: routes learnt, and routes the filters kept out.
    assert tally.present > 0
    assert tally.absent_out_deny > 0  # underlay / management addresses never announced
    assert tally.absent_in_deny > 0  # a node's own /128 never learnt back
    # Every node's own /128 is denied in by the config's first rule, and absent.
    for name, node in take_snapshot(lab).items():
        own = f"{lab.address(name)}/128"
        for interface in node.config.interfaces:
            v = node.filters.evaluate(Chain.IN, own, interface=interface)
            assert not v.allowed and v.rule is not None and v.rule.prefix == ip_network(own)
        assert not any(_norm(r.prefix) == own for r in node.model.routes.values()), name


def _plant(text: str, rules: list[str]) -> tuple[str, dict[str, int]]:
    """``text`` with ``rules`` inserted before the first filter; their line numbers."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(("in ", "out ")))
    new = [*lines[:at], "# test-only rules (tests/test_filters_lab.py)", *rules, *lines[at:]]
    numbers = {rule: at + 2 + k for k, rule in enumerate(rules)}
    return "\n".join(new) + "\n", numbers


def _routes(lab: Any, node: str, prefix: str, interface: str | None = None) -> list[Any]:
    return [
        r
        for r in lab.dump(node).routes.values()
        if _norm(r.prefix) == prefix and (interface is None or r.interface == interface)
    ]


def test_planted_filters_are_predicted(healthy_lab: Any) -> None:
    """Test-only rules on relay-2 deny what the mesh otherwise carries; babeld obeys the
    evaluator's verdicts (and the whole lab still agrees with it)."""
    lab = healthy_lab
    relay = "relay-2"
    topo = lab.topology
    to_a = next(t for t in topo.node(relay).tunnels if t.peer == "edge-a")
    to_b = next(t for t in topo.node(relay).tunnels if t.peer == "edge-b")
    b_to_relay = next(t for t in topo.node("edge-b").tunnels if t.peer == relay)
    srv_a1 = f"{lab.address('srv-a1')}/128"
    relay_own = f"{lab.address(relay)}/128"

    # Before: the mesh carries both — relay-2 learns srv-a1 from edge-a, edge-b learns
    # relay-2's /128 from relay-2 directly.
    lab.wait(lambda: any(lab.neighbour_name(r.via) == "edge-a"
                         for r in _routes(lab, relay, srv_a1, to_a.interface)),
             30, "relay-2 to learn srv-a1 from edge-a")  # fmt: skip
    lab.wait(lambda: any(lab.neighbour_name(r.via) == relay
                         for r in _routes(lab, "edge-b", relay_own, b_to_relay.interface)),
             30, "edge-b to learn relay-2 from relay-2")  # fmt: skip

    path = lab.config_path(relay)
    original = path.read_text()
    rule_in = f"in ip {srv_a1} if {to_a.interface} deny"
    rule_out = f"out ip {relay_own} if {to_b.interface} deny"
    planted, lines = _plant(original, [rule_in, rule_out])
    config = parse_config(planted, str(path), "1.12")
    assert config.ok, [d.format() for d in config.errors]
    fs = FilterSet(config)
    v_in = fs.evaluate(Chain.IN, srv_a1, interface=to_a.interface, neighbour="fe80::ee:1")
    v_out = fs.evaluate(Chain.OUT, relay_own, interface=to_b.interface)
    assert (v_in.action, v_in.line) == ("deny", lines[rule_in])
    assert (v_out.action, v_out.line) == ("deny", lines[rule_out])
    # The same prefixes on the other tunnels are still allowed by the generic rules.
    assert fs.evaluate(Chain.IN, srv_a1, interface=to_b.interface).allowed
    assert fs.evaluate(Chain.OUT, relay_own, interface=to_a.interface).allowed

    try:
        write_atomic(path, planted)
        lab.restart_babeld(relay)

        def planted_effects() -> list[str]:
            problems = []
            if any(lab.neighbour_name(r.via) == "edge-a"
                   for r in _routes(lab, relay, srv_a1, to_a.interface)):  # fmt: skip
                problems.append("relay-2 still holds srv-a1 from edge-a")
            if not any(lab.neighbour_name(r.via) == "edge-b"
                       for r in _routes(lab, relay, srv_a1, to_b.interface)):  # fmt: skip
                problems.append("relay-2 has no route to srv-a1 through edge-b")
            direct = _routes(lab, "edge-b", relay_own, b_to_relay.interface)
            if any(lab.neighbour_name(r.via) == relay for r in direct):
                problems.append("edge-b still holds relay-2's /128 from relay-2")
            if not any(r.metric < INFINITY for r in _routes(lab, "edge-b", relay_own)):
                problems.append("edge-b does not reach relay-2 another way")
            return problems

        tally = wait_for_agreement(lab, planted_effects)
        print(f"\nwith planted rules on {relay}: {tally.summary()}")
        assert not tally.problems, _show(tally.problems)
        assert (relay, lines[rule_in]) in tally.rules_deciding
        assert (relay, lines[rule_out]) in tally.rules_deciding
    finally:
        write_atomic(path, original)
        lab.restart_babeld(relay)
        lab.wait_converged(120)
    assert path.read_text() == original


def test_martian_matches_babeld_util() -> None:
    """The martian rule the redistribute check relies on (no lab needed)."""
    assert martian("fe80::1/128") and martian("::1/128") and martian("ff02::1/128")
    assert martian("127.0.0.1/32") and martian("224.0.0.1/32")
    assert not martian("fd00::1/128") and not martian("10.0.0.1/32")
