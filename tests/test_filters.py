"""Tests for babeld's first-match filter semantics (meshtui.core.filters)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshtui.core.babelconf import Chain, parse_config
from meshtui.core.filters import RTPROT_BOOT, FilterSet, evaluate

SEED = """\
interface eth0 type wired hello-interval 4
interface wg0 type tunnel hello-interval 1
in ip fd42:1::11/128 deny
in ip fd42:1::/64 if eth0 allow
in ip fd42:1::/64 if wg0 allow
in deny
out ip fd42:1::/64 eq 128 if eth0 allow
out ip fd42:1::/64 eq 128 if wg0 allow
out deny
redistribute local allow
redistribute deny
"""


@pytest.fixture(scope="module")
def seed():
    return FilterSet(parse_config(SEED, "seed.conf"))


def test_own_address_is_denied_in_everywhere(seed):
    for iface in ("eth0", "wg0", "eth9"):
        v = seed.evaluate("in", "fd42:1::11/128", interface=iface)
        assert (v.action, v.line, v.rule_index, v.source) == ("deny", 3, 0, "rule")


def test_mesh_routes_allowed_in_per_interface(seed):
    v = seed.evaluate(Chain.IN, "fd42:1::21/128", interface="wg0")
    assert v.action == "allow" and v.line == 5 and v.allowed
    v = seed.evaluate(Chain.IN, "fd42:1::21/128", interface="eth0")
    assert v.line == 4


def test_outside_prefix_or_unknown_interface_hits_final_deny(seed):
    assert seed.evaluate("in", "2001:db8::/32", interface="eth0").line == 6
    assert seed.evaluate("in", "fd42:1::21/128", interface="eth1").line == 6
    assert seed.evaluate("in", "::/0", interface="eth0").action == "deny"


def test_out_only_host_routes(seed):
    assert seed.evaluate("out", "fd42:1::21/128", interface="eth0").action == "allow"
    v = seed.evaluate("out", "fd42:1::/64", interface="eth0")
    assert v.action == "deny" and v.line == 9
    assert seed.evaluate("out", "fd42:1::/80", interface="wg0").action == "deny"


def test_redistribute_local_and_kernel_routes(seed):
    v = seed.evaluate("redistribute", "fd42:1::11/128", local=True)
    assert v.action == "allow" and v.line == 10
    v = seed.evaluate("redistribute", "fd42:1::/64", proto=4)
    assert v.action == "deny" and v.line == 11
    # `redistribute deny` has no proto: it never matches a proto-boot kernel route;
    # the no-match default denies it anyway.
    v = seed.evaluate("redistribute", "fd42:1::/64", proto=RTPROT_BOOT)
    assert v.action == "deny" and v.source == "default"


def test_defaults_without_rules():
    fs = FilterSet(parse_config("interface eth0\n"))
    assert fs.evaluate("in", "fd00::/8").source == "default"
    assert fs.evaluate("in", "fd00::/8").action == "allow"
    assert fs.evaluate("out", "fd00::/8").action == "allow"
    v = fs.evaluate("redistribute", "fd00::1/128", local=True)
    assert (v.action, v.source) == ("allow", "appended")
    v = fs.evaluate("redistribute", "fd00::/8", proto=4)
    assert (v.action, v.source) == ("deny", "default")
    v = fs.evaluate("install", "fd00::/8")
    assert (v.action, v.source) == ("allow", "appended")


def test_redistribute_local_deny_must_be_explicit():
    fs = FilterSet(parse_config("interface eth0\nredistribute deny\n"))
    assert fs.evaluate("redistribute", "fd00::1/128", local=True).source == "appended"
    fs = FilterSet(parse_config("interface eth0\nredistribute local deny\n"))
    assert fs.evaluate("redistribute", "fd00::1/128", local=True).action == "deny"


def test_selectors_a_chain_does_not_see():
    cfg = parse_config(
        "interface eth0\nin local deny\nin proto 4 deny\nout neigh fe80::1 deny\n"
        "redistribute id 02:11:22:33:44:55 deny\ninstall neigh fe80::1 deny\n"
    )
    fs = FilterSet(cfg)
    assert fs.evaluate("in", "fd00::/64", proto=4, local=True).source == "default"
    assert fs.evaluate("out", "fd00::/64", neighbour="fe80::1").source == "default"
    rid = "02:11:22:33:44:55"
    assert fs.evaluate("redistribute", "fd00::/64", router_id=rid, proto=4).action == "deny"
    assert fs.evaluate("redistribute", "fd00::/64", router_id=rid, proto=4).source == "default"
    assert fs.evaluate("install", "fd00::/64", neighbour="fe80::1").source == "appended"


def test_neighbour_and_router_id_in_the_in_chain():
    cfg = parse_config(
        "interface eth0\nin neigh fe80::1 metric 100\nin id 02:11:22:33:44:55 deny\n"
    )
    fs = FilterSet(cfg)
    v = fs.evaluate("in", "fd00::/64", neighbour="fe80::1")
    assert (v.action, v.metric, v.line) == ("metric", 100, 2)
    v = fs.evaluate("in", "fd00::/64", router_id="02:11:22:ff:fe:33:44:55")
    assert v.line == 3
    assert fs.evaluate("in", "fd00::/64", router_id=bytes(8)).source == "default"


def test_install_id_from_1_14():
    text = "interface eth0\ninstall id 02:11:22:33:44:55 deny\n"
    rid = "02:11:22:33:44:55"
    assert evaluate(
        parse_config(text, version="1.12"), "install", "fd00::/64", router_id=rid
    ).allowed
    assert not evaluate(
        parse_config(text, version="1.14"), "install", "fd00::/64", router_id=rid
    ).allowed


def test_interface_that_does_not_exist_never_matches():
    cfg = parse_config("interface eth0\nin if wg9 deny\n")
    assert evaluate(cfg, "in", "fd00::/64", interface="wg9").source == "default"
    v = evaluate(cfg, "in", "fd00::/64", interface="wg9", interfaces=["eth0", "wg9"])
    assert v.action == "deny"


def test_ipv4_and_ipv6_families():
    cfg = parse_config("interface eth0\nin ip 10.0.0.0/8 le 24 deny\nin eq 128 metric 5\n")
    assert evaluate(cfg, "in", "10.1.0.0/16").action == "deny"
    assert evaluate(cfg, "in", "10.1.1.0/25").source == "default"
    # `eq 128` made the rule IPv6-only; an IPv4 /32 is 128 long in babeld's space.
    assert evaluate(cfg, "in", "10.1.1.1/32").source == "default"
    assert evaluate(cfg, "in", "fd00::1/128").metric == 5


def test_source_specific():
    cfg = parse_config("interface eth0\nin src-ip fd00:5::/32 deny\n")
    assert evaluate(cfg, "in", "::/0", src_prefix="fd00:5::/48").action == "deny"
    assert evaluate(cfg, "in", "::/0").source == "default"


_prefix = st.builds(
    lambda a, n: IPv6Network((a, n), strict=False),
    st.integers(0, 2**128 - 1).map(IPv6Address),
    st.integers(0, 128),
)


@given(_prefix, st.sampled_from(["eth0", "wg0", "eth1", None]))
def test_property_seed_in_chain(prefix, iface):
    fs = FilterSet(parse_config(SEED))
    v = fs.evaluate("in", prefix, interface=iface)
    inside = prefix.subnet_of(IPv6Network("fd42:1::/64"))
    own = prefix == IPv6Network("fd42:1::11/128")
    assert v.allowed == (inside and not own and iface in ("eth0", "wg0"))
    assert v.source == "rule"  # `in deny` catches everything else


@given(_prefix, st.sampled_from(["eth0", "wg0"]))
def test_property_seed_out_chain(prefix, iface):
    fs = FilterSet(parse_config(SEED))
    v = fs.evaluate("out", prefix, interface=iface)
    assert v.allowed == (prefix.prefixlen == 128 and prefix.subnet_of(IPv6Network("fd42:1::/64")))


@given(st.lists(st.sampled_from(["allow", "deny", "metric 7"]), min_size=1, max_size=5), _prefix)
def test_property_first_match_wins(actions, prefix):
    rules = "".join(f"in {a}\n" for a in actions)
    v = evaluate(parse_config("interface eth0\n" + rules), "in", prefix)
    assert v.rule_index == 0 and v.line == 2
    assert v.action == actions[0].split()[0]
