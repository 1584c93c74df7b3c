"""Tests for babeld.conf and systemd-networkd generation from an inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshtui.core.confgen import format_seconds, render_babeld_conf, render_networkd
from meshtui.core.inventory import InventoryError, load_inventory, parse_inventory

DATA = Path(__file__).parent / "data" / "inventories"
KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def inv():
    return load_inventory(DATA / "lab.toml")


def test_seed_shape_for_an_edge(inv):
    text = render_babeld_conf(inv, "edge-fra", {"site-link": KEY})
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "local-path /run/babeld.sock",
        f"key id site-link type hmac-sha256 value {KEY}",
        "interface eth0 type wired hello-interval 1",
        "interface wg-fra-a type tunnel hello-interval 0.5 key site-link",
        "interface wg-fra-b type tunnel hello-interval 0.5 rxcost 192 key site-link",
        "in ip fd42:1::11/128 deny",
        "in ip fd42:1::/64 if eth0 allow",
        "in ip fd42:1::/64 if wg-fra-a allow",
        "in ip fd42:1::/64 if wg-fra-b allow",
        "in deny",
        "out ip fd42:1::/64 eq 128 if eth0 allow",
        "out ip fd42:1::/64 eq 128 if wg-fra-a allow",
        "out ip fd42:1::/64 eq 128 if wg-fra-b allow",
        "out deny",
        "redistribute local allow",
        "redistribute deny",
    ]
    assert text.startswith("# /etc/babeld.conf for edge-fra (role edge, site fra)\n")
    assert text.endswith("redistribute deny\n")


def test_deterministic(inv):
    a = render_babeld_conf(inv, "relay-a", {"site-link": KEY})
    b = render_babeld_conf(inv, "relay-a", {"site-link": KEY})
    assert a == b
    again = load_inventory(DATA / "lab.toml")
    assert render_babeld_conf(again, "relay-a", {"site-link": KEY}) == a


def test_tcp_socket_and_no_lan(inv):
    text = render_babeld_conf(inv, "relay-b")
    assert "local-port 33124\n" in text
    assert "type wired" not in text
    assert "if eth0" not in text


def test_missing_key_value_leaves_key_out_everywhere(inv):
    text = render_babeld_conf(inv, "relay-a")
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert not any(ln.startswith("key ") for ln in body)
    assert not any(" key " in ln for ln in body)
    assert "# key site-link: value not supplied" in text


def test_unused_key_values_are_not_rendered(inv):
    text = render_babeld_conf(inv, "srv-fra", {"site-link": KEY})
    assert KEY not in text and "key" not in text.replace("# ", "")


def test_bad_key_value_error_hides_value(inv):
    with pytest.raises(InventoryError) as info:
        render_babeld_conf(inv, "relay-a", {"site-link": "xyz-secret"})
    assert "xyz-secret" not in str(info.value)
    assert "keys.site-link" in str(info.value)


def test_unknown_node(inv):
    with pytest.raises(InventoryError, match="no node named 'ghost'"):
        render_babeld_conf(inv, "ghost")


def test_hello_overrides_and_formatting():
    inv = parse_inventory(
        {
            "mesh": {"prefix": "fd00:aa::/48", "hello_wired": 60, "hello_tunnel": 60},
            "nodes": {
                "a": {
                    "role": "relay",
                    "address": "fd00:aa::1",
                    "socket": "/run/a.sock",
                    "tunnels": [{"interface": "wg0", "peer": "b", "hello": 1.25}],
                },
                "b": {"role": "server", "site": "x", "address": "fd00:aa::2", "lan": "enp1s0"},
            },
        },
        None,
    )
    a = render_babeld_conf(inv, "a")
    assert "interface wg0 type tunnel hello-interval 1.25\n" in a
    assert "local-path /run/a.sock\n" in a
    b = render_babeld_conf(inv, "b")
    assert "interface enp1s0 type wired hello-interval 60\n" in b
    assert "out ip fd00:aa::/48 eq 128 if enp1s0 allow\n" in b
    assert "from an inventory" in b


@pytest.mark.parametrize(
    ("value", "text"), [(4.0, "4"), (60, "60"), (0.5, "0.5"), (1.25, "1.25"), (0.125, "0.125")]
)
def test_format_seconds(value, text):
    assert format_seconds(value) == text


def test_networkd(inv):
    files = render_networkd(inv, "srv-fra")
    assert set(files) == {"dmesh0.netdev", "dmesh0.network"}
    assert "[NetDev]\nName=dmesh0\nKind=dummy\n" in files["dmesh0.netdev"]
    assert "[Match]\nName=dmesh0\n" in files["dmesh0.network"]
    assert "[Network]\nAddress=fd42:1::12/128\n" in files["dmesh0.network"]
