"""Semantic change events: what really changed in a node's routing, not babeld's noise."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventType(Enum):
    """The kinds of event the model and the connection emit."""

    FAILOVER = "failover"
    UNREACHABLE = "unreachable"
    RECOVERED = "recovered"
    NEIGHBOUR_UP = "neighbour_up"
    NEIGHBOUR_DOWN = "neighbour_down"
    DEGRADING = "degrading"
    ROUTE_ADDED = "route_added"
    ROUTE_REMOVED = "route_removed"
    METRIC_CHANGED = "metric_changed"
    INTERFACE_UP = "interface_up"
    INTERFACE_DOWN = "interface_down"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RESYNCED = "resynced"
    PROTOCOL_ERROR = "protocol_error"


ROUTE_EVENTS = frozenset(
    {
        EventType.FAILOVER,
        EventType.UNREACHABLE,
        EventType.RECOVERED,
        EventType.METRIC_CHANGED,
        EventType.ROUTE_ADDED,
        EventType.ROUTE_REMOVED,
    }
)
"""Events about one destination's route (they carry its prefix)."""


@dataclass(frozen=True, slots=True)
class PathRef:
    """One way to a destination: the neighbour (relay) and our interface towards it."""

    via: str
    interface: str
    metric: int
    router_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by ``status --json`` and ``watch --json``."""
        return {
            "via": self.via,
            "interface": self.interface,
            "metric": self.metric,
            "router_id": self.router_id,
        }

    @property
    def hop(self) -> tuple[str, str]:
        """The next hop as (via, interface): what a failover changes."""
        return (self.via, self.interface)


@dataclass(frozen=True, slots=True)
class Event:
    """A semantic change on one node.

    Attributes:
        type: what happened.
        time: wall-clock time (seconds since the epoch) of the line that caused it.
        node: the node's name, set by the connection that saw it.
        prefix: the destination for route events.
        src: the source prefix for source-specific routes (``::/0`` otherwise).
        neighbour: the neighbour's address for neighbour events.
        interface: the interface of a neighbour or interface event.
        from_: the path before (failover, unreachable, metric change, removal).
        to: the path after (failover, recovered, metric change, addition).
        message: free text for connection and protocol events.
        extra: further figures (lead and detection times, counts).
    """

    type: EventType
    time: float
    node: str = ""
    prefix: str | None = None
    src: str | None = None
    neighbour: str | None = None
    interface: str | None = None
    from_: PathRef | None = None
    to: PathRef | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of ``watch --json``: one object per event."""
        out: dict[str, Any] = {"type": self.type.value, "time": round(self.time, 6)}
        if self.node:
            out["node"] = self.node
        if self.prefix is not None:
            out["prefix"] = self.prefix
            if self.src is not None and self.src not in ("::/0", "0.0.0.0/0"):
                out["from_prefix"] = self.src
        if self.neighbour is not None:
            out["neighbour"] = self.neighbour
        if self.interface is not None:
            out["interface"] = self.interface
        if self.from_ is not None:
            out["from"] = self.from_.to_json()
        if self.to is not None:
            out["to"] = self.to.to_json()
        if self.message:
            out["message"] = self.message
        out.update(self.extra)
        return out

    def figures(self) -> str:
        """A failover's figures as `` [warned 2.1 s, detected after 3.4 s, ...]`` ('' if none).

        A failover that came without a warning says why (``no_warning``).
        """
        figures = [
            f"{label} {self.extra[key]:.1f} s"
            for key, label in (
                ("lead_time", "warned"),
                ("detection_time", "detected after"),
                ("gap", "no route for"),
                ("outage", "away for"),
            )
            if key in self.extra
        ]
        if "no_warning" in self.extra:
            figures.insert(0, str(self.extra["no_warning"]))
        return f" [{', '.join(figures)}]" if figures else ""

    def describe(self) -> str:
        """One readable line, without the time or node (the caller adds those)."""
        t = self.type
        if t is EventType.FAILOVER and self.from_ and self.to:
            text = (
                f"failover {self.prefix}: {self.from_.via}%{self.from_.interface} "
                f"-> {self.to.via}%{self.to.interface} (metric {self.from_.metric} -> "
                f"{self.to.metric})"
            )
            return text + self.figures()
        if t is EventType.UNREACHABLE:
            was = f" (was via {self.from_.via}%{self.from_.interface})" if self.from_ else ""
            return f"unreachable {self.prefix}{was}"
        if t is EventType.RECOVERED and self.to:
            to = self.to
            return f"recovered {self.prefix} via {to.via}%{to.interface} metric {to.metric}"
        if t is EventType.METRIC_CHANGED and self.from_ and self.to:
            to, old = self.to, self.from_
            return f"metric {self.prefix} via {to.via}%{to.interface}: {old.metric} -> {to.metric}"
        if t in (EventType.ROUTE_ADDED, EventType.ROUTE_REMOVED):
            path = self.to or self.from_
            where = f" via {path.via}%{path.interface} metric {path.metric}" if path else ""
            verb = "route added" if t is EventType.ROUTE_ADDED else "route removed"
            return f"{verb} {self.prefix}{where}"
        if t in (EventType.NEIGHBOUR_UP, EventType.NEIGHBOUR_DOWN, EventType.DEGRADING):
            verb = {
                EventType.NEIGHBOUR_UP: "neighbour up",
                EventType.NEIGHBOUR_DOWN: "neighbour down",
                EventType.DEGRADING: "neighbour degrading",
            }[t]
            tail = f": {self.message}" if self.message else ""
            if "expected_in" in self.extra:
                moving = len(self.extra.get("affected", ()))
                tail += (
                    f"; babeld expected to drop it in ~{self.extra['expected_in']:.1f} s"
                    f" ({moving} destination(s) will move)"
                )
            return f"{verb} {self.neighbour}%{self.interface}{tail}"
        if t in (EventType.INTERFACE_UP, EventType.INTERFACE_DOWN):
            return f"{t.value.replace('_', ' ')} {self.interface}"
        return f"{t.value.replace('_', ' ')}{': ' + self.message if self.message else ''}"
