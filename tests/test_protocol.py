"""The control-protocol parser: real babeld lines, every variant, and bad input."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from meshtui.core.protocol import (
    HeaderLine,
    InterfaceLine,
    Kind,
    NeighbourLine,
    ParseError,
    ReplyLine,
    RouteLine,
    XrouteLine,
    parse_line,
)

# Lines as babeld 1.12.1 printed them (babeld-protocol.md and the lab).
ROUTE = (
    "add route 562088bc9cf0 prefix fdcb:5e1a:77::21/128 from ::/0 installed yes "
    "id 60:27:49:ae:61:4f:51:86 metric 256 refmetric 160 via fe80::5c2a:f0ff:fe6a:54bc if wg-ams"
)
NEIGH_RTT = (
    "add neighbour 562088bc8860 address fe80::544f:1fff:feb3:46a4 if wg-fra reach ffff "
    "ureach 0000 rxcost 96 txcost 96 rtt 0.218 rttcost 0 cost 96"
)
NEIGH = (
    "change neighbour 562088bc8860 address fe80::544f:1fff:feb3:46a4 if eth0 reach 7fff "
    "ureach 0000 rxcost 96 txcost 120 cost 96"
)
XROUTE = "add xroute fdcb:5e1a:77::11/128-::/0 prefix fdcb:5e1a:77::11/128 from ::/0 metric 0"


def test_route_line() -> None:
    r = parse_line(ROUTE)
    assert isinstance(r, RouteLine)
    assert r.kind is Kind.ADD
    assert r.id == "562088bc9cf0"
    assert r.prefix == "fdcb:5e1a:77::21/128" and r.src == "::/0"
    assert r.installed is True
    assert r.router_id == "60:27:49:ae:61:4f:51:86"
    assert (r.metric, r.refmetric) == (256, 160)
    assert (r.via, r.interface) == ("fe80::5c2a:f0ff:fe6a:54bc", "wg-ams")


def test_neighbour_with_and_without_rtt() -> None:
    n = parse_line(NEIGH_RTT)
    assert isinstance(n, NeighbourLine)
    assert (n.reach, n.ureach, n.rxcost, n.txcost, n.cost) == (0xFFFF, 0, 96, 96, 96)
    assert n.rtt == 0.218 and n.rttcost == 0
    m = parse_line(NEIGH)
    assert isinstance(m, NeighbourLine)
    assert m.kind is Kind.CHANGE and m.reach == 0x7FFF and m.rtt is None and m.rttcost is None


def test_xroute_and_interfaces() -> None:
    x = parse_line(XROUTE)
    assert isinstance(x, XrouteLine) and x.prefix == "fdcb:5e1a:77::11/128" and x.metric == 0
    up = parse_line("add interface wg-fra up true ipv6 fe80::544f:1fff:feb3:46a4 ipv4 10.0.0.1")
    assert up == InterfaceLine(Kind.ADD, "wg-fra", True, "fe80::544f:1fff:feb3:46a4", "10.0.0.1")
    bare = parse_line("change interface eth1 up true")
    assert bare == InterfaceLine(Kind.CHANGE, "eth1", True, None, None)
    down = parse_line("flush interface eth1 up false")
    assert down == InterfaceLine(Kind.FLUSH, "eth1", False)


def test_ipv4_and_source_specific() -> None:
    r = parse_line(
        "change route 1a2b prefix 192.0.2.0/24 from 198.51.100.0/24 installed no "
        "id 00:11:22:33:44:55:66:77 metric 65535 refmetric 65535 via fe80::1 if eth0"
    )
    assert isinstance(r, RouteLine)
    assert r.prefix == "192.0.2.0/24" and r.src == "198.51.100.0/24"
    assert r.metric == 65535 and not r.installed


def test_header_and_replies() -> None:
    assert parse_line("BABEL 1.0") == HeaderLine("BABEL", "1.0")
    assert parse_line("version babeld-1.12.1") == HeaderLine("version", "babeld-1.12.1")
    assert parse_line("host vm") == HeaderLine("host", "vm")
    assert parse_line("my-id 60:27:49:ae:61:4f:51:86") == HeaderLine(
        "my-id", "60:27:49:ae:61:4f:51:86"
    )
    assert parse_line("ok") == ReplyLine("ok")
    assert parse_line("bad") == ReplyLine("bad")
    assert parse_line("no") == ReplyLine("no", "")
    assert parse_line("no unknown interface") == ReplyLine("no", "unknown interface")


def test_malformed_lines_say_why() -> None:
    cases = {
        ROUTE.replace("metric 256", "metric 70000"): "metric out of range",
        ROUTE.replace("installed yes", "installed maybe"): "installed",
        ROUTE.replace("fdcb:5e1a:77::21/128", "fdcb::zz/128"): "bad prefix",
        ROUTE.replace("id 60:27", "id 6x:27"): "router id",
        ROUTE.replace(" via fe80::5c2a:f0ff:fe6a:54bc", ""): "missing field 'via'",
        NEIGH.replace("reach 7fff", "reach 17fff"): "reach",
        NEIGH.replace(" cost 96", ""): "missing field 'cost'",
        "add gizmo 1 x y": "unknown object",
        "add route": "too short",
        "": "empty",
        "hello there world": "not a babeld control line",
        ROUTE + " extra": "odd number",
    }
    for line, why in cases.items():
        result = parse_line(line)
        assert isinstance(result, ParseError), line
        assert why in result.reason, (line, result.reason)


def test_trailing_carriage_return_is_tolerated() -> None:
    assert isinstance(parse_line(ROUTE + "\r"), RouteLine)


_token = st.sampled_from(
    [
        "add",
        "change",
        "flush",
        "route",
        "neighbour",
        "xroute",
        "interface",
        "prefix",
        "from",
        "metric",
        "via",
        "if",
        "reach",
        "up",
        "true",
        "::/0",
        "fe80::1",
        "ffff",
        "65535",
        "-1",
        "id",
        "installed",
        "yes",
        "zz",
        "1/129",
        "ok",
        "BABEL",
        "1.0",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_token | st.text(max_size=12), max_size=24))
def test_never_raises_on_random_tokens(tokens: list[str]) -> None:
    parse_line(" ".join(tokens))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(ROUTE)), st.text(max_size=5))
def test_never_raises_on_mutated_real_lines(cut: int, junk: str) -> None:
    for base in (ROUTE, NEIGH_RTT, XROUTE):
        parse_line(base[:cut] + junk + base[cut:])
        parse_line(base[:cut])


@given(
    st.text(alphabet="0123456789abcdefABg:", min_size=20, max_size=26)
    | st.lists(st.text(alphabet="0123456789abcdefAF:", max_size=3), min_size=6, max_size=9).map(
        ":".join
    )
)
@settings(max_examples=2000, deadline=None)
def test_a_router_id_is_eight_pairs_of_hex_digits(text: str) -> None:
    parts = text.split(":")
    valid = len(parts) == 8 and all(len(p) == 2 and set(p) <= set(string.hexdigits) for p in parts)
    line = ROUTE.replace("id 60:27:49:ae:61:4f:51:86", f"id {text}")
    parsed = parse_line(line)
    assert isinstance(parsed, RouteLine) == valid, line


def test_huge_numbers_are_parse_errors_never_exceptions() -> None:
    """int() refuses texts of over 4,300 digits: a prefix length or metric that long is a
    ParseError (dump fast path, live change of a known route), never a ValueError that would
    end the node's session."""
    from meshtui.core.model import NodeModel
    from meshtui.core.protocol import ParseError

    digits = "9" * 5000
    route = (
        "add route 1a prefix fd00::1/128 from ::/0 installed yes id 02:00:00:00:00:00:00:01 "
        "metric 192 refmetric 96 via fe80::1 if wg-r1"
    )
    assert isinstance(
        parse_line(f"add xroute x prefix fd00::/{digits} from ::/0 metric 0"), ParseError
    )
    model = NodeModel()
    loaded, reply = model.load([route.replace("/128", f"/{digits}"), "ok"], 0, 1.0)
    assert reply is not None and reply.status == "ok" and not model.routes
    model.feed(route, 2.0)
    model.commit(2.0)
    changed = route.replace("add", "change", 1).replace("metric 192", f"metric {digits}")
    assert isinstance(model.feed(changed, 3.0), ParseError)
    assert next(iter(model.routes.values())).metric == 192
