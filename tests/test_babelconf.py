"""Unit tests for the babeld.conf parser/validator: grammar, versions, diagnostics."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshtui.core.babelconf import (
    PROTO_LOCAL,
    Chain,
    Severity,
    failover_detection_seconds,
    parse_config,
    parse_version,
)


def errors(text, version="1.12", **kw):
    return [d.message for d in parse_config(text, "t.conf", version, **kw).errors]


def warnings(text, version="1.12", **kw):
    return [d.message for d in parse_config(text, "t.conf", version, **kw).warnings]


def test_statements_carry_lines_and_kinds():
    p = parse_config(
        "# c\n\nlocal-path /run/b.sock\ninterface eth0 type wired\nkey id k type "
        "blake2s128 value 00112233445566778899aabbccddeeff\nin deny\nflush interface eth0\n",
        "x.conf",
    )
    kinds = [(s.line, s.kind, s.keyword) for s in p.statements]
    assert kinds == [
        (3, "global", "local-path"),
        (4, "interface", "interface"),
        (5, "key", "key"),
        (6, "filter", "in"),
        (7, "flush", "flush"),
    ]
    assert p.global_value("local-path") == "/run/b.sock"
    assert p.keys["k"].length == 16 and p.keys["k"].type == "blake2s128"
    assert p.filters[Chain.IN][0].line == 6


def test_key_value_is_never_kept():
    secret = "8899aabbccddeeff8899aabbccddeeff"
    p = parse_config(f"key id k type hmac-sha256 value {secret}\ninterface eth0 key k\n")
    assert secret not in repr(p)


def test_diagnostic_fields_and_format():
    p = parse_config("interface eth0\nfoo\n", "/etc/babeld.conf", "1.12.1")
    (d,) = p.errors
    assert d.severity is Severity.ERROR and d.file == "/etc/babeld.conf" and d.line == 2
    assert d.version == "1.12.1"
    assert d.format() == "/etc/babeld.conf:2: error: foo: unknown directive 'foo'"
    w = parse_config("interface eth0 wired true\n").warnings[0]
    assert w.format().endswith("(fix: use `type wired` (or `type wireless`))")


def test_interfaces_merge_with_default():
    p = parse_config(
        "default type tunnel hello-interval 2\ninterface eth0 hello-interval 1\n"
        "interface eth0 rxcost 200\ninterface eth1\n"
    )
    eth0 = p.effective_interface("eth0")
    assert eth0.options == {"type": "tunnel", "hello-interval": 1.0, "rxcost": 200}
    assert eth0.lines == (2, 3)
    assert p.effective_interface("eth1").get("hello-interval") == 2.0


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ("interface eth0 rxcost 0x10", True),
        ("interface eth0 rxcost 010", True),
        ("interface eth0 rxcost 08", False),
        ("interface eth0 rxcost 4294967297", True),  # (int) truncation: 1
        ("interface eth0 rxcost 4294967296", False),  # 0
        ("interface eth0 hello-interval 655.35", True),
        ("interface eth0 hello-interval 655.351", False),
        ("interface eth0 hello-interval 4294967.297", True),  # unsigned wrap: 1 ms
        ("interface eth0 hello-interval .5", True),
        ("interface eth0 hello-interval 1e3", False),
        ('interface "eth\\0" rxcost 1', True),
        ('interface "eth0', False),
        ("interface eth0 rxcost 10# comment", True),
        ("interface eth0 rxcost 10 foo", False),
        ("in ip fd00::/0x40", True),
        ("in ip fd00::/", True),  # strtol of "" is 0 and ends at the NUL
        ('in ip "fd00::/8"', False),
        ("in id 02:11:22:33:44:55:66:77:88", True),  # sscanf ignores the rest
        ("in id 0211:22:33:44:55", False),
        ("in neigh fe80::1%eth0", False),
        ("in if " + "a" * 255, True),
        ("in if " + "a" * 256, False),
        ("\tin\tdeny\r", True),
        ("IN deny", False),
    ],
)
def test_lexing_and_numbers_like_babeld(line, ok):
    assert parse_config(f"{line}\ninterface eth0\n").ok is ok


def test_ipv4_filter_lengths_in_babelds_128_bit_space():
    f = parse_config("interface eth0\nin ip 10.0.0.0/8 eq 24\n").filters[Chain.IN][0]
    assert f.af == 4 and f.prefix == IPv4Network("10.0.0.0/8")
    assert (f.plen_ge, f.plen_le) == (120, 120)


def test_le_negative_wraps_to_a_byte():
    p = parse_config("interface eth0\nin le -1 deny\n")
    f = p.filters[Chain.IN][0]
    assert f.plen_le == 255 and f.af == 0
    assert any("byte" in w.message for w in p.warnings)


def test_filter_fields():
    f = parse_config(
        "interface eth0\nredistribute local ip fd42::/16 le 128 if eth0 metric 7\n"
    ).filters[Chain.REDISTRIBUTE][0]
    assert f.proto == PROTO_LOCAL and f.ifname == "eth0" and f.action.add_metric == 7
    assert f.action.kind == "metric" and f.prefix == IPv6Network("fd42::/16")
    g = parse_config("interface eth0\ninstall pref-src fd00::1 table 9\n").filters[Chain.INSTALL][0]
    assert g.action.pref_src == IPv6Address("fd00::1") and g.action.table == 9


# --- version awareness ---------------------------------------------------------


MAC_VERSIONS = {"1.11", "1.12", "1.13.1", "1.14"}


@pytest.mark.parametrize(
    ("text", "ok_in"),
    [
        ("interface eth0 channel 1\n", {"1.10", "1.11", "1.12"}),
        ("interface eth0 probe-mtu true\n", {"1.13.1", "1.14"}),
        ("interface eth0 v4-via-v6 true\n", {"1.12", "1.13.1", "1.14"}),
        (
            "key id k type hmac-sha256 value 00\ninterface eth0\n",
            {"1.11", "1.12", "1.13.1", "1.14"},
        ),
        ("interface eth0 accept-bad-signatures true\n", MAC_VERSIONS),
        ("interface eth0\nkernel-check-interval 300\n", {"1.13.1", "1.14"}),
        ("interface eth0\nshutdown-delay-ms 10\n", {"1.13.1", "1.14"}),
        ("interface eth0\nfirst-rule-priority 10\n", set()),
        ("interface eth0\nallow-duplicates 10\n", {"1.10", "1.11", "1.13.1", "1.14"}),
    ],
)
def test_version_dependent_verdicts(text, ok_in):
    for version in ("1.10", "1.11", "1.12", "1.13.1", "1.14"):
        assert parse_config(text, "t", version).ok is (version in ok_in), version


def test_channel_warns_in_1_12_errs_in_1_13():
    assert any("removed in babeld 1.13" in w for w in warnings("interface eth0 channel 3\n"))
    assert any("removed in babeld 1.13" in e for e in errors("interface eth0 channel 3\n", "1.13"))


def test_install_id_matches_only_from_1_14():
    text = "interface eth0\ninstall id 02:11:22:33:44:55 deny\n"
    assert any("1.14" in w for w in warnings(text, "1.12"))
    assert not any("never match" in w for w in warnings(text, "1.14"))


@pytest.mark.parametrize("bad", ["1.9", "2.0", "one", "1.15"])
def test_unsupported_versions(bad):
    with pytest.raises(ValueError):
        parse_version(bad)
    assert parse_version("babeld-1.12.1") == (1, 12, 1)


# --- warnings ------------------------------------------------------------------


def test_filter_on_interface_babeld_does_not_run_on():
    text = "interface eth0\nin if wg0 allow\n"
    assert any("'wg0'" in w for w in warnings(text))
    assert not any("'wg0'" in w for w in warnings(text, extra_interfaces=["wg0"]))


def test_selectors_that_never_match_per_chain():
    assert any("never match on local" in w for w in warnings("interface e\nin local deny\n"))
    assert any("never match on neigh" in w for w in warnings("interface e\nout neigh ::1\n"))
    assert any("never match on proto" in w for w in warnings("interface e\nout proto 3\n"))
    assert any(
        "never match on id" in w for w in warnings("interface e\nredistribute id 1:2:3:4:5:6\n")
    )
    assert any("never match on neigh" in w for w in warnings("interface e\ninstall neigh ::1\n"))
    assert not any("never match" in w for w in warnings("interface e\nredistribute local deny\n"))


@pytest.mark.parametrize(
    "rule",
    ["out ip fd42::11/128 eq 64", "in ge 64 le 32", "in eq 200", "in ip 10.0.0.0/8 le 4"],
)
def test_impossible_prefix_lengths(rule):
    assert any("can never be met" in w for w in warnings(f"interface e\n{rule}\n"))


def test_possible_prefix_lengths_do_not_warn():
    for rule in ["out ip fd42::/64 eq 128", "in ip 10.0.0.0/8 le 24", "in ip ::/0 le 0"]:
        assert not any("never" in w for w in warnings(f"interface e\n{rule}\n")), rule


def test_shadowed_rules_after_catch_all():
    ws = warnings("interface e\nin deny\nin ip fd00::/8 allow\nout deny\n")
    assert sum("never reached" in w for w in ws) == 1


def test_tunnel_hello_failover_warning():
    assert failover_detection_seconds(0.5) == pytest.approx(1.35)
    ws = warnings("interface wg0 type tunnel hello-interval 60\n")
    assert any("162 s" in w for w in ws)
    assert not any("noticed" in w for w in warnings("interface wg0 type tunnel hello-interval 4\n"))
    ws = warnings("default hello-interval 30\ninterface wg0 type tunnel\n")
    assert any("81 s" in w for w in ws)


def test_rtt_max_not_above_min():
    assert any("rtt-max" in w for w in warnings("interface e type tunnel rtt-max 5\n"))
    assert not warnings("interface e type tunnel rtt-min 5 rtt-max 50\n")


def test_no_interface_line():
    assert any("no `interface` line" in w for w in warnings("in deny\n"))
    assert not any("no `interface`" in w for w in warnings("in deny\n", extra_interfaces=["e"]))


def test_seed_template_is_clean_apart_from_hello():
    text = (
        "interface eth0 type wired hello-interval 4\ninterface wg0 type tunnel hello-interval 1\n"
        "in ip fd42:1::11/128 deny\nin ip fd42:1::/64 if eth0 allow\n"
        "in ip fd42:1::/64 if wg0 allow\nin deny\nout ip fd42:1::/64 eq 128 if eth0 allow\n"
        "out ip fd42:1::/64 eq 128 if wg0 allow\nout deny\nredistribute local allow\n"
        "redistribute deny\n"
    )
    p = parse_config(text)
    assert p.ok and not p.warnings


@given(st.text(alphabet=st.sampled_from(list(' \t"#\\\nabcdefin0123456789:./-x')), max_size=80))
def test_never_raises_on_garbage(text):
    p = parse_config(text, "g.conf")
    for d in p.diagnostics:
        assert d.line >= 1 and d.message
