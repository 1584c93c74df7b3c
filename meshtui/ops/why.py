"""Why, from babeld itself: its table dump for one destination beside meshtui's explanation.

An explicit action (``meshtui why``, the route detail screen): it signals
babeld (``SIGUSR1``), on this machine or over SSH, reads the dump it writes
(:mod:`meshtui.transport.tables`), and sets every route's smoothed metric,
seqno and feasibility beside what meshtui's model says about the destination
(:func:`meshtui.core.babeld_dump.babeld_says`). Refused in read-only mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshtui.core.babeld_dump import TableDump, Verdict, babeld_says, parse_dump
from meshtui.core.foresight import Explanation
from meshtui.core.model import Destination, NodeModel
from meshtui.ops.audit import ReadOnlyError, refuse_if_read_only
from meshtui.transport.sources import Source
from meshtui.transport.tables import TablesError, local_dump, ssh_dump

__all__ = ["ReadOnlyError", "TablesError", "WhyReport", "ask_babeld", "why_report"]

WHAT = "asking babeld for its tables (SIGUSR1)"


@dataclass(slots=True)
class WhyReport:
    """One destination: meshtui's view and explanation, babeld's figures and word."""

    node: str
    prefix: str
    src: str
    where: str
    dest: Destination
    ours: dict[tuple[str, str], Explanation]
    verdicts: list[Verdict] = field(default_factory=list)
    dump: TableDump | None = None

    @property
    def disagreements(self) -> int:
        """How many of meshtui's statements babeld's tables contradict."""
        return sum(v.disagrees for v in self.verdicts)

    def lines(self, hop: Callable[[str, str], str] | None = None) -> list[str]:
        """The readable report; ``hop`` names a next hop (default ``via%interface``)."""

        def name(via: str, interface: str) -> str:
            return hop(via, interface) if hop is not None else f"{via}%{interface}"

        out = [f"{self.prefix} on {self.node} (babeld's dump read from {self.where})"]
        sel = self.dest.selected
        out.append(
            "meshtui: "
            + (f"selected via {name(sel.via, sel.interface)} metric {sel.metric}" if sel else "")
            + ("" if sel else "no selected route")
            + f", state {self.dest.state}"
        )
        for (via, interface), why in sorted(self.ours.items()):
            out.append(f"  meshtui on {name(via, interface)}: {why.reason}: {why.text}")
        if not self.verdicts:
            out.append("babeld: no route to this destination in its tables")
        else:
            out.append("babeld (via, metric, smoothed, seqno, age, state):")
            for v in self.verdicts:
                r = v.route
                state = "installed" if r.installed else "feasible" if r.feasible else "unfeasible"
                out.append(
                    f"  {name(r.neighbour, r.interface)}  metric {r.metric}  smoothed {r.smoothed}"
                    f"  seqno {r.seqno}  age {r.age} s  {state}"
                )
                out.append(f"    {v.text}")
        if self.disagreements:
            out.append(
                f"{self.disagreements} disagreement(s) between meshtui and babeld: "
                "babeld's word wins"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """``why --json``."""
        return {
            "node": self.node,
            "prefix": self.prefix,
            "from": self.src,
            "read_from": self.where,
            "meshtui": {
                "destination": self.dest.to_json(),
                "pending": {
                    f"{via}%{iface}": {"reason": e.reason, "why": e.text}
                    for (via, iface), e in sorted(self.ours.items())
                },
            },
            "babeld": [v.to_json() for v in self.verdicts],
            "disagreements": self.disagreements,
        }


def why_report(
    model: NodeModel, node: str, prefix: str, src: str, text: str, where: str
) -> WhyReport:
    """Set babeld's dump (``text``) beside the model's view of one destination.

    Raises:
        TablesError: the text holds no table dump.
    """
    dump = parse_dump(text)
    if dump is None:
        raise TablesError(f"{where}: babeld wrote no table dump after the signal")
    dest = model.destination(prefix, src)
    ours: dict[tuple[str, str], Explanation] = {}
    for route in dest.pending:
        why = model.explain(route, dest.selected)
        if why is not None:
            ours[(route.via, route.interface)] = why
    verdicts = babeld_says(dest, dump.routes_to(prefix, src), ours)
    return WhyReport(node, prefix, src, where, dest, ours, verdicts, dump)


async def ask_babeld(
    source: Source, model: NodeModel, prefix: str, src: str = "::/0", *, read_only: bool = False
) -> WhyReport:
    """Signal the source's babeld, read its dump, and report on ``prefix``.

    Raises:
        ReadOnlyError: read-only mode (``--read-only``, the environment, the settings).
        TablesError: babeld cannot be signalled or its log cannot be read.
        ConnectError: an SSH node cannot be reached.
    """
    refuse_if_read_only(WHAT, read_only)
    if source.replay is not None:
        raise TablesError(f"{source.label}: a recording cannot be asked (no babeld behind it)")
    ssh = source.access.ssh
    if ssh is not None:
        dumped = await ssh_dump(ssh.pool, ssh.inventory_node)
    else:
        target = source.access.local_target
        if target is None:
            raise TablesError(f"{source.label}: not a local babeld socket")
        dumped = await local_dump(target)
    return why_report(model, source.name, prefix, src, dumped.text, dumped.where)
