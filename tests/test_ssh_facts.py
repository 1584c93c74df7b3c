"""Facts beyond babeld: parsers (pure), interpretation of command results, and on the lab
the same facts over SSH and locally through pyroute2."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshtui.core.facts import (
    FactError,
    NodeFacts,
    normalise_prefix,
    parse_ip_addrs,
    parse_ip_links,
    parse_ip_routes,
    parse_journal,
    parse_service_state,
    parse_wg_dump,
)
from meshtui.transport.facts import (
    COMMANDS,
    batch_script,
    gather_local_facts,
    interpret,
    split_batch,
)
from meshtui.transport.ssh import CommandResult

ROUTES = json.dumps(
    [
        {"dst": "fd42:1::b1", "gateway": "fe80::f1", "dev": "wg-r1", "protocol": "babel",
         "metric": 1024, "flags": ["onlink"], "pref": "medium"},
        {"type": "unreachable", "dst": "fd42:1::a1", "dev": "lo", "protocol": "babel",
         "metric": 1024, "flags": [], "pref": "medium"},
        {"dst": "fd42:1::/64", "dev": "eth0", "protocol": "kernel", "metric": 256, "flags": []},
        {"dst": "default", "protocol": "static", "metric": 1024, "flags": [],
         "nexthops": [{"gateway": "fe80::1", "dev": "eth0", "weight": 1, "flags": []}]},
        {"type": "local", "dst": "fd42:1::e1", "dev": "lo", "table": "local",
         "protocol": "kernel", "metric": 0, "flags": []},
    ]
)  # fmt: skip
LINKS = json.dumps(
    [
        {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
         "operstate": "UNKNOWN", "link_type": "loopback", "address": "00:00:00:00:00:00"},
        {"ifindex": 7, "ifname": "wg-r1", "flags": ["POINTOPOINT", "NOARP", "UP", "LOWER_UP"],
         "mtu": 1420, "operstate": "UNKNOWN", "link_type": "none",
         "linkinfo": {"info_kind": "wireguard"}},
        {"ifindex": 8, "ifname": "eth1", "flags": ["BROADCAST", "MULTICAST"], "mtu": 1500,
         "operstate": "DOWN", "link_type": "ether"},
    ]
)  # fmt: skip
ADDRS = json.dumps(
    [
        {"ifindex": 7, "ifname": "wg-r1", "addr_info": [
            {"family": "inet6", "local": "fe80::e1", "prefixlen": 64, "scope": "link"}]},
        {"ifindex": 1, "ifname": "lo", "addr_info": [
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"},
            {"family": "inet6", "local": "fd42:1::e1", "prefixlen": 128, "scope": "global"}]},
    ]
)  # fmt: skip
PRIVATE = "cHJpdmF0ZS1rZXktbmV2ZXIta2VwdC1ieS1tZXNodHVpLTAwMDA="
PSK = "cHJlc2hhcmVkLWtleS1uZXZlci1rZXB0LWJ5LW1lc2h0dWktMDA="
WG_DUMP = (
    f"wg-r1\t{PRIVATE}\tUFVCTElDLWtleS1vZi13Zy1yMS0wMDAwMDAwMDAwMDAwMDA=\t51821\toff\n"
    f"wg-r1\tUEVFUi1rZXktb2YtcmVsYXktMS0wMDAwMDAwMDAwMDAwMDA=\t{PSK}\t[fd00:1::2]:51901\t"
    "::/0,fd42:1::/64\t1795618028\t18188\t18884\t25\n"
    f"wg-r2\t{PRIVATE}\tUFVCTElDLWtleS1vZi13Zy1yMi0wMDAwMDAwMDAwMDAwMDA=\t51822\toff\n"
    "wg-r2\tUEVFUi1rZXktb2YtcmVsYXktMi0wMDAwMDAwMDAwMDAwMDA=\t(none)\t(none)\t(none)\t0\t0\t0\toff\n"
)


def test_kernel_routes() -> None:
    routes = parse_ip_routes(ROUTES)
    babel = [r for r in routes if r.is_babel]
    assert [(r.prefix, r.type, r.gateway, r.dev) for r in babel] == [
        ("fd42:1::b1/128", "unicast", "fe80::f1", "wg-r1"),
        ("fd42:1::a1/128", "unreachable", None, "lo"),
    ]
    assert babel[0].table == "main" and babel[0].forwards and not babel[1].forwards
    default = next(r for r in routes if r.prefix == "::/0")
    assert (default.gateway, default.dev) == ("fe80::1", "eth0")
    assert next(r for r in routes if r.type == "local").table == "local"
    facts = NodeFacts("edge-a", 0.0, routes=routes)
    assert facts.has_kernel_route("fd42:1::b1/128", "fe80::f1", "wg-r1") is True
    assert facts.has_kernel_route("fd42:1::a1/128", None, None) is False  # unreachable only
    assert NodeFacts("x", 0.0).has_kernel_route("fd42:1::b1/128", None, None) is None


def test_links_addresses_and_link_locals() -> None:
    links = parse_ip_links(LINKS)
    assert [(x.name, x.kind, x.up) for x in links] == [
        ("lo", None, True),
        ("wg-r1", "wireguard", True),
        ("eth1", None, False),
    ]
    addrs = parse_ip_addrs(ADDRS)
    facts = NodeFacts("edge-a", 0.0, links=links, addresses=addrs)
    assert facts.link_locals() == {"wg-r1": ["fe80::e1"]}
    assert facts.link("eth1") is not None and facts.link("eth9") is None


def test_wireguard_dump_keeps_no_private_or_preshared_key() -> None:
    wg = parse_wg_dump(WG_DUMP)
    assert [w.name for w in wg] == ["wg-r1", "wg-r2"]
    peer = wg[0].peers[0]
    assert peer.endpoint == "[fd00:1::2]:51901" and peer.allowed_ips == ("::/0", "fd42:1::/64")
    assert peer.keepalive == 25 and peer.handshake_age(1795618030.0) == 2.0
    idle = wg[1].peers[0]
    assert idle.endpoint is None and idle.allowed_ips == () and idle.handshake_age(1.0) is None
    facts = NodeFacts("edge-a", 0.0, wireguard=wg, links=parse_ip_links(LINKS))
    everything = repr(wg) + json.dumps(facts.to_json())
    assert PRIVATE not in everything and PSK not in everything
    # Only the node's own interfaces (wireguard-go's sockets may be shared between namespaces).
    assert [w["name"] for w in facts.to_json()["wireguard"]] == ["wg-r1"]


def test_bad_output_is_a_fact_error_naming_the_fact() -> None:
    with pytest.raises(FactError, match="^routes: not JSON"):
        parse_ip_routes("Error: ipv6 is disabled")
    with pytest.raises(FactError, match="^links: expected a JSON list"):
        parse_ip_links('{"ifname": "lo"}')
    with pytest.raises(FactError, match="line 1: 3 columns") as info:
        parse_wg_dump(f"wg0\t{PRIVATE}\tx\n")
    assert PRIVATE not in str(info.value)


def test_service_log_and_prefixes() -> None:
    assert parse_service_state("active\n").running  # type: ignore[union-attr]
    assert parse_service_state("failed\n").state == "failed"  # type: ignore[union-attr]
    assert parse_service_state("", "System has not been booted with systemd") is None
    text = (
        "-- No entries --\n-- Boot 3f2a --\nHint: You are currently not seeing messages\n"
        + "\n".join(f"line {i}" for i in range(60))
    )
    assert parse_journal(text) == [f"line {i}" for i in range(10, 60)]
    assert normalise_prefix("default") == "::/0"
    assert normalise_prefix("fd42:1:0::b1") == "fd42:1::b1/128"
    assert normalise_prefix("fd42:1::/64") == "fd42:1::/64"


@pytest.mark.parametrize(
    ("fact", "result", "field", "expected"),
    [
        ("wireguard", ("", "bash: line 1: wg: command not found", 127), "unavailable",
         "not available: wg is not installed"),
        ("service", ("", "System has not been booted with systemd as init system (PID 1).", 1),
         "unavailable", "not available: systemd is not running"),
        ("service", ("inactive\n", "", 3), "service", "inactive"),
        ("log", ("", "Failed to get journal access", 1), "unavailable",
         "not available: Failed to get journal access"),
        ("routes", ("", "Error: something broke", 2), "errors",
         "`ip -j -6 route show table all`: Error: something broke"),
        ("wireguard", ("", "Unable to access interface: Operation not permitted", 1),
         "unavailable", "not available: Unable to access interface: Operation not permitted"),
    ],
)  # fmt: skip
def test_interpret_missing_tools_as_not_available(
    fact: str, result: tuple[str, str, int], field: str, expected: str
) -> None:
    out = NodeFacts("n", 0.0)
    stdout, stderr, status = result
    interpret(fact, CommandResult(COMMANDS[fact], status, stdout, stderr), out)
    value = getattr(out, field)
    if isinstance(value, dict):
        assert value == {fact: expected}
    else:
        assert getattr(value, "state", value) == expected


def test_one_session_batch_keeps_each_commands_output_stderr_and_status() -> None:
    nonce = "@@meshtui-test"
    output = (
        f"{nonce} begin routes\n{ROUTES}\n{nonce} stderr routes 0\n\n{nonce} end routes\n"
        f"{nonce} begin wireguard\n\n{nonce} stderr wireguard 127\n"
        f"sh: 1: wg: not found\n{nonce} end wireguard\n"
        f"{nonce} begin log\nno newline at the end\n{nonce} stderr log 0\n\n{nonce} end log\n"
    )
    results = split_batch(output, nonce)
    assert set(results) == {"routes", "wireguard", "log"}
    assert results["routes"].stdout == ROUTES and results["routes"].exit_status == 0
    assert results["wireguard"].exit_status == 127
    assert results["wireguard"].stderr == "sh: 1: wg: not found"
    assert results["log"].stdout == "no newline at the end"
    facts = NodeFacts("n", 0.0)
    for fact, result in results.items():
        interpret(fact, result, facts)
    assert facts.routes and facts.unavailable == {"wireguard": "not available: wg is not installed"}


def test_batch_script_runs_under_posix_sh() -> None:
    nonce = "@@meshtui-sh"
    script = batch_script(["routes", "service"], nonce)
    assert "ip -j -6 route show table all 1>&3" in script
    proc = subprocess.run(
        ["sh", "-c", script.replace("ip -j -6 route show table all", "printf '[]'"), "x"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    results = split_batch(proc.stdout, nonce)
    assert results["routes"].stdout == "[]" and results["routes"].exit_status == 0
    assert results["service"].exit_status is not None


def test_commands_are_read_only_argv() -> None:
    for argv in COMMANDS.values():
        assert argv[0] in ("ip", "wg", "systemctl", "journalctl")
        assert not {"add", "del", "delete", "set", "flush", "restart", "stop", "start"} & set(argv)


# ------------------------------------------------------------------ lab


@pytest.mark.lab
def test_remote_facts_match_local_pyroute2_facts(lab) -> None:  # noqa: ANN001 - fixture
    from meshtui.core.inventory import load_inventory
    from meshtui.transport.facts import fetch_remote_facts
    from meshtui.transport.ssh import SSHPool, SSHSettings

    inv = load_inventory(lab.inventory_path)
    node = "edge-a"
    settings = SSHSettings(
        known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=()
    )

    async def remote() -> NodeFacts:
        pool = SSHPool(settings)
        try:
            return await fetch_remote_facts(pool, inv.node(node))
        finally:
            await pool.close()

    def routes(f: NodeFacts) -> set:
        return {(r.prefix, r.type, r.gateway, r.dev, r.protocol, r.table) for r in f.routes or []}

    def netlink() -> dict[str, Any]:
        """pyroute2 in the node's own namespace: a process started there (no NetNS fork)."""
        code = (
            "import json; from meshtui.transport.facts import gather_local_facts; "
            f"print(json.dumps(gather_local_facts({node!r}, ['routes', 'links', 'addresses'])"
            ".to_json()))"
        )
        ns = lab.node(node).namespace
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", code],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(out.stdout)

    def json_routes(f: dict[str, Any]) -> set:
        return {
            (r["prefix"], r["type"], r["gateway"], r["dev"], r["protocol"], r["table"])
            for r in f["routes"] or []
        }

    # All read the kernel at nearly the same moment; babeld may change a route in between.
    for _attempt in range(5):
        rf = asyncio.run(remote())
        lf = gather_local_facts(node, netns=lab.node(node).namespace)  # ip -j, netns exec
        nf = netlink()
        if routes(rf) == routes(lf) == json_routes(nf):
            break
    assert rf.errors == {} and lf.errors == {} and nf["errors"] == {}
    assert routes(rf) == routes(lf) == json_routes(nf)
    links = {(x.name, x.kind, x.up) for x in rf.links or []}
    assert links == {(x.name, x.kind, x.up) for x in lf.links or []}
    assert links == {(x["name"], x["kind"], x["up"]) for x in nf["links"]}
    addresses = {(a.interface, a.address) for a in rf.addresses or []}
    assert addresses == {(a.interface, a.address) for a in lf.addresses or []}
    assert addresses == {(a["interface"], a["address"]) for a in nf["addresses"]}
    tunnels = {t.interface for t in lab.node(node).tunnels}
    assert {w.name for w in rf.scoped_wireguard() or []} == tunnels
    assert {w.name for w in lf.scoped_wireguard() or []} == tunnels
    assert all(w.peers for w in rf.scoped_wireguard() or [])
    address = lab.address("srv-b1")
    babel = rf.kernel_routes(f"{address}/128", babel_only=True)
    assert babel and babel[0].forwards
    # No systemd in a lab namespace: reported, not an error.
    assert "service" in rf.unavailable and rf.service is None


