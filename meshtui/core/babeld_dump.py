"""babeld's own table dump (``SIGUSR1``): smoothed metrics, seqnos, feasibility, its word.

babeld does not put the smoothed metric, the seqno, the age or feasibility on
its control socket. On ``SIGUSR1`` it prints its tables (``dump_tables``) to its
stdout: its log file (``-L``) when daemonised, the journal under systemd. In
babeld 1.12 a dump reads::

    My id 00:16:5c:bc:b5:1d:55:36 seqno 55679
    Neighbour fe80::1:1 dev lan0 reach ffff ureach 0000 rxcost 96 txcost 96 rtt 0.000 \
rttcost 0 chan -2.
    fd32:d088:7a3c::ee:1/128 from ::/0 metric 0 (exported)
    fd32:d088:7a3c::2:1/128 from ::/0 metric 384 (537) refmetric 288 id 44:d1:68:26:4a:79:3c:4f \
seqno 34316 chan (255) age 4 via w9c4d83ea2 neigh fe80::ff:2 (installed)

one route per line: ``metric M (SMOOTHED)``, then ``(installed)``, ``(feasible)``
or nothing (neither installed nor feasible). :func:`parse_dump` reads the last
complete dump of a log; :func:`babeld_says` sets it beside meshtui's own
explanation of a destination, babeld's word winning where they disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshtui.core.foresight import Explanation
from meshtui.core.model import Destination, Route

_ROUTE = re.compile(
    r"^(?P<prefix>\S+)(?: from (?P<src>\S+))? metric (?P<metric>\d+) \((?P<smoothed>\d+)\)"
    r" refmetric (?P<refmetric>\d+) id (?P<id>\S+) seqno (?P<seqno>\d+)(?: chan \([^)]*\))?"
    r" age (?P<age>\d+) via (?P<interface>\S+) neigh (?P<neigh>\S+)"
    r"(?: nexthop (?P<nexthop>\S+))?(?: \((?P<state>installed|feasible)\))?$"
)
_XROUTE = re.compile(
    r"^(?P<prefix>\S+)(?: from (?P<src>\S+))? metric (?P<metric>\d+) \(exported\)$"
)
_NEIGHBOUR = re.compile(
    r"^Neighbour (?P<address>\S+) dev (?P<interface>\S+) reach (?P<reach>[0-9a-f]+)"
)
_MY_ID = re.compile(r"^My id (?P<id>\S+) seqno (?P<seqno>\d+)$")


@dataclass(frozen=True, slots=True)
class DumpRoute:
    """One route as babeld's dump shows it.

    Attributes:
        metric: the route's metric (what the socket shows too).
        smoothed: the smoothed metric babeld selects on.
        seqno: the route's sequence number.
        age: seconds since the route was last updated.
        installed: babeld installed it.
        feasible: it satisfies babeld's feasibility condition (an installed
            route is feasible).
    """

    prefix: str
    src: str
    metric: int
    smoothed: int
    refmetric: int
    router_id: str
    seqno: int
    age: int
    interface: str
    neighbour: str
    nexthop: str | None
    installed: bool
    feasible: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form (``why --json``)."""
        return {
            "via": self.neighbour,
            "interface": self.interface,
            "metric": self.metric,
            "smoothed": self.smoothed,
            "refmetric": self.refmetric,
            "router_id": self.router_id,
            "seqno": self.seqno,
            "age": self.age,
            "installed": self.installed,
            "feasible": self.feasible,
        }


@dataclass(slots=True)
class TableDump:
    """One complete ``dump_tables`` output."""

    my_id: str
    seqno: int
    neighbours: list[tuple[str, str, str]] = field(default_factory=list)  # address, if, reach
    exported: list[str] = field(default_factory=list)
    routes: list[DumpRoute] = field(default_factory=list)

    def routes_to(self, prefix: str, src: str = "::/0") -> list[DumpRoute]:
        """Every route babeld holds to one destination."""
        return [r for r in self.routes if r.prefix == prefix and r.src == src]


