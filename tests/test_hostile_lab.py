"""A compromised node writes escapes into its babeld.conf: `lint --remote` and `gen --diff`
read it over the lab's real SSH and print it inert (raw bytes checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ESC = "\x1b]0;PWNED\x07\x1b[2J"
HOSTILE = f"interface lan0 type wired\n{ESC}hello\nin deny \u202e\nout deny\n# {ESC}\n"
NODE = "edge-a"


def _env(lab: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["MESHTUI_SSH_KNOWN_HOSTS"] = str(lab.known_hosts)
    env["MESHTUI_SSH_KEY"] = str(lab.ssh_key)
    env["MESHTUI_SSH_CONFIG"] = "none"
    return env


def _inventory_reading(lab: Any, tmp_path: Path, config: Path) -> Path:
    """The lab's inventory with NODE's config_path pointing at ``config`` (nothing else moves)."""
    text = Path(lab.inventory_path).read_text()
    section = re.compile(rf"(\[nodes\.\"?{NODE}\"?\][^\[]*?config_path = )\"[^\"]*\"")
    changed, count = section.subn(lambda m: f'{m.group(1)}"{config}"', text)
    assert count == 1
    inv = tmp_path / "mesh.toml"
    inv.write_text(changed)
    for key in re.findall(r'value_file = "([^"]+)"', text):  # relative key files stay valid
        if not Path(key).is_absolute():
            target = tmp_path / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(lab.inventory_path).parent / key).read_bytes())
    return inv


@pytest.mark.lab
def test_remote_config_with_escapes_is_printed_inert(lab: Any, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    config = tmp_path / "hostile.conf"
    config.write_text(HOSTILE)
    inv = _inventory_reading(lab, tmp_path, config)
    runs = {
        "lint": ["lint", "--inventory", str(inv), "--remote", "--node", NODE],
        "diff": ["gen", "--diff", "--inventory", str(inv), "--node", NODE],
    }
    for what, argv in runs.items():
        result = subprocess.run(
            [sys.executable, "-m", "meshtui", *argv, "--timeout", "60"],
            capture_output=True,
            env=_env(lab),
            timeout=240,
        )
        for stream in (result.stdout, result.stderr):
            assert b"\x1b" not in stream and b"\x07" not in stream, what
            assert "\u202e".encode() not in stream, what
            assert b"Traceback" not in stream, what
        out = result.stdout.decode()
        assert "\\x1b]0;PWNED\\x07\\x1b[2J" in out, (what, out, result.stderr.decode())
        assert result.returncode == 1, what  # babeld refuses it / the config differs
