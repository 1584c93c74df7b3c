"""Tests for babeld.conf and systemd-networkd generation from an inventory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from test_babelconf_harness import judge_files, requires_babeld

from meshtui.cli import main as cli_main
from meshtui.core.babelconf import parse_config
from meshtui.core.confgen import format_seconds, render_babeld_conf, render_networkd
from meshtui.core.inventory import InventoryError, load_inventory, parse_inventory
from meshtui.core.lint import lint_mesh
from meshtui.ops.gen import GenError, generate, keys_used, read_key_values, write_atomic

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


# --- ops.gen and the gen/lint commands ---------------------------------------------

KEY_FILE_VALUE = (DATA / "keys" / "site-link.hex").read_text().strip()


def test_read_key_values_from_file_and_env(inv, tmp_path):
    assert read_key_values(inv, ["site-link"]) == {"site-link": KEY_FILE_VALUE}
    env_inv = parse_inventory(
        {
            "mesh": {"prefix": "fd00:1::/64"},
            "keys": {"k": {"type": "blake2s128", "value_env": "MESHTUI_TEST_KEY"}},
            "nodes": {
                "a": {
                    "role": "relay",
                    "address": "fd00:1::1",
                    "tunnels": [{"interface": "wg0", "peer": "b", "key": "k"}],
                },
                "b": {
                    "role": "relay",
                    "address": "fd00:1::2",
                    "tunnels": [{"interface": "wg0", "peer": "a", "key": "k"}],
                },
            },
        },
        tmp_path / "m.toml",
    )
    assert keys_used(env_inv, ["a"]) == ["k"]
    assert read_key_values(env_inv, ["k"], {"MESHTUI_TEST_KEY": "aabb\n"}) == {"k": "aabb"}
    with pytest.raises(GenError, match="MESHTUI_TEST_KEY is not set"):
        read_key_values(env_inv, ["k"], {})
    with pytest.raises(GenError) as info:
        read_key_values(env_inv, ["k"], {"MESHTUI_TEST_KEY": "secret-not-hex"})
    assert "secret-not-hex" not in str(info.value)


def test_missing_key_file_names_the_file(tmp_path):
    toml = tmp_path / "mesh.toml"
    toml.write_text((DATA / "lab.toml").read_text())
    inv2 = load_inventory(toml)
    with pytest.raises(GenError, match=r"site-link.*cannot read .*keys/site-link.hex"):
        read_key_values(inv2, ["site-link"])


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "d" / "f.conf"
    write_atomic(target, "one\n")
    write_atomic(target, "two\n", 0o600)
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.conf"]


def test_generated_node_repr_hides_files(inv):
    (g,) = generate(inv, ["edge-fra"], {"site-link": KEY})
    assert KEY not in repr(g) and g.has_secret


def test_cli_gen_writes_every_node(inv, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["gen", "--inventory", str(DATA / "lab.toml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert KEY_FILE_VALUE not in printed
    for name in inv.nodes:
        for fname in ("babeld.conf", "dmesh0.netdev", "dmesh0.network"):
            assert (out / name / fname).is_file()
    conf = (out / "edge-fra" / "babeld.conf").read_text()
    assert conf == render_babeld_conf(inv, "edge-fra", {"site-link": KEY_FILE_VALUE})
    assert stat.S_IMODE((out / "edge-fra" / "babeld.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "srv-fra" / "babeld.conf").stat().st_mode) == 0o644


def test_cli_gen_one_node_and_errors(tmp_path, capsys):
    out = tmp_path / "out"
    inv_arg = ["--inventory", str(DATA / "lab.toml")]
    assert cli_main(["gen", *inv_arg, "--node", "srv-ams", "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["srv-ams"]
    assert cli_main(["gen", *inv_arg, "--node", "ghost", "--out", str(out)]) == 1
    assert "no node named 'ghost'" in capsys.readouterr().err
    assert cli_main(["gen", "--inventory", str(tmp_path / "none.toml"), "--out", "x"]) == 1
    assert "none.toml: cannot read" in capsys.readouterr().err


def test_cli_lint_files_and_json(capsys):
    good = DATA.parent / "configs" / "valid" / "generated-edge.conf"
    bad = DATA.parent / "configs" / "invalid" / "seed-typo.conf"
    assert cli_main(["lint", str(good)]) == 0
    assert cli_main(["lint", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:5: error: redistibute: unknown directive 'redistibute'" in out
    assert cli_main(["lint", "--json", str(bad)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] >= 1
    entry = doc["entries"][0]
    assert {"file", "line", "severity", "message", "fix", "kind", "version"} <= set(entry)
    assert cli_main(["lint", str(good), "--babeld-version", "1.10"]) == 1  # keys need 1.11
    assert cli_main(["lint", str(good), "--babeld-version", "9"]) == 1
    assert "--babeld-version" in capsys.readouterr().err


def test_cli_lint_inventory(tmp_path, capsys):
    inv_arg = ["--inventory", str(DATA / "lab.toml")]
    assert cli_main(["lint", *inv_arg]) == 0
    nft = tmp_path / "ruleset.nft"
    nft.write_text(
        "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        "  udp dport 6696 accept\n }\n}\n"
    )
    assert cli_main(["lint", *inv_arg, "--nft", f"edge-fra={nft}"]) == 3  # babeld runs; open
    out = capsys.readouterr().out
    assert f"{nft}:4: security: [edge-fra] input chain input accepts UDP 6696" in out


def test_generated_lab_configs_pass_lint(inv):
    configs = {
        n: parse_config(render_babeld_conf(inv, n, {"site-link": KEY}), n, "1.12")
        for n in inv.nodes
    }
    for parsed in configs.values():
        assert parsed.ok and not parsed.warnings, [d.format() for d in parsed.diagnostics]
    assert lint_mesh(inv, configs) == []


@requires_babeld
def test_real_babeld_accepts_generated_configs(inv):
    items = []
    for g in generate(inv, None, {"site-link": KEY}):
        node = inv.nodes[g.name]
        text = g.files["babeld.conf"]
        if isinstance(node.socket, str):  # one socket path per run: they run in parallel
            text = text.replace(f"local-path {node.socket}", "local-path @RUNDIR@/babeld.sock")
        items.append((g.name, text))
    verdicts = judge_files(items)
    bad = {n: v.stderr for n, v in verdicts.items() if not v.accepted}
    assert not bad
    assert os.geteuid() == 0
