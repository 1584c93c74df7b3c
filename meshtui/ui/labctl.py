"""`LabControl`: the write actions `meshtui demo --live` offers on its lab (fail and heal relays).

These change the lab's network namespaces (an nftables table in a relay's
namespace), so the dashboard declares them as write actions: they are bound
only when the app is built with a lab control, and each asks for
confirmation, saying what it will change, before it runs in a worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meshtui.lab import Lab


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
