"""Deploy against the lab: real sshd (SFTP, commands) and real babeld in every namespace.

Each test deploys configs rendered from a variant of the lab's inventory and
restores the lab's original configs afterwards (``deploy_lab``), so the shared
lab stays healthy. While a deployment runs, a watcher thread reads the node's
config file continuously: it must always be the old text or the new one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshtui.core.confgen import render_babeld_conf
from meshtui.core.inventory import Inventory, load_inventory, parse_inventory
from meshtui.lab.proc import wait_until
from meshtui.ops.audit import read_audit
from meshtui.ops.deploy import (
    AutoOperator,
    Deployer,
    DeployOptions,
    DeployReport,
    FaultHook,
    Outcome,
    Phase,
)
from meshtui.transport.ssh import SSHPool, SSHSettings

pytestmark = pytest.mark.lab

OPTIONS = DeployOptions(
    confirm_timeout=5.0, restart_timeout=30.0, verify_margin=10.0, rollback_grace=4.0
)
HIDDEN = ".meshtui-"


def pool_for(lab: Any) -> SSHPool:
    return SSHPool(
        SSHSettings(known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=())
    )


def variant(lab: Any, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Inventory:
    """The lab's inventory with ``change`` applied to its decoded TOML (same file name)."""
    data = tomllib.loads(lab.inventory_path.read_text())
    change(data["nodes"])
    folder = tmp_path / "inventory"
    folder.mkdir(exist_ok=True)
    return parse_inventory(data, folder / lab.inventory_path.name)


def slower_hellos(node: str, hello: float = 0.4) -> Callable[[dict[str, Any]], None]:
    def change(nodes: dict[str, Any]) -> None:
        if "lan" in nodes[node]:
            nodes[node]["lan_hello"] = hello
        for t in nodes[node].get("tunnels", []):
            t["hello"] = hello

    return change


def broken_tunnels(node: str) -> Callable[[dict[str, Any]], None]:
    """Wrong tunnel interface names: still a valid, lint-clean config."""

    def change(nodes: dict[str, Any]) -> None:
        for i, t in enumerate(nodes[node]["tunnels"]):
            t["interface"] = f"wgbroken{i}"

    return change


def deploy(
    lab: Any,
    inv: Inventory,
    names: list[str],
    *,
    operator: Any = None,
    hook: FaultHook | None = None,
    options: DeployOptions = OPTIONS,
    audit_path: Path | None = None,
) -> DeployReport:
    async def go() -> DeployReport:
        pool = pool_for(lab)
        try:
            deployer = Deployer(
                inv,
                pool,
                operator or AutoOperator(),
                options,
                hook=hook,
                audit_path=audit_path,
            )
            return await deployer.deploy(names)
        finally:
            await pool.close()

    return asyncio.run(go())


class ConfigWatch:
    """Reads a config file in a loop; anything but the old or the new text is a violation."""

    def __init__(self, path: Path, allowed: set[bytes]) -> None:
        self.path = path
        self.allowed = allowed
        self.violations: list[str] = []
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConfigWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                self.violations.append("missing")
            else:
                self.reads += 1
                if data not in self.allowed:
                    self.violations.append(f"{len(data)} bytes, neither old nor new")
            time.sleep(0.002)


def ours(lab: Any, node: str) -> list[str]:
    """Files a deployment left in the node's directory (hidden ones and backups)."""
    return sorted(
        n
        for n in os.listdir(lab.node_dir(node))
        if HIDDEN in n or ".bak." in n or ".rejected." in n
    )


def restart_via_inventory(lab: Any, node: str) -> None:
    """Restart the node's babeld the way a deployment does: its inventory restart_command."""
    command = load_inventory(lab.inventory_path).node(node).restart_command
    subprocess.run(shlex.split(command), check=True, timeout=120, capture_output=True)


def forget_exited_daemons(lab: Any) -> None:
    """Drop the daemons the session lab spawned that have exited since.

    Restart commands (``meshtui lab restart``, run by deployments) replace a
    node's babeld from another process; the session's Lab object still holds
    the old one, and its readiness check would take that exit for a failed start.
    """
    procs = getattr(lab, "_procs", {})
    for pid, proc in list(procs.items()):
        if proc.poll() is not None:
            procs.pop(pid, None)


