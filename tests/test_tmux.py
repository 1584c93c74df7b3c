"""A real terminal: the dashboard in tmux, as a user starts it.

* The shipped demo at ``--speed 4``: relays by name, the newest failover at
  the top of the timeline after the failback, the recording's times; and at
  80 × 24, every destination row and a footer with ``?`` and ``q``.
* `meshtui --socket` against the lab (a pane of 160 × 48 in its own tmux
  server), through a relay outage and back: the test fails relay-1 of the
  shared lab and reads the screen until it shows edge-a's route to site b via
  relay-2 and the failover in the timeline; then heals relay-1 and reads its
  neighbour coming back. Needs root, babeld and tmux (skips with the reason
  otherwise); every wait is bounded.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WIDTH, HEIGHT = 160, 48
REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "relay-outage.rec"
EXIT_REPORT = re.compile(r"^meshtui exited with status (\d+)$", re.MULTILINE)


class Tmux:
    """One private tmux server with one pane running a command."""

    def __init__(self) -> None:
        self.socket = f"meshtui-test-{os.getpid()}-{secrets.token_hex(3)}"
        self.session = "dash"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=20,
        )

    def start(
        self, argv: list[str], env: dict[str, str], width: int = WIDTH, height: int = HEIGHT
    ) -> None:
        unset = " ".join(f"-u {k}" for k in os.environ if k.startswith("MESHTUI_"))
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # Through a shell that reports how the command ended: tmux may mark a pane dead
        # before it has its status (or none for a signal); the shell's own exit status
        # (128 + N for a signal) is always there, and its line stays on the screen.
        report = '"$@"; s=$?; echo "meshtui exited with status $s"; exit $s'
        command = f"env {unset} {exports} sh -c {shlex.quote(report)} sh {shlex.join(argv)}"
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )
        self.run("set-option", "-t", self.session, "remain-on-exit", "on")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def pane_dead(self) -> tuple[bool, str]:
        """(dead, exit status) of the pane's command; the status says so if a signal ended it."""
        for _ in range(50):  # tmux may mark the pane dead before its status is in (5 s at most)
            out = self.run(
                "display-message",
                "-p",
                "-t",
                self.session,
                "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}",
                check=False,
            ).stdout.strip()
            dead, status, signal = ([*out.split("|"), "", ""])[:3]
            if dead != "1":
                return (False, "")
            if status or signal:
                return (True, status if status else f"signal {signal}")
            reported = EXIT_REPORT.findall(self.screen())
            if reported:  # the shell's own line: tmux (3.3a) may never fill the status in
                return (True, reported[-1])
            time.sleep(0.1)
        return (True, "")

    def wait(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        """Capture the pane until ``predicate(screen)`` holds (bounded)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            dead, status = self.pane_dead()
            if dead:
                pytest.fail(f"meshtui exited (status {status}) while waiting for {what}:\n{screen}")
            time.sleep(0.2)  # polling interval of a bounded wait, not a fixed delay
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}; the screen:\n{screen}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    pane = Tmux()
    try:
        yield pane
    finally:
        pane.kill()


def _hop(lab: object, edge: str, dest: str, relay: str) -> str:
    """The ``via%interface`` the dashboard shows for ``edge``'s route to ``dest`` via ``relay``."""
    for route in lab.routes_to(edge, dest):  # type: ignore[attr-defined]
        if lab.neighbour_name(route.via) == relay:  # type: ignore[attr-defined]
            return f"{route.via}%{route.interface}"
    raise AssertionError(f"{edge} has no route to {dest} via {relay}")


def _dest_row(screen: str, address: str) -> str:
    """The destinations-table line of ``address`` (not a timeline line)."""
    for line in screen.splitlines():
        if f" {address} " in f"{line} " and "→" not in line and ("● ok" in line or "◐" in line
                                                                 or "✖" in line):  # fmt: skip
            return line
    return ""


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "TERM": "xterm-256color",
        "TZ": "UTC",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(REPO),
        "PYTHONFAULTHANDLER": "1",  # a crash prints its stack in the pane, for the failure
    }


def _timeline_heads(screen: str) -> list[str]:
    heads = []
    for line in screen.splitlines():
        m = re.search(r"(\d\d:\d\d:\d\d  (?:failover|recovered|UNREACHABLE)  \S+)", line)
        if m:
            heads.append(m.group(1))
    return heads


def test_demo_at_speed_4_names_relays_and_keeps_the_newest_failover_on_top(
    tmux: Tmux, tmp_path: Path
) -> None:
    """The done-when of the failover screen, on a real terminal (200 × 50: timeline beside)."""
    tmux.start(
        [sys.executable, "-m", "meshtui", "--replay", str(DEMO), "--speed", "4"],
        _env(tmp_path),
        width=200,
        height=50,
    )
    during = tmux.wait(
        lambda s: (
            any("srv-b1" in line and "relay-2" in line for line in s.splitlines())
            and "relay-1 → relay-2" in s
        ),
        60,
        "srv-b1 carried by relay-2 and the failover relay-1 → relay-2, by name",
    )
    assert "fe80::" not in during  # names, not link-locals, while names are known
    screen = tmux.wait(
        lambda s: "END" in s and "relay-2 → relay-1" in s, 60, "the end, after the failback"
    )
    heads = _timeline_heads(screen)
    assert heads, screen
    # The top entry is the newest: a failover back to relay-1, later than every other entry.
    assert "failover" in heads[0], heads
    times = [h[:8] for h in heads]
    assert times == sorted(times, reverse=True), heads
    top = screen[screen.index(heads[0]) :].splitlines()[1]
    assert "relay-2 → relay-1" in top, top
    # The recording's own clock: it was recorded 14:47:34–14:48:42 UTC.
    assert all("14:47:00" <= t <= "14:48:59" for t in times), times
    rows = [line for line in screen.splitlines() if "● ok" in line]
    assert any("srv-b1" in line and "relay-1" in line for line in rows), rows
    assert any("relay-2 " in line for line in rows), rows  # standbys by name
    tmux.keys("q")


