"""The user's keymap: binding ids rebound to keys (``$XDG_CONFIG_HOME/meshtui/keymap.toml``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from meshtui.paths import config_dir


def keymap_path() -> Path:
    """Where users rebind keys by binding id."""
    return config_dir() / "keymap.toml"


def load_keymap(path: Path, known: set[str]) -> tuple[dict[str, str], list[str]]:
    """Read a keymap file ({binding id: keys}); returns (keymap, problems)."""
    if not path.is_file():
        return {}, []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: {exc}"]
    table = data.get("keys", data)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for key, value in table.items():
        if key not in known:
            problems.append(f"{path}: {key}: no binding has this id")
        elif not isinstance(value, str) or not value:
            problems.append(f'{path}: {key}: expected a key name such as "r" or "ctrl+r"')
        else:
            keymap[key] = value
    return keymap, problems