@pytest.fixture
def deploy_lab(healthy_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The healthy lab; afterwards every node is back on its original config, converged."""
    lab = healthy_lab
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MESHTUI_READ_ONLY", raising=False)
    original = {n: lab.config_path(n).read_bytes() for n in lab.nodes}
    before = {n: set(os.listdir(lab.node_dir(n))) for n in lab.nodes}
    try:
        yield lab
    finally:
        forget_exited_daemons(lab)
        for n in lab.nodes:
            # a rollback still armed finishes first (its timer is short in these tests)
            wait_until(
                lambda n=n: not any(x.endswith((".armed", ".fired")) for x in ours(lab, n)),
                120,
                f"rollback timers on {n} to finish",
            )
            if lab.sshd_pid(n) is None:
                lab.start_sshd(n)
            changed = lab.config_path(n).read_bytes() != original[n]
            if changed:
                lab.config_path(n).write_bytes(original[n])
            for name in set(os.listdir(lab.node_dir(n))) - before[n]:
                if HIDDEN in name or ".bak." in name or ".rejected." in name:
                    (lab.node_dir(n) / name).unlink(missing_ok=True)
            if changed or lab.babeld_pid(n) is None:
                restart_via_inventory(lab, n)
        forget_exited_daemons(lab)
        lab.wait_converged(120)


# --------------------------------------------------------------------- the good path


def test_good_config_is_pushed_verified_confirmed_and_the_mesh_converges(
    deploy_lab: Any, tmp_path: Path
) -> None:
    lab = deploy_lab
    node = "edge-a"
    inv = variant(lab, tmp_path, slower_hellos(node))
    old = lab.config_path(node).read_bytes()
    old_mode = lab.config_path(node).stat().st_mode & 0o7777
    new = render_babeld_conf(inv, node).encode()
    assert new != old and b"hello-interval 0.4" in new
    audit = tmp_path / "audit.log"
    with ConfigWatch(lab.config_path(node), {old, new}) as watch:
        report = deploy(lab, inv, [node], audit_path=audit)
    r = report.nodes[0]
    assert r.outcome is Outcome.CONFIRMED, r.messages
    assert report.ok and not r.rolled_back
    assert watch.reads > 10 and watch.violations == []
    # the new config is in place, the old one kept as a backup with the same mode
    assert lab.config_path(node).read_bytes() == new
    assert r.backup and Path(r.backup).read_bytes() == old
    assert Path(r.backup).stat().st_mode & 0o7777 == old_mode
    assert lab.config_path(node).stat().st_mode & 0o7777 == old_mode
    # verified: the neighbours and destinations that were there came back
    v = r.verification
    assert v is not None and v.ok and v.socket
    assert len(v.neighbours_back) == 3 and not v.neighbours_missing
    assert len(v.destinations_back) == len(lab.nodes) - 1
    assert "+interface lan0 type wired hello-interval 0.4" in r.diff
    # disarmed: the timer's marker is gone and its process ends by itself
    wait_until(lambda: ours(lab, node) == [Path(r.backup).name], 10, "the timer's files to go")
    # logged, once, with the diff's hash
    (line,) = read_audit(audit)
    assert line["node"] == node and line["result"] == "confirmed"
    assert line["diff_sha256"] == r.diff_sha256 and line["rolled_back"] is False
    # the mesh converges with the new hellos
    lab.wait_converged(120)
    assert lab.babeld_pid(node) is not None


async def test_the_dashboards_deploy_key_pushes_verifies_and_keeps(
    deploy_lab: Any, tmp_path: Path
) -> None:
    """`D` in the dashboard (--write, an inventory over SSH): approve, then keep.

    The dashboard's sessions read through the socket pump's loop; the deployment
    runs on the UI's loop with a pool of its own, and the node's session resyncs
    after babeld's restart."""
    from meshtui.transport.ssh import close_sources, inventory_sources
    from meshtui.ui.app import make_app
    from meshtui.ui.journal import LinkState
    from meshtui.ui.screens.deploy import DeployScreen
    from meshtui.ui.testing import NO_KEYMAP, until
    from meshtui.ui.themes import BUNDLED_DIR

    lab = deploy_lab
    node = "edge-a"
    inv = variant(lab, tmp_path, slower_hellos(node))
    new = render_babeld_conf(inv, node).encode()
    assert new != lab.config_path(node).read_bytes()
    sources = inventory_sources(
        inv,
        [node],
        settings=SSHSettings(
            known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=()
        ),
    )
    app = make_app(sources, read_only=False, theme_dirs=[BUNDLED_DIR], keymap_file=NO_KEYMAP)

    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.feed.journal.link.state is LinkState.LIVE, 60, "live")
            connects = app.feed.session.connects
            await pilot.press("D")
            await until(pilot, lambda: isinstance(app.screen, DeployScreen), 60, "the diff")
            assert app.screen.mode == "approve"
            await pilot.press("y")
            await until(
                pilot,
                lambda: isinstance(app.screen, DeployScreen) and app.screen.mode == "confirm",
                120,
                "the verification and the question to keep it",
            )
            await pilot.press("y")
            await until(pilot, lambda: not ours_armed(lab, node), 60, "the rollback disarmed")
            assert lab.config_path(node).read_bytes() == new
            # babeld restarted under the dashboard: its session reconnected and resynced
            await until(pilot, lambda: app.feed.session.connects > connects, 60, "the resync")
            await until(pilot, lambda: app.feed.journal.link.state is LinkState.LIVE, 60, "live")
            # ...over the SSH connection it had: the deployment did not take over its pool
            assert app.hub.pool(app.feed).connects == 1
    finally:
        await close_sources(sources)


