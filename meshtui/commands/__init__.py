"""Sub-commands of the meshtui CLI, one module each, each with register(subparsers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from meshtui.core.inventory import Inventory, InventoryError, default_inventory_path, load_inventory
from meshtui.core.sanitize import inert


def say(text: str, file: TextIO | None = None) -> None:
    """Print a block that may hold outside text (babeld's, a node's, a file's), made inert.

    Newlines and tabs are kept; every other control character or escape is shown,
    not obeyed (:func:`meshtui.core.sanitize.inert`).
    """
    out = sys.stdout if file is None else file
    out.write(inert(text, newlines=True) + "\n")


def warn(message: str) -> None:
    """``meshtui: MESSAGE`` on stderr, as one inert line."""
    print(f"meshtui: {inert(message)}", file=sys.stderr, flush=True)


def inventory_from_arg(value: str | None) -> Inventory:
    """The inventory an ``--inventory`` option names (empty or None: the default one).

    Raises:
        CliError: none found, or the file is not a valid inventory (file, node, field).
    """
    from meshtui.cli import CliError

    path = Path(value) if value else default_inventory_path()
    if path is None:
        raise CliError(
            "no inventory found (tried ./mesh.toml and $XDG_CONFIG_HOME/meshtui/mesh.toml); "
            "name one with --inventory FILE"
        )
    try:
        return load_inventory(path)
    except InventoryError as exc:
        raise CliError(str(exc)) from None
