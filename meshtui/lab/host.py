"""The host a lab runs on: can it (root, tools, `ip netns`), which babeld, how to run meshtui."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from meshtui.lab.proc import LabError, run, tool

__all__ = ["babeld_version", "lab_unavailable", "meshtui_command", "missing_prerequisites"]

REQUIRED_TOOLS = ("ip", "babeld", "wireguard-go", "wg", "nft", "sshd")


def lab_unavailable() -> str | None:
    """Why a lab cannot run here at all (not root, no babeld, no `ip netns`), or None.

    Tests skip for these reasons only; a missing wireguard-go or sshd is an
    error of the machine's setup and makes ``up()`` fail instead.
    """
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if tool("babeld") is None:
        return "babeld is not installed"
    if tool("ip") is None:
        return "ip (iproute2) is not installed"
    res = run(["ip", "netns", "list"], check=False)
    if res.returncode != 0:
        return f"`ip netns` does not work here: {res.stderr.strip()}"
    return None


def missing_prerequisites(babeld: str = "babeld") -> list[str]:
    """What keeps a lab from running here (empty when it can): root, tools, `ip netns`.

    Args:
        babeld: the babeld binary the lab would run (a name on PATH or a path).
    """
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces)")
    for name in REQUIRED_TOOLS:
        if name == "babeld" and babeld != "babeld":
            if tool(babeld) is None:
                problems.append(f"babeld {babeld} is not an executable file")
        elif tool(name) is None:
            problems.append(f"{name} is not installed")
    if tool("ip") is not None and os.geteuid() == 0:
        res = run(["ip", "netns", "list"], check=False)
        if res.returncode != 0:
            problems.append(f"`ip netns` does not work here: {res.stderr.strip()}")
    return problems


def babeld_version(babeld: str = "babeld") -> str:
    """What ``babeld -V`` says (e.g. ``babeld-1.14``); LabError if it is not a babeld."""
    path = tool(babeld)
    if path is None:
        raise LabError(f"babeld {babeld} is not an executable file")
    try:
        res = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{path} -V failed: {exc}") from None
    said = (res.stdout + res.stderr).strip()
    if not said.startswith("babeld-"):
        raise LabError(f"{path} is not a babeld (`-V` says {said[:80]!r})")
    return said.splitlines()[0]


def meshtui_command() -> list[str]:
    """How to run this meshtui's CLI from another process (the console script if installed)."""
    script = Path(sys.executable).parent / "meshtui"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from meshtui.cli import main; sys.exit(main())"]
