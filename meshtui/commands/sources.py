"""The nodes the command line names, as sources: a socket, a port, a recording, an inventory.

:func:`resolve_sources` reads the options and changes none of them; whether the
nodes come from an inventory (the given one or the default) is the sources'
own to say (:func:`from_inventory`).
"""

from __future__ import annotations

import argparse
import os
import stat

from meshtui.cli import CliError
from meshtui.commands import inventory_from_arg
from meshtui.core.inventory import Inventory, InventoryError, default_inventory_path
from meshtui.transport.replay import RecordingError
from meshtui.transport.sources import (
    Source,
    find_local_target,
    local_source,
    replay_source,
    tried_targets,
)


def from_inventory(sources: list[Source]) -> bool:
    """Whether the sources are an inventory's nodes (the given inventory or the default one)."""
    return any(source.access.inventory is not None for source in sources)


def inventory_args_sources(args: argparse.Namespace, inv: Inventory) -> list[Source]:
    """One SSH source per inventory node (or per ``--node``), sharing one connection pool."""
    names = args.node if getattr(args, "node", None) else None
    if names:
        try:
            for name in names:
                inv.node(name)
        except InventoryError as exc:
            raise CliError(str(exc)) from None
        names = list(dict.fromkeys(names))
    from meshtui.transport.ssh import SSHPool, inventory_sources  # asyncssh only when needed

    try:
        return inventory_sources(inv, names, pool=SSHPool())
    except InventoryError as exc:
        raise CliError(str(exc)) from None


def resolve_sources(args: argparse.Namespace) -> list[Source]:
    """The sources the options name; the usual local sockets when they name none.

    With ``--inventory`` every node of the inventory is read over SSH; with no
    option at all and no local socket, the default inventory is used when
    there is one.
    """
    if getattr(args, "inventory", None) is not None:
        for option in ("socket", "port", "replay"):
            if getattr(args, option, None) is not None:
                raise CliError(f"--inventory and --{option} cannot be combined")
        return inventory_args_sources(args, inventory_from_arg(args.inventory))
    if getattr(args, "node", None):
        raise CliError("--node needs --inventory")
    if getattr(args, "replay", None):
        try:
            return [replay_source(args.replay, speed=args.speed)]
        except RecordingError as exc:
            raise CliError(str(exc)) from None
    if getattr(args, "socket", None):
        _check_socket_path(args.socket)
        return [local_source(args.socket)]
    if getattr(args, "port", None) is not None:
        if not 0 < args.port < 65536:
            raise CliError(f"--port {args.port}: not a TCP port")
        return [local_source(args.port)]
    target = find_local_target()
    if target is None and hasattr(args, "inventory"):
        default = default_inventory_path()
        if default is not None:
            return inventory_args_sources(args, inventory_from_arg(str(default)))
    if target is None:
        raise CliError(
            f"no babeld control socket found (tried {tried_targets()}); pass --socket PATH or "
            "--port N, and enable one in babeld.conf with `local-path /run/babeld.sock` or "
            "`local-port 33123`"
        )
    return [local_source(target)]


def _check_socket_path(path: str) -> None:
    """A path that exists but is no socket is named as such (connecting would say "refused")."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: connecting says which, with the usual hints
    if not stat.S_ISSOCK(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "a file"
        raise CliError(
            f"{path}: not a socket ({what}); babeld's control socket is the path `local-path` "
            "names in babeld.conf (e.g. /run/babeld.sock)"
        )
