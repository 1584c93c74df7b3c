"""`LabControl`: the write actions `meshtui demo --live` offers on its lab (fail and heal relays).

These change the lab's network namespaces (an nftables table in a relay's
namespace), so the dashboard declares them as write actions: they are bound
only when the app is built with a lab control, and each asks for
confirmation, saying what it will change, before it runs in a worker
(:func:`lab_action`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol

from meshtui.ui.screens.dialogs import LabActionScreen

if TYPE_CHECKING:
    from meshtui.lab import Lab
    from meshtui.ui.app import MeshApp


class LabActions(Protocol):
    """What the dashboard needs from a lab to fail and heal relays."""

    def relays(self) -> list[tuple[str, str]]:
        """(relay name, label for a menu) for every relay."""
        ...

    def fail(self, relay: str) -> None:
        """Silent outage of ``relay`` (blocking; run in a worker)."""
        ...

    def heal(self, relay: str) -> None:
        """End ``relay``'s outage (blocking; run in a worker)."""
        ...


class LabControl:
    """Fail and heal the relays of a running :class:`~meshtui.lab.Lab`."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def relays(self) -> list[tuple[str, str]]:
        """Relays with their address, link-local and whether they are failed now."""
        failed = set(self.lab.failed_relays)
        out = []
        for node in self.lab.topology.role("relay"):
            state = "FAILED (Babel dropped)" if node.name in failed else "up"
            out.append((node.name, f"{node.name:<10} {node.address}   {state}"))
        return out

    def fail(self, relay: str) -> None:
        """Drop the relay's Babel traffic (udp 6696) in its namespace."""
        self.lab.fail_relay(relay)

    def heal(self, relay: str) -> None:
        """Remove the relay's drop rules."""
        self.lab.heal_relay(relay)


def lab_action(app: MeshApp, what: str) -> None:
    """Fail (``what="fail"``) or heal a relay of the app's lab: ask which, then run it."""
    lab = app.lab
    if lab is None:
        return
    if what == "fail":
        title = "Fail a relay (write action on the lab)"
        detail = (
            "Adds an nftables table in the relay's namespace that drops Babel "
            "(udp 6696) in and out. Links and tunnels stay up; neighbours notice "
            "only by missing Hellos — a silent relay outage."
        )
    else:
        title = "Heal a relay (write action on the lab)"
        detail = "Deletes the relay's drop table: Babel flows again and routes come back."

    def run(relay: str | None) -> None:
        if relay is None:
            return
        action = lab.fail if what == "fail" else lab.heal
        app.run_worker(
            partial(action, relay),
            name=f"lab:{what}:{relay}",
            group="lab",
            description=f"{what} {relay}",
            exit_on_error=False,
            thread=True,
        )

    app.push_screen(LabActionScreen(title, detail, lab.relays()), run)
