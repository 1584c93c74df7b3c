"""Tests for the security lint: every planted problem is found, a clean mesh has none."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from meshtui.core.babelconf import Severity, parse_config
from meshtui.core.confgen import render_babeld_conf
from meshtui.core.facts import Address, KernelRoute, Link, NodeFacts
from meshtui.core.inventory import load_inventory, parse_inventory
from meshtui.core.lint import (
    InterfaceFacts,
    interface_facts_from,
    is_public,
    lint_config,
    lint_firewall,
    lint_mesh,
)

DATA = Path(__file__).parent / "data" / "inventories"
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

CLEAN_NFT = """\
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		iifname { "eth0", "wg-fra-a", "wg-fra-b" } udp dport 6696 accept
		tcp dport 22 accept
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
"""


def ll(n):
    return ip_address(f"fe80::{n:x}")


@pytest.fixture(scope="module")
def inv():
    return load_inventory(DATA / "lab.toml")


def configs_for(inv, **overrides):
    out = {}
    for name in inv.nodes:
        text = overrides.get(name) or render_babeld_conf(inv, name, {"site-link": KEY})
        out[name] = parse_config(text, f"{name}/babeld.conf")
    return out


def clean_facts(inv):
    facts = {}
    for i, (name, node) in enumerate(inv.nodes.items()):
        facts[name] = [
            InterfaceFacts(iface, (ll(i * 16 + j), ip_address(f"fd99:{i}::{j + 1}")))
            for j, iface in enumerate(node.interfaces)
        ] + [InterfaceFacts("uplink0", (ip_address("2001:db8::1"),), default_route=True)]
    return facts


def test_clean_mesh_has_no_findings(inv):
    findings = lint_mesh(inv, configs_for(inv), clean_facts(inv), {"edge-fra": CLEAN_NFT})
    assert findings == []


def test_each_planted_problem_is_found(inv):
    base = {n: render_babeld_conf(inv, n, {"site-link": KEY}) for n in inv.nodes}
    planted = {
        # no final `in deny`
        "edge-ams": base["edge-ams"].replace("in deny\n", ""),
        # own /128 not denied; a range wider than the mesh prefix; `out allow` at the end
        "relay-a": base["relay-a"]
        .replace("in ip fd42:1::a1/128 deny\n", "")
        .replace("in ip fd42:1::/64 if wg-a-fra allow", "in ip fd42::/16 if wg-a-fra allow")
        .replace("out deny\n", "out allow\n"),
        # an `in` rule without `ip`
        "relay-b": base["relay-b"].replace("in deny\n", "in if wg-b-ams allow\nin deny\n"),
    }
    facts = clean_facts(inv)
    facts["srv-fra"] = [InterfaceFacts("eth0", (ip_address("2001:db8::5"), ll(1)))]
    facts["srv-ams"] = [InterfaceFacts("eth0", (ip_address("fd00::5"),), default_route=True)]
    nft_bad = CLEAN_NFT.replace(
        'iifname "lo" accept', 'iifname "lo" accept\n\t\tiifname "eth1" udp dport 6696 accept'
    )
    findings = lint_mesh(inv, configs_for(inv, **planted), facts, {"edge-fra": nft_bad})
    got = {(f.node, f.message.split(" ")[0:3].__str__()) for f in findings}
    text = "\n".join(f.format() for f in findings)

    def has(node, words, file_suffix="babeld.conf"):
        return any(
            f.node == node and words in f.message and f.file.endswith(file_suffix) for f in findings
        )

    assert has("edge-ams", "no final `in deny`"), text
    assert has("relay-a", "own fd42:1::a1/128 is not denied in"), text
    assert has("relay-a", "wider than the mesh prefix"), text
    assert has("relay-a", "`out allow` lets every remaining route out"), text
    assert has("relay-b", "has no `ip` selector"), text
    assert has("srv-fra", "public address 2001:db8::5"), text
    assert has("srv-ams", "carries the default route"), text
    assert has("edge-fra", "accepts UDP 6696 (Babel) on eth1", "nft ruleset of edge-fra"), text
    assert got  # every finding formats
    for f in findings:
        assert f.fix and f.line >= 1 and f.severity in (Severity.ERROR, Severity.WARNING)
    wide = next(f for f in findings if "wider than" in f.message)
    assert wide.file == "relay-a/babeld.conf"
    assert planted["relay-a"].splitlines()[wide.line - 1].startswith("in ip fd42::/16")


def test_tunnel_between_sites_without_key():
    inv = parse_inventory(
        {
            "mesh": {"prefix": "fd42:1::/64"},
            "nodes": {
                "relay": {
                    "role": "relay",
                    "address": "fd42:1::f1",
                    "tunnels": [{"interface": "wg-edge", "peer": "edge"}],
                },
                "edge": {
                    "role": "edge",
                    "site": "fra",
                    "address": "fd42:1::11",
                    "lan": "eth0",
                    "tunnels": [{"interface": "wg-relay", "peer": "relay"}],
                },
                "edge2": {
                    "role": "edge",
                    "site": "fra",
                    "address": "fd42:1::12",
                    "lan": "eth0",
                    "tunnels": [{"interface": "wg-edge", "peer": "edge"}],
                },
            },
        },
        "mesh.toml",
    )
    configs = {n: parse_config(render_babeld_conf(inv, n), f"{n}.conf") for n in inv.nodes}
    findings = lint_mesh(inv, configs)
    keyless = [f for f in findings if "without an HMAC key" in f.message]
    assert {f.node for f in keyless} == {"relay", "edge"}  # edge2's tunnel stays in-site
    assert all(f.severity is Severity.WARNING for f in keyless)
    line = keyless[0]
    assert configs[line.node].statements  # points at the interface line
    text = render_babeld_conf(inv, line.node).splitlines()[line.line - 1]
    assert text.startswith("interface wg-")


def test_lint_config_without_inventory():
    text = "interface eth0\nin ip fd00::/8 allow\n"
    msgs = [f.message for f in lint_config(parse_config(text, "x.conf"))]
    assert any("no final `in deny`" in m for m in msgs)
    assert any("no final `out deny`" in m for m in msgs)


@pytest.mark.parametrize(
    ("ruleset", "count"),
    [
        ("chain input {\n type filter hook input priority 0; policy accept;\n}\n", 1),
        (
            "chain input {\n type filter hook input priority 0; policy accept;\n"
            " udp dport 6696 drop\n}\n",
            0,
        ),
        (
            "chain input {\n type filter hook input priority 0; policy drop;\n"
            " udp dport { 53, 6696 } accept\n}\n",
            1,
        ),
        (
            "chain input {\n type filter hook input priority 0; policy drop;\n"
            ' iifname != "eth0" accept\n}\n',
            1,
        ),
        (
            "chain input {\n type filter hook input priority 0; policy drop;\n"
            " udp dport 6000-7000 accept\n}\n",
            1,
        ),
        (
            "chain input {\n type filter hook input priority 0; policy drop;\n"
            ' iifname "eth0" udp dport babel accept\n tcp dport 6696 accept\n}\n',
            0,
        ),
        (
            "chain output {\n type filter hook output priority 0; policy accept;\n"
            " udp dport 6696 accept\n}\n",
            0,
        ),
    ],
)
def test_firewall_rules(ruleset, count):
    findings = lint_firewall(ruleset, {"eth0"}, node="n")
    assert len(findings) == count, [f.format() for f in findings]


def test_is_public():
    for a in ("fd00::1", "fe80::1", "::1", "10.0.0.1", "192.168.1.1", "ff02::1"):
        assert not is_public(ip_address(a)), a
    for a in ("2001:db8::1", "2a01::1", "8.8.8.8"):
        assert is_public(ip_address(a)), a


def test_interface_facts_from_node_facts():
    nf = NodeFacts(
        node="n",
        time=0.0,
        links=[Link("eth0", 2), Link("wg0", 3)],
        addresses=[Address("eth0", "2001:db8::7", 64), Address("wg0", "fe80::1", 64, "link")],
        routes=[KernelRoute("::/0", gateway="fe80::9", dev="eth0")],
    )
    facts = {f.name: f for f in interface_facts_from(nf)}
    assert facts["eth0"].default_route and facts["eth0"].addresses == (ip_address("2001:db8::7"),)
    assert not facts["wg0"].default_route
