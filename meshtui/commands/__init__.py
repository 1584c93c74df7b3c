"""Sub-commands of the meshtui CLI, one module each, each with register(subparsers)."""

from __future__ import annotations

from pathlib import Path

from meshtui.core.inventory import Inventory, InventoryError, default_inventory_path, load_inventory


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
