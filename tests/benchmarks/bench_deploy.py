"""Benchmark of deployments under random faults in the namespace lab (root).

Builds its own lab (2 sites, 2 relays, hello 0.5 s) and runs N deployments
(default 50) to random nodes, each with one fault drawn at random:

* ``none``: a good config (the node's hello interval toggled 0.5 <-> 0.4 s);
* ``bad``: a lint-clean config with wrong tunnel (servers: LAN) interface
  names, so the node's destinations do not come back and verification fails;
* ``drop``: the operator's SSH path dies at a random point: at a phase
  boundary (the client aborts the connection, or sshd and every session on the
  node are killed and sshd only comes back later), or after a random delay;
* ``slow``: a slow restart (the restart command sleeps 1-4 s first; one in four
  sleeps past ``--restart-timeout``).

A watcher thread reads the node's config file every 2 ms during each
deployment: anything but the old text or the new one counts as a *partial*
config. After each deployment the node must settle (no armed rollback, sshd and
babeld running, every node reaching every other): the file must then be the old
or the new text (else *lost*) and agree with the outcome (confirmed: new;
anything else: old). Prints the counts, the rollbacks (by meshtui, by the
node's timer) and the time to recover (fault -> settled). Asserts nothing.

Run: ``.venv/bin/python tests/benchmarks/bench_deploy.py [--deploys 50] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshtui.core.confgen import render_babeld_conf
from meshtui.core.inventory import Inventory, load_inventory, parse_inventory
from meshtui.lab import Lab, missing_prerequisites
from meshtui.ops.deploy import AutoOperator, Deployer, DeployOptions, Outcome, Phase
from meshtui.transport.ssh import SSHPool, SSHSettings

FAULTS = ("none", "bad", "drop", "slow")
WEIGHTS = (1, 1, 2, 1)  # drops come in many kinds: draw them twice as often
DROP_PHASES = (
    Phase.READ,
    Phase.BACKUP,
    Phase.ARM,
    Phase.WRITE,
    Phase.RESTART,
    Phase.VERIFY,
    Phase.CONFIRM,
)


@dataclass
class Trial:
    """One deployment and what became of it."""

    index: int
    node: str
    fault: str
    detail: str
    outcome: str = ""
    rolled_back_by: str | None = None
    partial: int = 0
    reads: int = 0
    lost: bool = False
    inconsistent: bool = False
    backup_ok: bool = True
    landed: bool = False  # the fault happened before the deployment ended
    deploy_s: float = 0.0
    recover_s: float = 0.0
    messages: list[str] = field(default_factory=list)


class Watch(threading.Thread):
    """Reads ``path`` in a loop; counts reads that are neither ``old`` nor ``new``."""

    def __init__(self, path: Path, allowed: set[bytes]) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.allowed = allowed
        self.bad = 0
        self.reads = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = None
            self.reads += 1
            if data not in self.allowed:
                self.bad += 1
            time.sleep(0.002)


def forget_exited_daemons(lab: Lab) -> None:
    """Drop daemons the lab spawned that restart commands replaced since (see the tests)."""
    procs = getattr(lab, "_procs", {})
    for pid, proc in list(procs.items()):
        if proc.poll() is not None:
            procs.pop(pid, None)


def armed(lab: Lab, node: str) -> bool:
    return any(
        ".meshtui-" in n and n.endswith((".armed", ".fired"))
        for n in os.listdir(lab.node_dir(node))
    )


def wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class Bench:
    def __init__(self, lab: Lab, args: argparse.Namespace, workdir: Path) -> None:
        self.lab = lab
        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.base = tomllib.loads(lab.inventory_path.read_text())
        self.hello = {n: lab.config.hello for n in lab.nodes}  # what each node runs now
        self.options = DeployOptions(
            confirm_timeout=5.0,
            restart_timeout=args.restart_timeout,
            verify_margin=8.0,
            rollback_grace=4.0,
        )
        self.settings = SSHSettings(
            known_hosts=str(lab.known_hosts), client_keys=(str(lab.ssh_key),), config=()
        )

    # ------------------------------------------------------------ inventories

    def inventory(self, node: str, fault: str, hello: float, delay: float) -> Inventory:
        data = _deep_copy(self.base)
        nodes = data["nodes"]
        for name, value in self.hello.items():
            _set_hello(nodes[name], value)
        _set_hello(nodes[node], hello)
        if fault == "bad":
            if nodes[node].get("tunnels"):
                for i, t in enumerate(nodes[node]["tunnels"]):
                    t["interface"] = f"wgbroken{i}"
            else:
                nodes[node]["lan"] = "lanbroken"
        if fault == "slow":
            original = nodes[node]["restart_command"]
            nodes[node]["restart_command"] = shlex.join(
                ["sh", "-c", f"sleep {delay:.1f}; exec {original}"]
            )
        folder = self.workdir / "inventory"
        folder.mkdir(exist_ok=True)
        return parse_inventory(data, folder / self.lab.inventory_path.name)

    # ------------------------------------------------------------ one trial

    def trial(self, index: int) -> Trial:
        lab = self.lab
        node = self.rng.choice(lab.nodes)
        fault = self.rng.choices(FAULTS, WEIGHTS)[0]
        hello = 0.4 if self.hello[node] == lab.config.hello else lab.config.hello
        delay = 0.0
        detail = f"hello -> {hello:g}"
        drop: dict[str, Any] = {}
        if fault == "slow":
            too_slow = self.rng.random() < 0.25
            delay = self.args.restart_timeout + 2 if too_slow else self.rng.uniform(1.0, 4.0)
            detail += f", restart sleeps {delay:.1f} s"
        if fault == "drop":
            if self.rng.random() < 0.3:
                drop = {"after": self.rng.uniform(0.0, 2.5), "how": "client"}
                detail += f", client drops after {drop['after']:.1f} s"
            else:
                drop = {
                    "phase": self.rng.choice(DROP_PHASES),
                    "how": self.rng.choice(("client", "sshd")),
                    "revive": self.rng.uniform(0.0, 15.0),
                }
                detail += f", {drop['how']} drop after {drop['phase'].value}"
        inv = self.inventory(node, fault, hello, delay)
        old = lab.config_path(node).read_bytes()
        new = render_babeld_conf(inv, node).encode()
        trial = Trial(index, node, fault, detail)
        watch = Watch(lab.config_path(node), {old, new})
        fault_at: list[float] = []
        threads: list[threading.Thread] = []

        def kill_sshd() -> None:
            lab.kill_sshd(node, sessions=True)

            def revive() -> None:
                time.sleep(drop["revive"])
                forget_exited_daemons(lab)
                if lab.sshd_pid(node) is None:
                    lab.start_sshd(node)

            t = threading.Thread(target=revive, daemon=True)
            t.start()
            threads.append(t)

        async def run() -> Any:
            pool = SSHPool(self.settings)

            async def hook(name: str, phase: Phase) -> None:
                if drop.get("phase") is phase and not fault_at:
                    fault_at.append(time.monotonic())
                    if drop["how"] == "client":
                        pool.forget(name)
                    else:
                        await asyncio.to_thread(kill_sshd)

            async def timed_drop() -> None:
                await asyncio.sleep(drop["after"])
                fault_at.append(time.monotonic())
                pool.forget(node)

            deployer = Deployer(
                inv,
                pool,
                AutoOperator(),
                self.options,
                hook=hook,
                audit_path=self.workdir / "audit.log",
            )
            dropper = asyncio.ensure_future(timed_drop()) if "after" in drop else None
            try:
                return await deployer.deploy([node])
            finally:
                if dropper is not None:
                    dropper.cancel()
                await pool.close()

        t0 = time.monotonic()
        watch.start()
        try:
            report = asyncio.run(run())
        finally:
            t_deployed = time.monotonic()
        r = report.nodes[0]
        trial.outcome = r.outcome.value
        trial.rolled_back_by = r.rolled_back_by
        trial.messages = r.messages[-4:]
        trial.deploy_s = t_deployed - t0
        trial.landed = fault != "drop" or bool(fault_at)
        # settle: the node's timer done, sshd and babeld up, every node reaching every other
        for t in threads:
            t.join(60)
        wait(lambda: not armed(lab, node), 180, f"the rollback timer on {node}")
        forget_exited_daemons(lab)
        if lab.sshd_pid(node) is None:
            lab.start_sshd(node)
        wait(lambda: lab.babeld_pid(node) is not None, 60, f"babeld on {node}")
        wait(lab.converged, 180, "every node to reach every other")
        t_settled = time.monotonic()
        watch.stop.set()
        watch.join(5)
        trial.partial = watch.bad
        trial.reads = watch.reads
        trial.recover_s = t_settled - (fault_at[0] if fault_at else t0)
        try:
            final = lab.config_path(node).read_bytes()
        except FileNotFoundError:
            final = None
        trial.lost = final not in (old, new)
        expected = new if r.outcome is Outcome.CONFIRMED else old
        trial.inconsistent = final != expected
        if r.backup:
            trial.backup_ok = Path(r.backup).read_bytes() == old
        if final == new:
            self.hello[node] = hello
        return trial

    def restore(self, original: dict[str, bytes]) -> None:
        lab = self.lab
        inv = load_inventory(lab.inventory_path)
        forget_exited_daemons(lab)
        for node, text in original.items():
            if lab.sshd_pid(node) is None:
                lab.start_sshd(node)
            if lab.config_path(node).read_bytes() != text:
                lab.config_path(node).write_bytes(text)
                command = shlex.split(inv.node(node).restart_command)
                subprocess.run(command, check=True, timeout=120, capture_output=True)
        lab.wait_converged(180)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _set_hello(table: dict[str, Any], hello: float) -> None:
    if "lan" in table:
        table["lan_hello"] = hello
    for t in table.get("tunnels", []):
        t["hello"] = hello


def report(trials: list[Trial], elapsed: float, args: argparse.Namespace) -> None:
    def fmt(xs: list[float]) -> str:
        if not xs:
            return "n/a"
        return (
            f"median {statistics.median(xs):.1f} s, min {min(xs):.1f}, max {max(xs):.1f} "
            f"(n={len(xs)})"
        )

    print(f"\n{len(trials)} deploys in {elapsed:.0f} s (seed {args.seed}, hello {args.hello:g} s, "
          f"restart timeout {args.restart_timeout:g} s)")  # fmt: skip
    by_fault = collections.Counter(t.fault for t in trials)
    print("faults injected: " + ", ".join(f"{f} {by_fault[f]}" for f in FAULTS))
    missed = sum(not t.landed for t in trials)
    if missed:
        print(f"  ({missed} timed drop(s) came after the deployment had ended: no fault)")
    for fault in FAULTS:
        counts = collections.Counter(t.outcome for t in trials if t.fault == fault and t.landed)
        print(f"  {fault:<5} -> " + ", ".join(f"{o} {n}" for o, n in counts.most_common()))
    outcomes = collections.Counter(t.outcome for t in trials)
    print("outcomes:        " + ", ".join(f"{o} {n}" for o, n in outcomes.most_common()))
    partial = sum(t.partial > 0 for t in trials)
    reads = sum(t.reads for t in trials)
    lost = sum(t.lost for t in trials)
    inconsistent = sum(t.inconsistent for t in trials)
    bad_backups = sum(not t.backup_ok for t in trials)
    print(f"partial configs: {partial} (of {reads} reads of the file during the deploys)")
    print(f"lost configs:    {lost}   outcome/config disagreements: {inconsistent}   "
          f"bad backups: {bad_backups}")  # fmt: skip
    by = collections.Counter(t.rolled_back_by for t in trials if t.rolled_back_by)
    print(f"rollbacks:       {sum(by.values())} (requested by meshtui {by['deployer']}, "
          f"by the node's timer {by['node-timer']})")  # fmt: skip
    rolled = [t.recover_s for t in trials if t.rolled_back_by]
    timer = [t.recover_s for t in trials if t.rolled_back_by == "node-timer"]
    print(f"time to recover after a rollback (fault -> settled): {fmt(rolled)}")
    print(f"  of which by the node's timer (path dead):          {fmt(timer)}")
    for fault in FAULTS:
        xs = [t.deploy_s for t in trials if t.fault == fault]
        print(f"deploy wall time, fault {fault:<5}: {fmt(xs)}")
    odd = [t for t in trials if t.lost or t.inconsistent or t.partial or not t.backup_ok]
    for t in odd:
        print(f"  ! #{t.index} {t.node} {t.fault} ({t.detail}): {t.outcome}; {t.messages}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hello", type=float, default=0.5)
    parser.add_argument("--restart-timeout", type=float, default=8.0)
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per deploy")
    args = parser.parse_args()
    problems = missing_prerequisites()
    if problems:
        print("lab unavailable: " + "; ".join(problems), file=sys.stderr)
        return 1
    lab = Lab(hello=args.hello)
    trials: list[Trial] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="meshtui-bench-deploy-") as tmp:
        try:
            lab.up(wait=True, timeout=180)
            original = {n: lab.config_path(n).read_bytes() for n in lab.nodes}
            bench = Bench(lab, args, Path(tmp))
            for i in range(1, args.deploys + 1):
                trial = bench.trial(i)
                trials.append(trial)
                if args.verbose:
                    print(
                        f"#{i:>2} {trial.node:<8} {trial.fault:<5} {trial.detail:<44} "
                        f"{trial.outcome:<16} {trial.rolled_back_by or '':<10} "
                        f"deploy {trial.deploy_s:5.1f} s  recover {trial.recover_s:5.1f} s"
                        + ("" if trial.landed else "  (drop came too late)")
                        + ("  PARTIAL" if trial.partial else "")
                        + ("  LOST" if trial.lost else ""),
                        flush=True,
                    )
            bench.restore(original)
        finally:
            elapsed = time.monotonic() - t0
            lab.down()
    report(trials, elapsed, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