@pytest.mark.lab
def test_a_lab_nodes_shell_does_not_run_this_machines_bashrc(lab) -> None:  # noqa: ANN001
    """A command over SSH on a lab node runs bash, which sources ``~/.bashrc``: the node
    sees an empty one, not this machine's (which may start anything: pyenv's init cost
    ~150 ms and ~100 processes a command). The machine's own file is untouched."""
    from meshtui.core.inventory import load_inventory
    from meshtui.transport.ssh import SSHPool, SSHSettings

    rc = Path.home() / ".bashrc"
    if not rc.is_file():
        pytest.skip(f"no {rc} on this machine: nothing a node could run")
    inv = load_inventory(lab.inventory_path)
    settings = SSHSettings(
        known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=()
    )

    async def remote() -> tuple[str, str]:
        pool = SSHPool(settings)
        try:
            seen = await pool.run(inv.node("edge-a"), ["wc", "-c", str(rc)])
            home = await pool.run(inv.node("edge-a"), ["sh", "-c", 'echo "$HOME"'])
            return seen.stdout, home.stdout
        finally:
            await pool.close()

    seen, home = asyncio.run(remote())
    assert home.strip() == str(Path.home())  # the node's root is this machine's root...
    assert seen.split()[0] == "0"  # ...but its shell set-up is empty
    assert rc.stat().st_size > 0  # and the machine's own file is as it was
