"""Deploy without a lab: diffs and redaction, order, budgets, node scripts, audit log, read-only.

The rollback script is run for real here with ``sh`` in a temporary directory
(the same script the node runs), so its claim/restore logic is tested without
SSH; the lab tests (test_deploy_lab.py) run it on real nodes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshtui.cli import main
from meshtui.core.inventory import Inventory, InventoryError, parse_inventory
from meshtui.ops.audit import (
    AuditRecord,
    ReadOnlyError,
    append_audit,
    audit_log_path,
    read_audit,
    read_only_setting,
    refuse_if_read_only,
    scrub,
)
from meshtui.ops.deploy import (
    AutoOperator,
    Change,
    DeployPaths,
    Expectations,
    Verification,
    config_diff,
    deploy_order,
    diff_sha256,
    expectations_from,
    lint_config_text,
    redact,
    restart_argv,
    rollback_script,
    verify_budget,
)

KEY = "a1b2c3d4" * 8  # 32 bytes of "secret" hex


def inventory(tmp_path: Path, **node_overrides: dict) -> Inventory:
    nodes = {
        "relay-1": {"role": "relay", "address": "fd42:1::f1", "tunnels": [
            {"interface": "wg-a", "peer": "edge-a", "key": "site"},
            {"interface": "wg-b", "peer": "edge-b", "hello": 2.0},
        ]},
        "relay-2": {"role": "relay", "address": "fd42:1::f2", "tunnels": [
            {"interface": "wg-a", "peer": "edge-a"},
        ]},
        "edge-a": {"role": "edge", "site": "a", "address": "fd42:1::a", "lan": "eth0",
                   "tunnels": [{"interface": "wg-r1", "peer": "relay-1", "key": "site"},
                               {"interface": "wg-r2", "peer": "relay-2"}]},
        "srv-a1": {"role": "server", "site": "a", "address": "fd42:1::a1", "lan": "eth0",
                   "lan_hello": 6.0},
        "edge-b": {"role": "edge", "site": "b", "address": "fd42:1::b", "lan": "eth0",
                   "tunnels": [{"interface": "wg-r1", "peer": "relay-1", "hello": 3.0}]},
        "srv-b1": {"role": "server", "site": "b", "address": "fd42:1::b1", "lan": "eth0"},
    }  # fmt: skip
    for name, fields in node_overrides.items():
        nodes[name].update(fields)
    data = {
        "mesh": {"prefix": "fd42:1::/64", "hello_wired": 1.0, "hello_tunnel": 1.0},
        "keys": {"site": {"type": "hmac-sha256", "value_env": "MESHTUI_TEST_KEY"}},
        "nodes": nodes,
    }
    return parse_inventory(data, tmp_path / "mesh.toml")


# --------------------------------------------------------------------- diff, redaction


def test_redact_hides_key_values_only() -> None:
    text = f"key id site type hmac-sha256 value {KEY}\ninterface wg-a key site\n"
    out = redact(text)
    assert KEY not in out
    assert "key id site type hmac-sha256 value <redacted>" in out
    assert "interface wg-a key site" in out


def test_config_diff_is_redacted_and_empty_when_identical(tmp_path: Path) -> None:
    from meshtui.core.confgen import render_babeld_conf

    inv = inventory(tmp_path)
    old = render_babeld_conf(inv, "relay-1", {"site": "00" * 32})
    new = render_babeld_conf(inv, "relay-1", {"site": KEY})
    assert config_diff(new, new, "relay-1:/etc/babeld.conf") == ""
    diff = config_diff(old, new, "relay-1:/etc/babeld.conf")
    assert diff.startswith("--- relay-1:/etc/babeld.conf (deployed)\n+++ ")
    assert KEY not in diff and "00" * 32 not in diff
    # the key line changed, and both sides read the same once redacted
    assert "-key id site type hmac-sha256 value <redacted>" in diff
    assert "+key id site type hmac-sha256 value <redacted>" in diff
    assert diff_sha256(diff) == diff_sha256(diff) and len(diff_sha256(diff)) == 64
    created = config_diff(None, new, "x:/etc/babeld.conf")
    assert "(absent)" in created and KEY not in created


def test_config_diff_marks_missing_final_newline() -> None:
    diff = config_diff("a\nb", "a\nc\n", "n:/f")
    assert "\\ No newline at end of file" in diff


# --------------------------------------------------------------------- order, budget


def test_order_servers_edges_relays(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    order = deploy_order(inv, ["relay-2", "edge-b", "srv-b1", "relay-1", "edge-a", "srv-a1"])
    assert order == ["srv-a1", "srv-b1", "edge-a", "edge-b", "relay-1", "relay-2"]
    assert deploy_order(inv, ["relay-1", "relay-1", "edge-a"]) == ["edge-a", "relay-1"]
    with pytest.raises(InventoryError, match="no node named 'nope'"):
        deploy_order(inv, ["nope"])


def test_verify_budget_uses_the_longest_relevant_hello(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    # relay-1: its own tunnels 1 s and 2 s, edge-b's tunnel towards it 3 s
    assert verify_budget(inv, "relay-1", margin=10) == pytest.approx(3 * 3.0 + 10)
    # edge-a: its LAN neighbour srv-a1 says hello every 6 s
    assert verify_budget(inv, "edge-a", margin=0) == pytest.approx(18.0)
    # relay-2: only 1 s hellos on both ends
    assert verify_budget(inv, "relay-2", margin=5) == pytest.approx(8.0)


def test_restart_argv_is_split_and_checked(tmp_path: Path) -> None:
    inv = inventory(tmp_path, **{"srv-a1": {"restart_command": "rc-service 'babel d' restart"}})
    assert restart_argv(inv.node("srv-a1")) == ["rc-service", "babel d", "restart"]
    assert restart_argv(inv.node("srv-b1")) == ["systemctl", "restart", "babeld"]
    bad = inventory(tmp_path, **{"srv-a1": {"restart_command": "systemctl 'restart babeld"}})
    with pytest.raises(InventoryError, match="restart_command"):
        restart_argv(bad.node("srv-a1"))


def test_paths_stay_in_the_config_directory() -> None:
    p = DeployPaths.of("/etc/babeld.conf", "20250101T000000Z-abcdef", "20250101T000000Z")
    assert p.backup == "/etc/babeld.conf.bak.20250101T000000Z"
    for path in (p.write_tmp, p.backup_tmp, p.restore_tmp, p.marker, p.deadline, p.result):
        assert path.startswith("/etc/.babeld.conf.meshtui-20250101T000000Z-abcdef.")
    assert p.unit == "meshtui-rollback-20250101T000000Z-abcdef"


def test_expectations_from_a_dump() -> None:
    from meshtui.core.model import NodeModel

    model = NodeModel(announce=False)
    lines = [
        "add neighbour 1 address fe80::1 if wg0 reach ffff ureach 0000 rxcost 96 txcost 96 cost 96",
        "add neighbour 2 address fe80::2 if wg1 reach 0000 ureach 0000 rxcost 65535 "
        "txcost 65535 cost 65535",
        "add route 3 prefix fd42:1::b/128 from ::/0 installed yes id 02:00:00:00:00:00:00:02 "
        "metric 96 refmetric 0 via fe80::1 if wg0",
        "add route 4 prefix fd42:1::c/128 from ::/0 installed no id 02:00:00:00:00:00:00:03 "
        "metric 200 refmetric 0 via fe80::1 if wg0",
    ]
    for line in lines:
        model.feed(line, 1.0)
    model.commit(1.0)
    expect = expectations_from(model)
    assert expect.baseline
    assert expect.neighbours == {("wg0", "fe80::1")}
    assert expect.destinations == {"fd42:1::b/128"}
    assert expectations_from(None) == Expectations()


def test_verification_summary_names_what_is_missing() -> None:
    v = Verification(
        ok=False,
        socket=True,
        elapsed=9.5,
        timeout=9.5,
        neighbours_back=("fe80::1 on wg0",),
        neighbours_missing=("fe80::2 on wg1",),
        destinations_back=(),
        destinations_missing=("edge-b (fd42:1::b/128)",),
    )
    lines = v.lines()
    assert lines[0].startswith("NOT verified after 9.5 s: socket answers; neighbours 1/2 up")
    assert "fe80::2 on wg1" in lines[1] and "edge-b" in lines[2]
    dead = Verification(ok=False, socket=False, elapsed=3, timeout=3, error="no socket")
    assert "did not answer" in dead.summary()


def test_auto_operator_confirms_only_verified_changes() -> None:
    change = Change("id", "n", "server", "a", "/etc/babeld.conf", "", "")
    ok = Verification(ok=True, socket=True, elapsed=1, timeout=5)
    bad = Verification(ok=False, socket=True, elapsed=5, timeout=5)
    auto = AutoOperator()
    assert asyncio.run(auto.approve(change))
    assert asyncio.run(auto.confirm(change, ok))
    assert not asyncio.run(auto.confirm(change, bad))


# --------------------------------------------------------------------- lint


def test_lint_errors_name_file_and_line(tmp_path: Path) -> None:
    inv = inventory(tmp_path)
    text = "local-path /run/babeld.sock\ninterface eth0 hello-interval 0\nin deny\nout deny\n"
    entries = lint_config_text(inv, "srv-b1", text)
    errors = [e for e in entries if e.error]
    assert errors
    assert errors[0].text().startswith("srv-b1:/etc/babeld.conf:2: error:")


def test_lint_warns_about_interfaces_the_node_lacks(tmp_path: Path) -> None:
    from meshtui.core.confgen import render_babeld_conf
    from meshtui.core.facts import Link, NodeFacts

    inv = inventory(tmp_path)
    text = render_babeld_conf(inv, "srv-b1")
    facts = NodeFacts(node="srv-b1", time=0, links=[Link("lo", 1), Link("eth1", 2)])
    entries = lint_config_text(inv, "srv-b1", text, facts)
    missing = [e for e in entries if e.kind == "deploy"]
    assert missing and "interface eth0 does not exist on srv-b1" in missing[0].message
    assert not any(e.error for e in entries)  # a warning: it does not block


# --------------------------------------------------------------------- the node's script


def script_for(tmp_path: Path, *, backup: bool = True, restart: list[str] | None = None):
    cfg = tmp_path / "babeld.conf"
    paths = DeployPaths.of(str(cfg), "ID", "STAMP")
    restart = restart or ["sh", "-c", f"echo restarted >> '{tmp_path / 'restarted'}'"]
    Path(paths.script).write_text(rollback_script(paths, backup, "ID", restart))
    return cfg, paths


def run_rollback(tmp_path: Path, deadline: int, *, backup: bool = True) -> Path:
    """Run the node-side rollback script in tmp_path; returns the config path."""
    cfg, paths = script_for(tmp_path, backup=backup)
    cfg.write_text("new\n")
    Path(paths.backup).write_text("old\n")
    os.chmod(paths.backup, 0o640)
    Path(paths.marker).write_text("armed\n")
    Path(paths.deadline).write_text(f"{deadline}\n")
    Path(paths.write_tmp).write_text("partial")
    subprocess.run(["sh", paths.script], check=True, timeout=30)
    return cfg


def test_rollback_script_quotes_every_path(tmp_path: Path) -> None:
    odd = tmp_path / "it's a $dir `x`"
    odd.mkdir()
    cfg, paths = script_for(odd, restart=["sh", "-c", f"echo 'ok; $x' > {odd / 'restarted'!s}"])
    cfg.write_text("new\n")
    Path(paths.backup).write_text("old\n")
    Path(paths.marker).write_text("armed\n")
    Path(paths.deadline).write_text("0\n")
    subprocess.run(["sh", paths.script], check=True, timeout=30)
    assert cfg.read_text() == "old\n"
    assert not Path(paths.script).exists()  # it removes itself


def test_rollback_script_restores_atomically_and_reports(tmp_path: Path) -> None:
    cfg = run_rollback(tmp_path, deadline=0)
    paths = DeployPaths.of(str(cfg), "ID", "STAMP")
    assert cfg.read_text() == "old\n"
    assert oct(cfg.stat().st_mode & 0o777) == oct(0o640)  # cp -p kept the backup's mode
    assert (tmp_path / "restarted").read_text() == "restarted\n"
    result = Path(paths.result).read_text()
    assert result.startswith("rolled-back ") and "restore=0 restart=0" in result
    for gone in (paths.marker, paths.deadline, paths.write_tmp, paths.marker + ".fired"):
        assert not Path(gone).exists()


def test_rollback_script_does_nothing_once_disarmed(tmp_path: Path) -> None:
    cfg, paths = script_for(tmp_path, restart=["false"])
    cfg.write_text("new\n")
    Path(paths.deadline).write_text("3600\n")
    # no marker: disarmed (the deployer unlinked it first)
    subprocess.run(["sh", paths.script], check=True, timeout=30)
    assert cfg.read_text() == "new\n"
    assert not Path(paths.result).exists()


def test_rollback_script_waits_for_its_deadline_then_fires(tmp_path: Path) -> None:
    cfg, paths = script_for(tmp_path)
    cfg.write_text("new\n")
    Path(paths.backup).write_text("old\n")
    Path(paths.marker).write_text("armed\n")
    Path(paths.deadline).write_text("2\n")  # seconds after the file's mtime (node clock)
    proc = subprocess.Popen(["sh", paths.script])
    assert cfg.read_text() == "new\n"  # not yet
    assert proc.wait(timeout=30) == 0
    assert cfg.read_text() == "old\n"


def test_rollback_script_without_previous_config_moves_the_new_one_aside(tmp_path: Path) -> None:
    cfg = run_rollback(tmp_path, deadline=0, backup=False)
    paths = DeployPaths.of(str(cfg), "ID", "STAMP")
    assert not cfg.exists()
    assert Path(paths.rejected).read_text() == "new\n"


# --------------------------------------------------------------------- audit log


def test_audit_lines_are_json_and_never_hold_key_values(tmp_path: Path) -> None:
    log = tmp_path / "state" / "meshtui" / "audit.log"
    for i in range(3):
        append_audit(
            AuditRecord(
                node=f"n{i}",
                deploy_id="d",
                result="confirmed",
                rolled_back=False,
                config_path="/etc/babeld.conf",
                diff_sha256="ab" * 32,
                detail=f"key id k type hmac-sha256 value {KEY}; raw {KEY}",
            ),
            log,
        )
    text = log.read_text()
    assert KEY not in text
    records = read_audit(log)
    assert [r["node"] for r in records] == ["n0", "n1", "n2"]
    assert records[0]["diff_sha256"] == "ab" * 32
    assert set(records[0]) >= {"time", "node", "diff_sha256", "result", "rolled_back", "user"}
    assert oct(log.stat().st_mode & 0o777) == oct(0o600)
    assert scrub(f"value {KEY}") == "value <redacted>"


def test_audit_appends_from_many_processes_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    code = (
        "import sys; from pathlib import Path; "
        "from meshtui.ops.audit import AuditRecord, append_audit\n"
        "for i in range(50):\n"
        "    append_audit(AuditRecord(node=sys.argv[1], deploy_id=str(i), result='confirmed', "
        "rolled_back=False, config_path='/etc/babeld.conf', detail='x' * 2000), Path(sys.argv[2]))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, f"p{i}", str(log)]) for i in range(4)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["detail"] == "x" * 2000 for line in lines)


def test_audit_path_follows_xdg_state_home(tmp_path: Path) -> None:
    assert audit_log_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "meshtui/audit.log"
    assert audit_log_path({"HOME": "/home/x"}) == Path("/home/x/.local/state/meshtui/audit.log")


# --------------------------------------------------------------------- read-only


def test_read_only_sources(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert not read_only_setting(env={}, config=config).enabled
    assert read_only_setting(True, env={}, config=config).source == "--read-only"
    assert read_only_setting(env={"MESHTUI_READ_ONLY": "1"}, config=config).enabled
    assert not read_only_setting(env={"MESHTUI_READ_ONLY": "0"}, config=config).enabled
    with pytest.raises(ReadOnlyError, match="not a boolean"):
        read_only_setting(env={"MESHTUI_READ_ONLY": "maybe"}, config=config)
    config.write_text("[meshtui]\nread_only = true\n")
    setting = read_only_setting(env={}, config=config)
    assert setting.enabled and str(config) in setting.source
    config.write_text("[meshtui]\nread_only = 'yes'\n")
    with pytest.raises(ReadOnlyError, match="meshtui.read_only"):
        read_only_setting(env={}, config=config)
    config.write_text("[meshtui\n")
    with pytest.raises(ReadOnlyError, match="cannot read the settings"):
        read_only_setting(env={}, config=config)
    config.write_text("[meshtui]\nread_only = false\n")
    refuse_if_read_only("deploy", env={}, config=config)  # allowed
    with pytest.raises(ReadOnlyError, match="read-only mode .--read-only.: deploy writes"):
        refuse_if_read_only("deploy", True, env={}, config=config)


def test_cli_deploy_refuses_in_read_only_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MESHTUI_READ_ONLY", raising=False)
    inv = tmp_path / "mesh.toml"
    inv.write_text('[mesh]\nprefix = "fd42:1::/64"\n[nodes.a]\nrole = "relay"\n'
                   'address = "fd42:1::1"\nssh = "root@fd42:1::1"\n'
                   '[[nodes.a.tunnels]]\ninterface = "wg0"\npeer = "b"\n'
                   '[nodes.b]\nrole = "relay"\naddress = "fd42:1::2"\n'
                   '[[nodes.b.tunnels]]\ninterface = "wg0"\npeer = "a"\n')  # fmt: skip
    assert main(["deploy", "--inventory", str(inv), "--read-only", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "read-only mode (--read-only): `meshtui deploy` writes to nodes and is refused" in err
    assert "--dry-run" in err
    settings = tmp_path / "config" / "meshtui" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text("[meshtui]\nread_only = true\n")
    assert main(["deploy", "--inventory", str(inv), "--yes"]) == 1
    assert f"read-only mode ({settings}: [meshtui] read_only = true)" in capsys.readouterr().err
    settings.unlink()
    monkeypatch.setenv("MESHTUI_READ_ONLY", "yes")
    assert main(["deploy", "--inventory", str(inv), "--yes"]) == 1
    assert "MESHTUI_READ_ONLY" in capsys.readouterr().err
    assert not (tmp_path / "state" / "meshtui" / "audit.log").exists()  # nothing happened


def test_cli_deploy_needs_yes_without_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MESHTUI_READ_ONLY", raising=False)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115
    inv = tmp_path / "mesh.toml"
    inv.write_text('[mesh]\nprefix = "fd42:1::/64"\n[nodes.a]\nrole = "server"\nsite = "x"\n'
                   'address = "fd42:1::1"\nlan = "eth0"\n')  # fmt: skip
    assert main(["deploy", "--inventory", str(inv)]) == 1
    assert "stdin is not a terminal: pass --yes" in capsys.readouterr().err
    assert main(["deploy", "--inventory", str(inv), "--node", "zz", "--yes"]) == 1
    assert "no node named 'zz'" in capsys.readouterr().err
    assert main(["deploy", "--inventory", str(inv), "--confirm-timeout", "0", "--yes"]) == 1
    assert "--confirm-timeout must be a positive" in capsys.readouterr().err


def test_prompt_reads_a_line_without_blocking_the_loop() -> None:
    from meshtui.commands.deploy import _read_line

    r, w = os.pipe()
    reader = os.fdopen(r, "r")

    async def scenario() -> tuple[str | None, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        asyncio.get_running_loop().call_later(0.2, os.write, w, b"yes\n")
        line = await asyncio.wait_for(_read_line(reader), 10)
        task.cancel()
        return line, ticks

    try:
        line, ticks = asyncio.run(scenario())
    finally:
        reader.close()
        os.close(w)
    assert line == "yes"
    assert ticks > 3  # the loop kept running while the prompt waited


def arm(tmp_path: Path, kind: str, seconds: int, env: dict[str, str] | None = None):
    from meshtui.ops.deploy.scripts import ARM_SCRIPT as _ARM_SCRIPT

    cfg, paths = script_for(tmp_path)
    cfg.write_text("new\n")
    Path(paths.backup).write_text("old\n")
    res = subprocess.run(
        ["sh", "-c", _ARM_SCRIPT, "meshtui", str(seconds), paths.marker, paths.deadline,
         "info", kind, paths.unit, paths.script],
        capture_output=True, text=True, timeout=30, env=env, check=False,
    )  # fmt: skip
    return cfg, paths, res


def test_arming_detached_starts_a_timer_that_fires_by_itself(tmp_path: Path) -> None:
    cfg, paths, res = arm(tmp_path, "detached", 1)
    assert res.returncode == 0 and res.stdout.startswith("armed "), res.stderr
    assert Path(paths.marker).read_text() == "info\n"
    assert Path(paths.deadline).read_text() == "1\n"  # seconds after the file's mtime
    deadline = time.monotonic() + 30
    while not Path(paths.result).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cfg.read_text() == "old\n"
    assert "restore=0 restart=0" in Path(paths.result).read_text()


def test_arming_with_systemd_asks_for_a_transient_timer(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    (fake / "systemd-run").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {calls}\n')
    (fake / "systemd-run").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    cfg, paths, res = arm(tmp_path, "systemd", 19, env)
    assert res.returncode == 0, res.stderr
    argv = calls.read_text().splitlines()
    assert f"--unit={paths.unit}" in argv
    assert "--on-active=19s" in argv
    assert argv[-2:] == ["/bin/sh", paths.script]
    assert cfg.read_text() == "new\n"  # nothing fires: the fake systemd never runs it


# --------------------------------------------------------------------- the phase helper


def test_a_phase_is_timed_then_hooked_and_a_failing_one_is_neither(tmp_path: Path) -> None:
    from meshtui.ops.deploy import Deployer, DeployPaths, NodeReport, Phase
    from meshtui.ops.deploy.deployer import _Ctx
    from meshtui.transport.sftp import NodeFailure, SFTPSession
    from meshtui.transport.ssh import SSHPool

    inv = inventory(tmp_path)
    node = inv.node("srv-b1")
    report = NodeReport(node.name, "d1", node.config_path)
    pool = SSHPool()
    ctx = _Ctx(node, report, SFTPSession(pool, node), DeployPaths.of(node.config_path, "d1", "s"))
    seen: list[tuple[str, Phase, list[str]]] = []

    async def hook(name: str, phase: Phase) -> None:
        seen.append((name, phase, sorted(report.timings)))  # timed before the hook runs

    deployer = Deployer(inv, pool, AutoOperator(), audit=False, hook=hook)

    async def steps() -> None:
        async with deployer._phase(ctx, Phase.READ):
            pass
        async with deployer._phase(ctx, "stage"):  # a plain name: timed, no hook
            pass
        with pytest.raises(NodeFailure):
            async with deployer._phase(ctx, Phase.ARM):
                raise NodeFailure("srv-b1: no")

    asyncio.run(steps())
    assert seen == [("srv-b1", Phase.READ, ["read"])]
    assert sorted(report.timings) == ["read", "stage"]  # the failed ARM is not timed
    assert report.phase is Phase.READ  # the last phase reached