def ours_armed(lab: Any, node: str) -> bool:
    return any(x.endswith((".armed", ".fired")) for x in ours(lab, node))


# --------------------------------------------------------------------- verification fails


def test_config_breaking_the_tunnels_is_rolled_back_and_neighbours_return(
    deploy_lab: Any, tmp_path: Path
) -> None:
    lab = deploy_lab
    node = "edge-a"

    def change(nodes: dict[str, Any]) -> None:
        broken_tunnels(node)(nodes)
        slower_hellos("relay-1")(nodes)  # a good change on a relay: must not be attempted

    inv = variant(lab, tmp_path, change)
    old = lab.config_path(node).read_bytes()
    relay_before = lab.config_path("relay-1").read_bytes()
    new = render_babeld_conf(inv, node).encode()
    with ConfigWatch(lab.config_path(node), {old, new}) as watch:
        report = deploy(lab, inv, ["relay-1", node])
    assert report.order == [node, "relay-1"]  # edges before relays
    r, skipped = report.nodes
    assert not [e for e in r.lint if e.error]  # lint-clean...
    assert any("wgbroken0 does not exist" in e.message for e in r.lint)  # ...with a warning
    assert r.outcome is Outcome.ROLLED_BACK, r.messages
    assert r.rolled_back and r.rolled_back_by == "deployer"
    assert r.verification is not None and not r.verification.ok
    assert r.verification.destinations_missing  # the inter-site destinations did not come back
    # the old config came back by itself, and with it the neighbours
    assert lab.config_path(node).read_bytes() == old
    assert r.restored is not None and r.restored.ok, r.restored
    assert len(r.restored.neighbours_back) == 3
    assert watch.violations == []
    # stopped at the first failure
    assert report.stopped_at == node and not report.ok
    assert skipped.node == "relay-1" and skipped.outcome is Outcome.SKIPPED
    assert lab.config_path("relay-1").read_bytes() == relay_before
    lab.wait_converged(120)


def test_unconfirmed_change_is_rolled_back_when_the_window_ends(
    deploy_lab: Any, tmp_path: Path
) -> None:
    lab = deploy_lab
    node = "srv-a1"

    class Silent(AutoOperator):
        async def confirm(self, change, verification) -> bool:  # noqa: ANN001
            await asyncio.sleep(3600)  # the operator walked away
            return True

    inv = variant(lab, tmp_path, slower_hellos(node))
    old = lab.config_path(node).read_bytes()
    options = DeployOptions(
        confirm_timeout=2.0, restart_timeout=30.0, verify_margin=10.0, rollback_grace=4.0
    )
    report = deploy(lab, inv, [node], operator=Silent(), options=options)
    r = report.nodes[0]
    assert r.verification is not None and r.verification.ok
    assert r.outcome is Outcome.ROLLED_BACK, r.messages
    assert any("no confirmation within 2 s" in m for m in r.messages)
    assert lab.config_path(node).read_bytes() == old
    assert r.restored is not None and r.restored.ok


# --------------------------------------------------------------------- the SSH path dies


