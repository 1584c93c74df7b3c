"""The dashboard's deploy action (``D``): the generated config to the node shown.

A write action: bound only when the app may write, the node comes from an
inventory and is reached over SSH. The dialog (:mod:`meshtui.ui.screens.deploy`)
asks, shows the diff and confirms; the hub runs the deploy on its own pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshtui.ui.app import MeshApp


def can_deploy(app: MeshApp) -> bool:
    """Whether ``D`` is bound: not read-only, an inventory, the node shown over SSH."""
    hub = app.hub
    return not app.read_only and hub.inventory is not None and hub.pool(app.feed) is not None


def deploy_shown(app: MeshApp) -> None:
    """Deploy the generated config to the node shown, in a worker (asks, diffs, confirms)."""
    if not can_deploy(app):
        return
    app.run_worker(
        _deploy(app, [app.feed.name]),
        group="deploy",
        exclusive=True,
        exit_on_error=False,
        description="deploy config",
    )


async def _deploy(app: MeshApp, names: list[str]) -> None:
    from meshtui.ui.screens.deploy import TuiOperator

    operator = TuiOperator(app, log=lambda node, msg: app.notify(f"{node}: {msg}"))
    report = await app.hub.deploy(names, operator, app.feed)
    app.notify("; ".join(f"{r.node}: {r.outcome.value}" for r in report.nodes))