def test_demo_at_80x24_shows_every_destination_and_help_and_quit(
    tmux: Tmux, tmp_path: Path
) -> None:
    tmux.start(
        [sys.executable, "-m", "meshtui", "--replay", str(DEMO), "--speed", "8"],
        _env(tmp_path),
        width=80,
        height=24,
    )
    tmux.wait(lambda s: "srv-b1" in s, 30, "the first destinations")
    tmux.keys("1")  # the first key folds the banner
    screen = tmux.wait(lambda s: "END" in s, 60, "the end of the recording")
    lines = screen.splitlines()
    rows = [line for line in lines if line.startswith((" ● ", " ◐ ", " ✖ "))]
    names = {"srv-a1", "srv-b1", "edge-b", "relay-1", "relay-2"}
    shown = {line.split()[2] for line in rows if len(line.split()) > 2}
    assert names <= shown, screen
    for line in rows:  # state, destination, relay now and standby on every row
        assert len(line.split()) >= 5, line
    footer = lines[-1]
    assert "? Help" in footer and "q Quit" in footer, footer
    assert "…" not in "".join(rows)  # no cell cut mid-word
    tmux.keys("q")


@pytest.mark.lab
def test_failover_read_on_a_real_terminal(healthy_lab: object, tmux: Tmux, tmp_path: Path) -> None:
    lab = healthy_lab
    address = lab.address("srv-b1")  # type: ignore[attr-defined]
    hop_1 = _hop(lab, "edge-a", "srv-b1", "relay-1")
    # No inventory, no names: a relay reads as its /128 (its own route proves which
    # neighbour it is), never as the bare link-local babeld prints.
    relay_1 = str(lab.address("relay-1"))  # type: ignore[attr-defined]
    relay_2 = str(lab.address("relay-2"))  # type: ignore[attr-defined]
    env = _env(tmp_path)
    socket = lab.socket_path("edge-a")  # type: ignore[attr-defined]
    tmux.start([sys.executable, "-m", "meshtui", "--socket", socket], env)

    screen = tmux.wait(
        lambda s: "● LIVE" in s and relay_1 in _dest_row(s, address),
        60,
        f"the dashboard live, {address} via relay-1 ({relay_1})",
    )
    assert "READ-ONLY" in screen
    assert hop_1 not in screen

    lab.fail_relay("relay-1")  # type: ignore[attr-defined]
    try:
        screen = tmux.wait(
            lambda s: relay_2 in _dest_row(s, address) and f"{relay_1} → {relay_2}" in s,
            90,
            f"{address} via relay-2 ({relay_2}) and the failover in the timeline",
        )
        assert "failover" in screen
    finally:
        lab.heal_relay("relay-1")  # type: ignore[attr-defined]

    tmux.keys("2")  # Neighbours: relay-1's link comes back
    interface = hop_1.split("%", 1)[1]
    tmux.wait(
        lambda s: any("● up" in line and interface in line for line in s.splitlines()),
        90,
        f"relay-1's neighbour on {interface} up again",
    )
    tmux.keys("q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dead, status = tmux.pane_dead()
        if dead:
            assert status == "0", tmux.screen()
            break
        time.sleep(0.2)
    else:
        pytest.fail("meshtui did not quit on q")


@pytest.mark.lab
def test_lab_inventory_dashboard_connects_as_printed(
    healthy_lab: object, tmux: Tmux, tmp_path: Path
) -> None:
    """`meshtui --inventory MESH.TOML`, as `lab up` prints it: every node live over SSH.

    No MESHTUI_SSH_* variable and an empty home (no ~/.ssh): the inventory's own
    [ssh] table (known_hosts, identity, config) is all the SSH layer has.
    """
    from meshtui.commands import lab as lab_command

    lab = healthy_lab
    inventory = lab.inventory_path  # type: ignore[attr-defined]
    printed = f"meshtui --inventory {inventory}"
    assert printed in Path(lab_command.__file__).read_text(encoding="utf-8").replace(
        "{lab.inventory_path}", str(inventory)
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {**_env(tmp_path), "HOME": str(home)}
    argv = [sys.executable, "-m", "meshtui", *printed.split()[1:]]
    tmux.start(argv, env)
    tmux.wait(lambda s: "● LIVE" in s, 90, "the first node live over SSH")
    tmux.keys("6")
    screen = tmux.wait(lambda s: "6/6 nodes live" in s, 120, "6/6 nodes live in the Mesh view")
    assert "host key" not in screen
    tmux.keys("q")