@pytest.mark.parametrize("cut_after", [Phase.WRITE, Phase.VERIFY])
def test_ssh_killed_mid_deploy_the_node_timer_rolls_back(
    deploy_lab: Any, tmp_path: Path, cut_after: Phase
) -> None:
    """sshd and every session to the node die after the write (or after verification,
    before confirmation); the node's own timer restores the old config, and sshd
    comes back only once it has (so meshtui cannot have done it)."""
    lab = deploy_lab
    node = "edge-b"
    inv = variant(lab, tmp_path, slower_hellos(node))
    old = lab.config_path(node).read_bytes()
    new = render_babeld_conf(inv, node).encode()
    folder = lab.node_dir(node)
    revived = threading.Event()

    def revive_after_rollback() -> None:
        wait_until(
            lambda: any(n.endswith(".result") for n in os.listdir(folder)),
            120,
            "the node's timer to write its result",
        )
        forget_exited_daemons(lab)
        lab.start_sshd(node)
        revived.set()

    async def cut(name: str, phase: Phase) -> None:
        if name == node and phase is cut_after:
            lab.kill_sshd(node, sessions=True)
            assert lab.config_path(node).read_bytes() == new  # the change is in place
            threading.Thread(target=revive_after_rollback, daemon=True).start()

    with ConfigWatch(lab.config_path(node), {old, new}) as watch:
        report = deploy(lab, inv, [node], hook=cut)
    r = report.nodes[0]
    assert revived.is_set()
    assert r.outcome is Outcome.ROLLED_BACK, r.messages
    assert r.rolled_back and r.rolled_back_by == "node-timer"
    assert any("SSH connection lost" in m for m in r.messages)
    assert lab.config_path(node).read_bytes() == old
    assert watch.violations == [] and watch.reads > 10
    assert r.restored is not None and r.restored.ok  # neighbours and destinations are back
    assert lab.babeld_pid(node) is not None
    lab.wait_converged(120)


# --------------------------------------------------------------------- refusals