def parse_dump(text: str) -> TableDump | None:
    """The last complete table dump in a log's text; None when it holds none.

    Lines around the dump (babeld's other messages) are ignored; the dump
    ends at the first line that is none of its kinds.
    """
    lines = text.splitlines()
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if _MY_ID.match(lines[i].strip()):
            start = i
            break
    if start is None:
        return None
    head = _MY_ID.match(lines[start].strip())
    assert head is not None
    dump = TableDump(head["id"], int(head["seqno"]))
    for raw in lines[start + 1 :]:
        line = raw.strip()
        if m := _ROUTE.match(line):
            installed = m["state"] == "installed"
            dump.routes.append(
                DumpRoute(
                    prefix=m["prefix"],
                    src=m["src"] or "::/0",
                    metric=int(m["metric"]),
                    smoothed=int(m["smoothed"]),
                    refmetric=int(m["refmetric"]),
                    router_id=m["id"],
                    seqno=int(m["seqno"]),
                    age=int(m["age"]),
                    interface=m["interface"],
                    neighbour=m["neigh"],
                    nexthop=m["nexthop"],
                    installed=installed,
                    feasible=installed or m["state"] == "feasible",
                )
            )
        elif m := _XROUTE.match(line):
            dump.exported.append(m["prefix"])
        elif m := _NEIGHBOUR.match(line):
            dump.neighbours.append((m["address"], m["interface"], m["reach"]))
        else:
            break
    return dump


@dataclass(frozen=True, slots=True)
class Verdict:
    """babeld's word on one route to the destination, beside meshtui's.

    Attributes:
        route: babeld's view of the route.
        ours: meshtui's explanation (``smoothing``/``feasibility``) when it had one.
        text: what babeld's figures say about the route.
        disagrees: meshtui's explanation and babeld's figures differ; babeld wins.
    """

    route: DumpRoute
    ours: str | None
    text: str
    disagrees: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form (``why --json``)."""
        out = self.route.to_json()
        out.update({"meshtui": self.ours, "babeld": self.text, "disagrees": self.disagrees})
        return out


def babeld_says(
    dest: Destination,
    routes: list[DumpRoute],
    explanations: dict[tuple[str, str], Explanation],
) -> list[Verdict]:
    """For every route babeld holds to ``dest``: its figures, and why it is (not) used.

    Args:
        dest: the destination as meshtui's model sees it.
        routes: babeld's routes to it (:meth:`TableDump.routes_to`).
        explanations: meshtui's explanation of each pending route, by
            (via, interface).
    """
    chosen = next((r for r in routes if r.installed), None)
    out = []
    for route in sorted(routes, key=lambda r: (not r.installed, r.smoothed, r.metric)):
        mine = explanations.get((route.neighbour, route.interface))
        ours = mine.reason if mine is not None else None
        if route.installed:
            text = f"installed: babeld selected it (smoothed metric {route.smoothed})"
            reason = None
        elif route.metric >= 0xFFFF:
            text = "retracted (metric infinite)"
            reason = "retracted"
        elif chosen is not None and route.metric >= chosen.metric and ours is None:
            text = f"a standby, no better than the installed route (metric {chosen.metric})" + (
                "" if route.feasible else "; not feasible at the moment (seqno, metric)"
            )
            reason = None
        elif not route.feasible:
            text = (
                f"not feasible: seqno {route.seqno} and metric {route.metric} do not satisfy "
                "babeld's feasibility condition (it waits for a newer seqno)"
            )
            reason = "feasibility"
        elif chosen is not None and route.smoothed >= chosen.smoothed:
            text = (
                f"feasible, but its smoothed metric {route.smoothed} is not below the installed "
                f"route's {chosen.smoothed}: smoothing"
            )
            reason = "smoothing"
        elif chosen is not None:
            text = (
                f"feasible and its smoothed metric {route.smoothed} is already below the "
                f"installed route's {chosen.smoothed}: babeld switches at its next selection"
            )
            reason = "switching"
        else:
            text = "feasible: babeld installs it at its next selection"
            reason = "switching"
        disagrees = ours is not None and reason is not None and ours != reason
        if disagrees:
            text += f" - babeld's word wins over meshtui's guess ({ours})"
        out.append(Verdict(route, ours, text, disagrees))
    selected = dest.selected
    if selected is not None and chosen is not None and not _same_hop(selected, chosen):
        out.append(
            Verdict(
                chosen,
                None,
                "babeld's installed route differs from what the socket showed meshtui "
                "(a change in flight): babeld's word wins",
                True,
            )
        )
    return out


def _same_hop(route: Route, dumped: DumpRoute) -> bool:
    return route.via == dumped.neighbour and route.interface == dumped.interface
