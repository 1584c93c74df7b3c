"""Rehearse outages in a replica of an inventory: silence each relay, measure, heal (root).

:func:`rehearse` builds a replica (``Lab(inventory=...)``), waits until it has
converged and its routes stay put, then for each node in turn: takes the
baseline, silences the node (the lab's silent outage: nftables drops Babel in
its namespace), samples every node's routes until the mesh settles, heals it,
and samples until every pair is back on its baseline relay (or a bound
passes). The samples become results in :mod:`meshtui.core.rehearsal`.

Sampling is the lab's own look at the mesh: one ``dump`` of every node per
sample (:meth:`Lab.dump_all`), paths traced by :func:`meshcheck.build_matrix`.
A sample's time is the middle of its dumps, so times are as good as one
sample's duration (tens of ms for 6 nodes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from meshtui.core.foresight import detection_time
from meshtui.core.inventory import Inventory, InventoryError, load_inventory
from meshtui.core.meshcheck import build_matrix
from meshtui.core.names import Names
from meshtui.core.rehearsal import (
    OutageResult,
    PathState,
    RunResult,
    Sample,
    Table,
    measure_outage,
    path_table,
    settled,
)
from meshtui.lab.lab import Lab, LabError

__all__ = ["RehearsalError", "rehearse", "sample_table"]

Progress = Callable[[str], None]


class RehearsalError(LabError):
    """A rehearsal that cannot run (an outage node that is not a relay, ...)."""


def sample_table(lab: Lab, inv: Inventory) -> tuple[float, Table]:
    """One look at every pair of the lab: (monotonic time, table)."""
    t0 = time.monotonic()
    dumps = lab.dump_all()
    t1 = time.monotonic()
    models = {n: m for n, m in dumps.items() if m is not None}
    names = Names.build(inv, models)
    matrix = build_matrix(dumps, names, destinations=lab.nodes, sources=lab.nodes)
    return (t0 + t1) / 2, path_table(matrix)


def _longest_hello(inv: Inventory) -> float:
    hellos = [h for n in inv.nodes.values() for h in n.hello_intervals.values()]
    return max(hellos, default=4.0)


def rehearse(
    inventory: str | Path,
    outages: Sequence[str] | None = None,
    *,
    babeld: str = "babeld",
    settle: float | None = None,
    back_timeout: float | None = None,
    timeout: float = 180.0,
    progress: Progress | None = None,
) -> RunResult:
    """Rehearse every relay's outage (or ``outages``) in a replica of ``inventory``.

    Args:
        inventory: the inventory to replicate.
        outages: the nodes to silence, in turn (default: every relay placed).
        babeld: the babeld binary the replica runs.
        settle: seconds without any route change that count as settled
            (default: 4 of the longest hello interval, at least 3 s).
        back_timeout: how long to wait for the way back after a heal (default:
            60 s plus the longest detection time; a route back from a
            retraction needs ~30 s of babeld's metric smoothing to win).
        timeout: bound for the replica's first convergence and for each outage.
        progress: called with a line of text at each step.

    The replica is torn down before this returns, also on errors.
    """
    say = progress or (lambda _line: None)
    try:
        source = load_inventory(inventory)
    except InventoryError as exc:
        raise RehearsalError(str(exc)) from None
    lab = Lab(inventory=inventory, babeld=babeld)
    run_inv_path = str(inventory)
    hello = _longest_hello(source)
    quiet = settle if settle is not None else max(3.0, 4 * hello)
    back_bound = back_timeout if back_timeout is not None else 60.0 + detection_time(hello).latest
    # silent long enough for the slowest detection, a settled mesh, and slack
    outage_bound = detection_time(hello).latest + quiet + 30.0
    topo = lab.topology
    names = list(outages) if outages else [n.name for n in topo.role("relay")]
    for name in names:
        if name not in lab.nodes:
            why = "left out of the replica" if name in source.nodes else "unknown"
            raise RehearsalError(f"outage {name}: {why} (nodes: {', '.join(lab.nodes)})")
        if topo.node(name).role != "relay":
            raise RehearsalError(f"outage {name}: only relays can be silenced, {name} is not one")
    for line in topo.unplaced:
        say(f"not in the replica: {line}")
    results: list[OutageResult] = []
    try:
        t0 = time.monotonic()
        say(f"building a replica of {run_inv_path} ({len(lab.nodes)} nodes)")
        lab.up(wait=True, timeout=timeout)
        inv = load_inventory(lab.inventory_path)
        say(f"replica {lab.id} up in {time.monotonic() - t0:.1f} s; settling ({quiet:g} s quiet)")
        baseline = _settle(lab, inv, quiet, timeout)
        for name in names:
            results.append(
                _outage(lab, inv, name, baseline, quiet, timeout, back_bound, outage_bound, say)
            )
            baseline = _settle(lab, inv, quiet, timeout)
    finally:
        lab.down()
    return RunResult(run_inv_path, tuple(results), topo.unplaced)


def _same(a: PathState | None, b: PathState) -> bool:
    return a is not None and (a.reachable, a.relay) == (b.reachable, b.relay)


def _settle(lab: Lab, inv: Inventory, quiet: float, timeout: float) -> Table:
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t, table = sample_table(lab, inv)
        samples.append(Sample(t, table))
        if settled(samples, quiet):
            return table
        time.sleep(0.05)
    pending = sorted(f"{s} → {d}" for (s, d), st in samples[-1].table.items() if st.pending)
    detail = f" (better routes still waiting: {', '.join(pending[:5])})" if pending else ""
    raise RehearsalError(f"the replica's routes did not settle within {timeout:g} s{detail}")


def _outage(
    lab: Lab,
    inv: Inventory,
    node: str,
    baseline: Table,
    quiet: float,
    timeout: float,
    back_bound: float,
    outage_bound: float,
    say: Progress,
) -> OutageResult:
    crossing = [k for k, st in baseline.items() if st.relay == node]
    say(f"silencing {node} ({len(crossing)} paths cross it)")
    lab.fail_relay(node)
    t_silence = time.monotonic()
    samples: list[Sample] = []
    healed = False
    try:
        deadline = t_silence + min(timeout, outage_bound)
        while time.monotonic() < deadline:
            t, table = sample_table(lab, inv)
            samples.append(Sample(t - t_silence, table))
            moved = all(table.get(k) is None or table[k].relay != node for k in crossing)
            if moved and settled(samples, quiet):
                break
            time.sleep(0.02)
        lab.heal_relay(node)
        healed = True
        t_heal = time.monotonic() - t_silence
        say(f"healed {node} after {t_heal:.1f} s; waiting for the way back")
        deadline = time.monotonic() + back_bound
        while time.monotonic() < deadline:
            t, table = sample_table(lab, inv)
            samples.append(Sample(t - t_silence, table))
            if all(_same(table.get(k), st) for k, st in baseline.items()):
                break
            time.sleep(0.02)
    finally:
        if not healed:
            lab.heal_relay(node)
    if len(samples) > 1:
        step = (samples[-1].t - samples[0].t) / (len(samples) - 1)
        say(f"{node}: {len(samples)} samples, one every {step * 1000:.0f} ms")
    return measure_outage(node, baseline, samples, t_heal)
