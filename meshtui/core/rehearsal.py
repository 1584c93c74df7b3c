"""Rehearsal results: what each outage does to every (source, destination) pair, and diffs.

A rehearsal (``meshtui rehearse``) silences one node of a replica at a time
and samples every node's routes, before, during and after. This module turns
those samples into results and compares two rehearsals:

* :func:`path_table` — from a :class:`~meshtui.core.meshcheck.Matrix` (one
  home for tracing paths hop by hop), whether each pair is reachable and the
  relay its path crosses;
* :func:`measure_outage` — per pair: the relay before, the relay after (None:
  unreachable), the failover time (silence → a route via another relay), the
  time unreachable, the time back (heal → the baseline relay again);
* :func:`compare` — the current inventory's rehearsal against a candidate's:
  the regressions (a pair the candidate leaves unreachable in an outage where
  the current one does not) and the differences worth a line.

Pure: no I/O. Times are seconds since the node was silenced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshtui.core.foresight import SLOW_DETECTION, format_seconds
from meshtui.core.meshcheck import CellState, Matrix

__all__ = [
    "Comparison",
    "OutageResult",
    "PairResult",
    "PathState",
    "Regression",
    "RunResult",
    "Sample",
    "compare",
    "describe_run",
    "failover_grade",
    "measure_outage",
    "pairs_of",
    "path_table",
    "report_json",
    "runs_from_json",
    "settled",
]

# A failover time must differ by this much (s), and by this share of the
# longer one, to be called out: sampling resolution and babeld's jitter.
NOTABLE_ABS = 1.0
NOTABLE_REL = 0.25
QUICK_FAILOVER = 10.0  # s: up to here a failover is quick (babeld's default hello is 4 s)


@dataclass(frozen=True, slots=True)
class PathState:
    """How a source reaches a destination at one moment."""

    reachable: bool
    relay: str | None = None  # the first relay on the path (None: crosses none)
    pending: bool = False  # a better route waits (smoothing or feasibility): not settled yet


Table = dict[tuple[str, str], PathState]


@dataclass(frozen=True, slots=True)
class Sample:
    """Every pair's state at ``t`` seconds after the silence (negative: before it)."""

    t: float
    table: Table


def path_table(matrix: Matrix) -> Table:
    """Each (source, destination node) pair's reachability and relay, from the mesh matrix."""
    out: Table = {}
    for cell in matrix.cells.values():
        if cell.state in (CellState.SELF, CellState.UNKNOWN):
            continue
        reachable = cell.hop is not None and cell.complete
        relay = cell.relay if reachable else None
        out[(cell.source, cell.dest)] = PathState(reachable, relay, cell.state is CellState.PENDING)
    return out


def settled(samples: Sequence[Sample], quiet: float) -> bool:
    """The last samples span ``quiet`` seconds without any change of any pair, none pending."""
    if not samples:
        return False
    last = samples[-1]
    if any(st.pending for st in last.table.values()):
        return False
    for s in reversed(samples):
        if s.table != last.table:
            return False
        if last.t - s.t >= quiet:
            return True
    return False


@dataclass(frozen=True, slots=True)
class PairResult:
    """What one outage did to one (source, destination) pair.

    Attributes:
        before: the relay before the outage (None: unreachable already).
        after: the relay once the mesh settled with the node silent (None: unreachable).
        failover_s: silence → a route via another relay installed (None: the
            path did not cross the silenced node, or never found another way).
        unreachable_s: how long the pair had no route, silence to the end of the way back.
        back_s: heal → the path crosses ``before`` again (0: it never left;
            None: it did not come back in time, or had no relay before).
    """

    source: str
    dest: str
    before: str | None
    after: str | None
    failover_s: float | None
    unreachable_s: float
    back_s: float | None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``rehearse --json``)."""
        return {
            "from": self.source,
            "to": self.dest,
            "before": self.before,
            "after": self.after,
            "failover_s": _round(self.failover_s),
            "unreachable_s": _round(self.unreachable_s),
            "back_s": _round(self.back_s),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairResult:
        """Read :meth:`to_json`'s form back (KeyError/TypeError/ValueError when malformed)."""
        return cls(
            source=str(data["from"]),
            dest=str(data["to"]),
            before=_opt_str(data["before"]),
            after=_opt_str(data["after"]),
            failover_s=_opt_float(data["failover_s"]),
            unreachable_s=float(data["unreachable_s"]),
            back_s=_opt_float(data["back_s"]),
        )


