"""Generate each node's babeld.conf and systemd-networkd files and write them atomically.

``generate`` renders in memory (``meshtui.core.confgen``); ``read_key_values`` reads
HMAC key values from each key's ``value_file`` or ``value_env`` — the only place
meshtui touches them — and never puts a value in a message; ``write_generated``
writes DIR/NODE/{babeld.conf,dmesh0.netdev,dmesh0.network}, each through a temp
file, fsync and rename (babeld.conf with mode 0600 when it holds a key).

``gen --diff`` (what a node runs against what is generated here) reads the
deployed file through :mod:`meshtui.ops.remote_config`, read-only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshtui.core.confgen import render_babeld_conf, render_networkd
from meshtui.core.inventory import Inventory, KeySpec, require_for_config
from meshtui.paths import write_atomic

__all__ = [
    "PLACEHOLDER_KEY",
    "GenError",
    "GeneratedNode",
    "generate",
    "keys_used",
    "read_key_values",
    "write_atomic",
    "write_generated",
]

_HEX = re.compile(r"^[0-9a-fA-F]+$")
# Stands in for real key values when configs are rendered only to be checked (lint):
# the structure is the same, the secret is not needed.
PLACEHOLDER_KEY = "00" * 32


class GenError(Exception):
    """Generation failed; the message names the key, file or node, never a secret."""


@dataclass(frozen=True)
class GeneratedNode:
    """The files generated for one node: file name -> text."""

    name: str
    files: dict[str, str] = field(repr=False)
    has_secret: bool = False

    def __repr__(self) -> str:
        return f"GeneratedNode(name={self.name!r}, files={sorted(self.files)!r})"


def keys_used(inv: Inventory, node_names: Iterable[str]) -> list[str]:
    """The key names the given nodes' tunnels use, sorted."""
    return sorted({t.key for n in node_names for t in inv.node(n).tunnels if t.key})


def _check_value(spec: KeySpec, value: str, where: str) -> str:
    value = value.strip()
    if not value:
        raise GenError(f"key {spec.name!r}: {where} is empty")
    if len(value) % 2 or not _HEX.match(value):
        raise GenError(f"key {spec.name!r}: {where} does not hold an even number of hex digits")
    limit = 64 if spec.type == "hmac-sha256" else 32
    if len(value) // 2 > limit:
        raise GenError(f"key {spec.name!r}: {where} holds more than {limit} bytes for {spec.type}")
    return value


def read_key_values(
    inv: Inventory, names: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Read the values of keys ``names`` from their value_file or value_env.

    Raises:
        GenError: a key is unknown, unreadable, or not even-length hex; the message
            names the key and the file or variable, never the value.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for name in names:
        spec = inv.keys.get(name)
        if spec is None:
            raise GenError(f"key {name!r} is not defined in [keys]")
        if spec.value_file is not None:
            try:
                text = spec.value_file.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not ASCII text"
                raise GenError(f"key {name!r}: cannot read {spec.value_file}: {reason}") from None
            values[name] = _check_value(spec, text, str(spec.value_file))
        else:
            assert spec.value_env is not None
            if spec.value_env not in env:
                raise GenError(f"key {name!r}: environment variable {spec.value_env} is not set")
            values[name] = _check_value(spec, env[spec.value_env], f"${spec.value_env}")
    return values


def generate(
    inv: Inventory,
    node_names: Iterable[str] | None = None,
    key_values: Mapping[str, str] | None = None,
) -> list[GeneratedNode]:
    """Render every file for the given nodes (default: all), in inventory order."""
    names = list(inv.nodes) if node_names is None else list(node_names)
    for n in names:
        inv.node(n)  # raises InventoryError for an unknown node
    require_for_config(inv, names)  # says which node lacks what
    out = []
    for n in names:
        conf = render_babeld_conf(inv, n, key_values)
        files = {"babeld.conf": conf, **render_networkd(inv, n)}
        secret = any(t.key and key_values and t.key in key_values for t in inv.node(n).tunnels)
        out.append(GeneratedNode(n, files, bool(secret)))
    return out


def write_generated(out_dir: Path, generated: Iterable[GeneratedNode]) -> list[Path]:
    """Write each node's files under ``out_dir/NODE/``; returns the paths written."""
    written = []
    for g in generated:
        for fname, text in sorted(g.files.items()):
            path = out_dir / g.name / fname
            mode = 0o600 if fname == "babeld.conf" and g.has_secret else 0o644
            try:
                write_atomic(path, text, mode)
            except OSError as exc:
                raise GenError(f"cannot write {path}: {exc.strerror or exc}") from None
            written.append(path)
    return written
