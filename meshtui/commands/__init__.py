"""Sub-commands of the meshtui CLI, one module each, each with register(subparsers)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TextIO

from meshtui.core.inventory import Inventory, InventoryError, default_inventory_path, load_inventory
from meshtui.core.sanitize import inert


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """argparse type: a duration in seconds, more than 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds more than 0")
    return value


def speed(text: str) -> float:
    """argparse type: a replay speed, more than 0 (1 = real time), or 0 for as fast as possible."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a speed more than 0 (1 = real time), or 0 for as fast as possible"
        )
    return value


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    return _whole(text, "a whole number", 0, None, "give 0 or more")


def tcp_port(text: str) -> int:
    """argparse type: a TCP port, 1–65535."""
    return _whole(text, "a TCP port", 1, 65535, "not a TCP port (1–65535)")


def _whole(text: str, what: str, low: int, high: int | None, outside: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"{value}: {outside}")
    return value


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
