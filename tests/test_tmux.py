"""A real terminal: `meshtui --socket` in tmux against the lab, through a relay outage and back.

The dashboard runs as a user would start it (a pane of 160 × 48 in its own
tmux server); the test fails relay-1 of the shared lab and reads the screen
until it shows edge-a's route to site b via relay-2 and the failover in the
timeline; then heals relay-1 and reads its neighbour coming back. Needs root,
babeld and tmux (skips with the reason otherwise); every wait is bounded.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

WIDTH, HEIGHT = 160, 48


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

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = f"env {exports} {shlex.join(argv)}"
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(WIDTH), "-y", str(HEIGHT), command
        )
        self.run("set-option", "-t", self.session, "remain-on-exit", "on")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def pane_dead(self) -> tuple[bool, str]:
        out = self.run(
            "display-message",
            "-p",
            "-t",
            self.session,
            "#{pane_dead} #{pane_dead_status}",
            check=False,
        ).stdout.split()
        return (bool(out) and out[0] == "1", out[1] if len(out) > 1 else "")

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


def test_failover_read_on_a_real_terminal(healthy_lab: object, tmux: Tmux, tmp_path: Path) -> None:
    lab = healthy_lab
    address = lab.address("srv-b1")  # type: ignore[attr-defined]
    relay_1 = _hop(lab, "edge-a", "srv-b1", "relay-1")
    relay_2 = _hop(lab, "edge-a", "srv-b1", "relay-2")
    env = {
        "TERM": "xterm-256color",
        "TZ": "UTC",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    socket = lab.socket_path("edge-a")  # type: ignore[attr-defined]
    tmux.start([sys.executable, "-m", "meshtui", "--socket", socket], env)

    screen = tmux.wait(
        lambda s: "● LIVE" in s and relay_1 in _dest_row(s, address),
        60,
        f"the dashboard live, {address} via relay-1 ({relay_1})",
    )
    assert "READ-ONLY" in screen

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
    interface = relay_1.split("%", 1)[1]
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
