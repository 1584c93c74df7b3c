"""The inventory as last deployed: a copy kept after each complete, confirmed deployment.

``meshtui deploy --rehearse`` compares the inventory about to be deployed with
the one the nodes run. The nodes hold babeld.conf files, not an inventory, so
meshtui keeps a copy of the inventory file each time ``deploy`` (every node,
not a dry run) ends with every node confirmed or unchanged:
``$XDG_STATE_HOME/meshtui/deployed/<name>-<hash of its absolute path>.toml``.
``--rehearse-against FILE`` names another one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from meshtui.paths import state_dir, write_atomic

__all__ = ["deployed_copy", "save_deployed"]


def deployed_copy(inventory: Path, env: Mapping[str, str] | None = None) -> Path:
    """Where the last deployed state of ``inventory`` is kept (it may not exist yet)."""
    absolute = str(Path(inventory).resolve())
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:16]
    return state_dir(env) / "deployed" / f"{Path(inventory).stem}-{digest}.toml"


def save_deployed(inventory: Path, env: Mapping[str, str] | None = None) -> Path:
    """Keep a copy of ``inventory`` as the state the nodes now run; returns where (OSError)."""
    target = deployed_copy(inventory, env)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = Path(inventory).read_text(encoding="utf-8")
    write_atomic(target, text, 0o600)
    return target