@dataclass(frozen=True)
class OutageResult:
    """One silenced node and what it did to the pairs it touched."""

    node: str
    pairs: tuple[PairResult, ...]

    def pair(self, source: str, dest: str) -> PairResult | None:
        """The result for one pair (None: the outage did not touch it)."""
        return next((p for p in self.pairs if p.source == source and p.dest == dest), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {"node": self.node, "pairs": [p.to_json() for p in self.pairs]}


@dataclass(frozen=True)
class RunResult:
    """A rehearsal of one inventory: every outage in turn."""

    inventory: str
    outages: tuple[OutageResult, ...]
    unplaced: tuple[str, ...] = ()  # what the replica could not build

    def outage(self, node: str) -> OutageResult | None:
        """The result of silencing ``node`` (None: not rehearsed)."""
        return next((o for o in self.outages if o.node == node), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {"inventory": self.inventory, "outages": [o.to_json() for o in self.outages]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def measure_outage(
    node: str,
    baseline: Table,
    samples: Sequence[Sample],
    healed_at: float,
) -> OutageResult:
    """Per pair, what silencing ``node`` at t=0 and healing it at ``healed_at`` did.

    Args:
        node: the silenced node (pairs from or to it are left out).
        baseline: every pair's state before the silence.
        samples: states at increasing ``t`` (seconds since the silence).
        healed_at: when the node was heard again (s since the silence).

    Pairs reported: those whose baseline path crosses a relay, and those
    that were unreachable at some point (before, during or after).
    """
    samples = sorted(samples, key=lambda s: s.t)
    keys = set(baseline)
    for s in samples:
        keys.update(s.table)
    out = []
    for key in sorted(keys):
        source, dest = key
        if node in key:
            continue
        base = baseline.get(key, PathState(False))
        states = [(s.t, s.table.get(key, PathState(False))) for s in samples]
        if base.relay is None and base.reachable and all(st.reachable for _, st in states):
            continue
        before = base.relay if base.reachable else None
        during = [(t, st) for t, st in states if t < healed_at]
        healing = [(t, st) for t, st in states if t >= healed_at]
        last = during[-1][1] if during else base
        after = last.relay if last.reachable else None
        failover = None
        if before == node:
            failover = next(
                (t for t, st in during if st.reachable and st.relay not in (node, None)), None
            )
        unreachable = 0.0
        for (t, st), nxt in zip(states, [*states[1:], None], strict=True):
            if not st.reachable and nxt is not None:
                unreachable += nxt[0] - max(t, 0.0)
        back: float | None = None
        if before is not None:
            left = any((st.reachable, st.relay) != (base.reachable, base.relay) for _, st in states)
            if not left:
                back = 0.0
            else:
                back = next(
                    (t - healed_at for t, st in healing if st.reachable and st.relay == before),
                    None,
                )
        out.append(PairResult(source, dest, before, after, failover, unreachable, back))
    return OutageResult(node, tuple(out))


# ------------------------------------------------------------------ comparison


@dataclass(frozen=True, slots=True)
class Regression:
    """A pair the candidate leaves unreachable in an outage where the current one does not."""

    outage: str
    source: str
    dest: str
    current: str | None  # the relay the current inventory fails over to
    message: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "outage": self.outage,
            "from": self.source,
            "to": self.dest,
            "current_after": self.current,
            "candidate_after": None,
            "message": self.message,
        }


@dataclass(frozen=True)
class Comparison:
    """The current rehearsal against a candidate's."""

    regressions: tuple[Regression, ...] = ()
    differences: tuple[str, ...] = ()

    @property
    def exit_status(self) -> int:
        """1 when the candidate regresses, else 0."""
        return 1 if self.regressions else 0


def failover_grade(p: PairResult | None) -> str:
    """How an outage treated a pair, for colours: ``unaffected``, ``quick``, ``slow``
    (up to :data:`~meshtui.core.foresight.SLOW_DETECTION`), ``black-hole`` (longer),
    ``unreachable`` (no way while the node is silent) or ``moved``."""
    if p is None or (p.before is not None and p.after == p.before and p.unreachable_s == 0):
        return "unaffected"
    if p.after is None:
        return "unreachable"
    if p.failover_s is None:
        return "moved"
    if p.failover_s <= QUICK_FAILOVER:
        return "quick"
    return "slow" if p.failover_s <= SLOW_DETECTION else "black-hole"


def _failover_text(p: PairResult | None) -> str:
    if p is None or (p.before is not None and p.after == p.before):
        return "not affected"
    if p.after is None:
        return "unreachable"
    if p.failover_s is None:
        return f"via {p.after}"
    return format_seconds(p.failover_s)


def _notable(a: float, b: float) -> bool:
    return abs(a - b) > max(NOTABLE_ABS, NOTABLE_REL * max(a, b))


def compare(current: RunResult, candidate: RunResult) -> Comparison:
    """Regressions and notable differences, outage by outage, pair by pair."""
    regressions: list[Regression] = []
    diffs: list[str] = []
    for cand in candidate.outages:
        cur = current.outage(cand.node)
        if cur is None:
            diffs.append(f"{cand.node} is rehearsed for the candidate only")
            continue
        keys = [(p.source, p.dest) for p in cur.pairs]
        keys += [(p.source, p.dest) for p in cand.pairs if (p.source, p.dest) not in keys]
        for source, dest in keys:
            a, b = cur.pair(source, dest), cand.pair(source, dest)
            cur_lost = a is not None and a.after is None
            cand_lost = b is not None and b.after is None
            when = f"when {cand.node} fails"
            if cand_lost and not cur_lost:
                if b is not None and b.before is None:
                    text = f"{source} cannot reach {dest} at all with the candidate"
                else:
                    text = f"{source} loses {dest} entirely {when}"
                regressions.append(
                    Regression(cand.node, source, dest, a.after if a else None, text)
                )
                diffs.append(text)
            elif cur_lost and not cand_lost:
                diffs.append(f"{source} keeps {dest} {when} ({_failover_text(b)}; was unreachable)")
            elif a is not None and b is not None and a.failover_s is not None:
                if b.failover_s is not None and _notable(a.failover_s, b.failover_s):
                    diffs.append(
                        f"{source} → {dest}: {format_seconds(a.failover_s)} → "
                        f"{format_seconds(b.failover_s)} {when}"
                    )
            elif a is not None and b is not None and a.after != b.after:
                diffs.append(f"{source} → {dest} {when}: via {a.after} → via {b.after}")
    return Comparison(tuple(regressions), tuple(diffs))


def report_json(
    inventory: str, runs: Sequence[RunResult], comparison: Comparison | None
) -> dict[str, Any]:
    """The ``rehearse --json`` object: ``inventory``, ``runs``, ``regressions``."""
    return {
        "inventory": inventory,
        "runs": [r.to_json() for r in runs],
        "regressions": [r.to_json() for r in comparison.regressions] if comparison else [],
    }


def runs_from_json(data: Mapping[str, Any]) -> list[RunResult]:
    """The runs of a ``rehearse --json`` object (ValueError when it is not one)."""
    try:
        return [
            RunResult(
                inventory=str(run["inventory"]),
                outages=tuple(
                    OutageResult(
                        node=str(o["node"]),
                        pairs=tuple(PairResult.from_json(p) for p in o["pairs"]),
                    )
                    for o in run["outages"]
                ),
            )
            for run in data["runs"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a rehearsal result ({type(exc).__name__}: {exc})") from None


def describe_run(run: RunResult) -> list[str]:
    """Text lines for one rehearsal: per outage, per pair."""
    lines = [f"{run.inventory}:"]
    lines += [f"  not in the replica: {u}" for u in run.unplaced]
    for o in run.outages:
        lines.append(f"  {o.node} silent:")
        if not o.pairs:
            lines.append("    no pair crosses it")
        for p in o.pairs:
            lines.append("    " + _pair_line(p))
    return lines


def _pair_line(p: PairResult) -> str:
    before = p.before or "unreachable"
    after = p.after or "unreachable"
    words = [f"{p.source} → {p.dest}: {before} → {after}"]
    if p.failover_s is not None:
        words.append(f"failover {format_seconds(p.failover_s)}")
    if p.unreachable_s > 0:
        words.append(f"unreachable {format_seconds(p.unreachable_s)}")
    if p.back_s is None:
        words.append("not back" if p.before is not None else "")
    elif p.back_s > 0:
        words.append(f"back {format_seconds(p.back_s)}")
    return "; ".join(w for w in words if w)


def pairs_of(runs: Iterable[RunResult]) -> list[tuple[str, str]]:
    """Every pair any run reports, in first-seen order (for matrices)."""
    out: dict[tuple[str, str], None] = {}
    for run in runs:
        for o in run.outages:
            for p in o.pairs:
                out.setdefault((p.source, p.dest), None)
    return list(out)