def test_lint_errors_block_and_nothing_is_written(
    deploy_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meshtui.ops.deploy.deployer as ops

    lab = deploy_lab
    node = "srv-b1"
    good = ops.render_babeld_conf

    def broken(inv: Inventory, name: str, values: Any = None) -> str:
        return good(inv, name, values) + "kernel-check-interval 0\n"

    monkeypatch.setattr(ops, "render_babeld_conf", broken)
    before = lab.config_path(node).read_bytes()
    report = deploy(lab, variant(lab, tmp_path, lambda nodes: None), [node])
    r = report.nodes[0]
    assert r.outcome is Outcome.BLOCKED, r.messages
    errors = [e.text() for e in r.lint if e.error]
    assert errors and errors[0].startswith(f"{node}:{lab.config_path(node)}:")
    assert lab.config_path(node).read_bytes() == before
    assert ours(lab, node) == []


def test_declined_change_writes_nothing(deploy_lab: Any, tmp_path: Path) -> None:
    class No(AutoOperator):
        async def approve(self, change) -> bool:  # noqa: ANN001
            assert "hello-interval 0.4" in change.diff
            return False

    lab = deploy_lab
    node = "srv-b1"
    before = lab.config_path(node).read_bytes()
    report = deploy(lab, variant(lab, tmp_path, slower_hellos(node)), [node], operator=No())
    assert report.nodes[0].outcome is Outcome.DECLINED, report.nodes[0].messages
    assert lab.config_path(node).read_bytes() == before
    assert ours(lab, node) == []


def test_an_armed_rollback_on_the_node_refuses_a_new_deployment(
    deploy_lab: Any, tmp_path: Path
) -> None:
    lab = deploy_lab
    node = "srv-b1"
    folder = lab.node_dir(node)
    marker = folder / ".babeld.conf.meshtui-earlier.armed"
    deadline = folder / ".babeld.conf.meshtui-earlier.deadline"
    inv = variant(lab, tmp_path, slower_hellos(node))
    try:
        marker.write_text("armed by an earlier deployment\n")
        deadline.write_text("600\n")  # seconds after its mtime
        r = deploy(lab, inv, [node]).nodes[0]
        assert r.outcome is Outcome.REFUSED, r.messages
        assert any("rollback of deployment earlier is armed" in m for m in r.messages)
        an_hour_ago = time.time() - 3600
        os.utime(deadline, (an_hour_ago, an_hour_ago))
        r = deploy(lab, inv, [node]).nodes[0]
        assert r.outcome is Outcome.REFUSED, r.messages
        assert any("stale rollback marker" in m for m in r.messages)
    finally:
        marker.unlink(missing_ok=True)
        deadline.unlink(missing_ok=True)


# --------------------------------------------------------------------- the command line


def cli_env(lab: Any, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MESHTUI_SSH_KNOWN_HOSTS=str(lab.known_hosts),
        MESHTUI_SSH_KEY=str(lab.ssh_key),
        MESHTUI_SSH_CONFIG="none",
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    env.pop("MESHTUI_READ_ONLY", None)
    return env


def meshtui(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshtui", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_cli_read_only_refuses_and_dry_run_shows_the_diff(deploy_lab: Any, tmp_path: Path) -> None:
    lab = deploy_lab
    env = cli_env(lab, tmp_path)
    inv = variant(lab, tmp_path, slower_hellos("srv-a1"))
    text = lab.inventory_path.read_text().replace(
        "[nodes.srv-a1]\n", "[nodes.srv-a1]\nlan_hello = 0.4\n"
    )
    assert inv.nodes["srv-a1"].lan_hello == 0.4
    path = tmp_path / "mesh.toml"
    path.write_text(text)
    before = lab.config_path("srv-a1").read_bytes()
    res = meshtui(env, "deploy", "--inventory", str(path), "--node", "srv-a1", "--read-only",
                  "--yes")  # fmt: skip
    assert res.returncode == 1
    assert "read-only mode (--read-only)" in res.stderr and "refused" in res.stderr
    res = meshtui(env, "deploy", "--inventory", str(path), "--node", "srv-a1", "--read-only",
                  "--dry-run")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "+interface lan0 type wired hello-interval 0.4" in res.stdout
    assert lab.config_path("srv-a1").read_bytes() == before
    assert not (tmp_path / "state" / "meshtui" / "audit.log").exists()


def test_cli_deploy_yes_json_then_back(deploy_lab: Any, tmp_path: Path) -> None:
    lab = deploy_lab
    env = cli_env(lab, tmp_path)
    path = tmp_path / "mesh.toml"
    path.write_text(
        lab.inventory_path.read_text().replace(
            "[nodes.srv-a1]\n", "[nodes.srv-a1]\nlan_hello = 0.4\n"
        )
    )
    before = lab.config_path("srv-a1").read_bytes()
    common = ["--node", "srv-a1", "--yes", "--json", "--confirm-timeout", "10"]
    res = meshtui(env, "deploy", "--inventory", str(path), *common)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    (node,) = out["nodes"]
    assert out["ok"] and node["outcome"] == "confirmed" and node["verification"]["ok"]
    assert b"hello-interval 0.4" in lab.config_path("srv-a1").read_bytes()
    # and back to the lab's own config (also a deployment)
    res = meshtui(env, "deploy", "--inventory", str(lab.inventory_path), *common)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["nodes"][0]["outcome"] == "confirmed"
    assert lab.config_path("srv-a1").read_bytes() == before
    records = read_audit(tmp_path / "state" / "meshtui" / "audit.log")
    assert [r["result"] for r in records] == ["confirmed", "confirmed"]
    assert all(r["node"] == "srv-a1" for r in records)


def run_in_pty(env: dict[str, str], argv: list[str], answers: list[str]) -> tuple[int, str]:
    """Run meshtui on a pseudo-terminal, answering each ``[y/N]`` prompt in turn.

    ``subprocess`` forks and execs in C: a ``pty.fork()`` in this threaded test
    process could deadlock in the child before its exec.
    """
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "meshtui", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 300
    pending = list(answers)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
            if b"[y/N]" in data and pending:
                os.write(master, (pending.pop(0) + "\n").encode())
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    return proc.returncode, out.decode("utf-8", "replace")


def test_cli_prompts_approve_then_keep_or_roll_back(deploy_lab: Any, tmp_path: Path) -> None:
    lab = deploy_lab
    env = cli_env(lab, tmp_path)
    path = tmp_path / "mesh.toml"
    path.write_text(
        lab.inventory_path.read_text().replace(
            "[nodes.srv-a1]\n", "[nodes.srv-a1]\nlan_hello = 0.4\n"
        )
    )
    argv = ["deploy", "--inventory", str(path), "--node", "srv-a1", "--confirm-timeout", "60"]
    status, out = run_in_pty(env, argv, ["y", "y"])
    assert status == 0, out
    assert "Write this config to srv-a1 and restart babeld? [y/N]" in out
    assert "Keep the new config on srv-a1? [y/N] (rolls back in 60 s)" in out
    assert "confirmed: rollback disarmed" in out
    new = lab.config_path("srv-a1").read_bytes()
    assert b"hello-interval 0.4" in new
    # back to the lab's config, but the operator answers no once it is verified
    argv[2] = str(lab.inventory_path)
    status, out = run_in_pty(env, argv, ["y", "n"])
    assert status == 1, out
    assert "the operator did not confirm" in out and "rolled-back" in out
    assert lab.config_path("srv-a1").read_bytes() == new
