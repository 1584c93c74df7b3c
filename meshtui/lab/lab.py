"""`Lab`: a real babeld mesh in network namespaces, with fault injection (root only).

One namespace per node (relays, one edge router per site, servers on the
site's LAN), WireGuard tunnels (wireguard-go, userspace) from every edge to
every relay, babeld everywhere with the configuration rendered from the lab's
inventory by :func:`meshtui.core.confgen.render_babeld_conf`, and an OpenSSH
sshd per node on a management veth from the root namespace.

Usage::

    with Lab(hello=0.5) as lab:          # up() on enter, down() on exit
        lab.wait_converged()
        lab.fail_relay("relay-1")
        lab.wait(lambda: lab.next_hop("edge-a", "srv-b1") == "relay-2", 30, "failover")

Everything the lab creates carries its random id (see topology.py), so labs
of several processes can run at once; `down()` (and `meshtui lab down|clean`
from another process) removes all of it.

The class is made of parts: :mod:`meshtui.lab.base` (identity, state),
:mod:`~meshtui.lab.build` (files, namespaces, links, tunnels),
:mod:`~meshtui.lab.daemons` (babeld, sshd) and :mod:`~meshtui.lab.observe`
(dumps, convergence, status); host prerequisites are :mod:`meshtui.lab.host`'s.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from ipaddress import IPv6Network
from pathlib import Path

from meshtui.core.lint import BABEL_PORT
from meshtui.lab.build import LabBuilder
from meshtui.lab.host import babeld_version, lab_unavailable, meshtui_command, missing_prerequisites
from meshtui.lab.observe import LabObserver, NodeStatus
from meshtui.lab.proc import LabError, LabTimeout, ProcRef, run, tool
from meshtui.lab.state import DEFAULT_ROOT, LabState, destroy_lab, lock_state
from meshtui.lab.topology import LabConfig

__all__ = [
    "Lab",
    "LabError",
    "LabTimeout",
    "NodeStatus",
    "babeld_version",
    "lab_unavailable",
    "meshtui_command",
    "missing_prerequisites",
]

NFT_TABLE = "meshtui_lab"


def _read_inventory(path: str | os.PathLike[str]) -> str:
    """The text of an inventory to replicate, once it is known to be valid (LabError if not)."""
    from meshtui.core.inventory import InventoryError, load_inventory

    try:
        load_inventory(path)
        return Path(path).read_text(encoding="utf-8")
    except (InventoryError, OSError) as exc:
        raise LabError(str(exc)) from None


def _random_ula() -> IPv6Network:
    """A random fdXX:XXXX:XXXX::/48 (RFC 4193 style 40-bit global id)."""
    gid = secrets.randbits(40)
    return IPv6Network(((0xFD << 120) | (gid << 80), 48))


class Lab(LabBuilder, LabObserver):
    """A babeld mesh of namespaces on this machine.

    Create one with ``Lab(...)`` then ``up()`` (or use it as a context manager),
    or attach to a running one with ``Lab.attach(lab_id)``.
    """

    def __init__(
        self,
        sites: int = 2,
        relays: int = 2,
        servers_per_site: int = 1,
        hello: float = 1.0,
        *,
        babeld: str = "babeld",
        detached: bool = False,
        root: Path = DEFAULT_ROOT,
        inventory: str | os.PathLike[str] | None = None,
        _state: LabState | None = None,
    ) -> None:
        """Describe a new lab (nothing is created until :meth:`up`).

        Args:
            sites: number of sites (a, b, ...), each with an edge and servers.
            relays: number of relays; relay-1 is the primary, the others standbys.
            servers_per_site: servers on each site's LAN.
            hello: babeld hello interval (s) on LANs and tunnels.
            babeld: the babeld binary every node runs (a name on PATH or a path,
                e.g. a build of another release); recorded in the lab state.
            detached: the lab outlives this process (``meshtui lab up``); otherwise
                this process owns it, and ``meshtui lab clean`` removes it once
                the process is gone.
            root: where lab state directories live.
            inventory: build a replica of this inventory's mesh instead (its
                nodes, LANs, tunnels, hello intervals, rxcosts and keys; the
                counts and ``hello`` above are then unused); what it cannot
                place is in ``topology.unplaced``.
        """
        self.root = Path(root)
        if _state is None:
            config = LabConfig(sites, relays, servers_per_site, float(hello))
            source = _read_inventory(inventory) if inventory is not None else None
            problems = config.problems() if source is None else []
            if problems:
                raise LabError("; ".join(problems))
            binary = tool(babeld)
            # A babeld asked for must be one now; the default one may be missing
            # (up() then says so, with the other missing prerequisites).
            version = babeld_version(babeld) if binary or babeld != "babeld" else ""
            lab_id = secrets.token_hex(3)
            while (self.root / lab_id).exists():
                lab_id = secrets.token_hex(3)
            # The creating process owns the lab while it is built (so `clean` removes
            # a half-built lab whose creator died); a detached lab is handed over
            # to nobody once up() succeeds.
            owner = ProcRef.of(os.getpid())
            _state = LabState(
                lab_id=lab_id,
                ula=str(_random_ula()),
                config=config,
                owner_pid=owner.pid if owner else None,
                owner_started=owner.started if owner else None,
                babeld=str(Path(binary).resolve()) if binary else babeld,
                babeld_version=version,
                inventory=source,
                inventory_path=str(inventory) if inventory is not None else None,
            )
        super().__init__(root, _state, detached)
        if inventory is not None:
            self._state.config = self.topology.config

    @classmethod
    def attach(cls, lab_id: str | None = None, root: Path = DEFAULT_ROOT) -> Lab:
        """A handle on a running lab (the only one when ``lab_id`` is None)."""
        from meshtui.lab.state import find_lab

        return cls(root=root, _state=find_lab(lab_id, root))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, wait: bool = True, timeout: float = 120.0) -> Lab:
        """Create everything and start the daemons; tear all down again on any failure.

        Args:
            wait: also wait until every node has a route to every other node and
                the edges' inter-site paths go via relay-1.
            timeout: bound for that wait (s).

        ``timings`` then holds ``up`` (s to build and start every daemon; with
        the cumulative ``links`` and ``wireguard`` phases) and, with ``wait``,
        ``converged`` (s more until converged); ``down()`` adds ``down``.
        """
        problems = missing_prerequisites(self.babeld)
        if problems:
            raise LabError("; ".join(problems))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        with lock_state(self.root, self.id, create=True):
            self._state.save(self.root)  # before anything exists: down/clean can find it
        if not self._atexit:
            atexit.register(self.down)
            self._atexit = True
        t0 = time.monotonic()
        try:
            self._make_files()
            self._create_namespaces()
            self._create_links()
            self.timings["links"] = time.monotonic() - t0
            self._start_wireguard()
            self.timings["wireguard"] = time.monotonic() - t0
            self._write_inventory()
            for n in self.topology.nodes:
                self._write_babeld_conf(n.name)
            for n in self.topology.nodes:
                self._spawn_sshd(n)
                self._spawn_babeld(n)
            for n in self.topology.nodes:
                self._wait_sshd(n)
                self._wait_babeld(n)
            self.timings["up"] = time.monotonic() - t0
            self._update_state(status="up")
            if wait:
                self.timings["converged"] = self.wait_converged(
                    timeout, primary=self.topology.primary
                )
        except BaseException:
            self.down()
            raise
        if self._detach:
            self._update_state(owner_pid=None, owner_started=None)
            atexit.unregister(self.down)
            self._atexit = False
        return self

    def down(self) -> list[str]:
        """Stop every process of the lab and delete everything it created (idempotent).

        Returns the problems met (empty when all is gone).
        """
        t0 = time.monotonic()
        problems = destroy_lab(self.id, self.root, reap=self._reap)
        self.timings["down"] = time.monotonic() - t0
        for proc in list(self._procs.values()):
            with contextlib.suppress(Exception):
                proc.wait(timeout=1)
        self._procs.clear()
        if self._atexit:
            atexit.unregister(self.down)
            self._atexit = False
        self._state.status = "down"
        return problems

    # ------------------------------------------------------------------ faults

    def fail_relay(self, name: str) -> None:
        """Silent outage: drop Babel (udp dport 6696) in and out in the relay's namespace.

        Links and tunnels stay up; neighbours notice only by missing Hellos.
        """
        n = self.node(name)
        if n.role != "relay":
            raise LabError(f"{name} is not a relay")
        ruleset = (
            f"table inet {NFT_TABLE} {{\n"
            f"  chain input {{ type filter hook input priority 0; policy accept;"
            f" udp dport {BABEL_PORT} drop; }}\n"
            f"  chain output {{ type filter hook output priority 0; policy accept;"
            f" udp dport {BABEL_PORT} drop; }}\n"
            "}\n"
        )
        self.heal_relay(name)
        run(["ip", "netns", "exec", n.namespace, "nft", "-f", "-"], input=ruleset)
        self._update_state(failed_relays=sorted({*self._state.failed_relays, name}))

    def heal_relay(self, name: str) -> None:
        """Undo :meth:`fail_relay` (harmless when the relay is not failed)."""
        n = self.node(name)
        if n.role != "relay":
            raise LabError(f"{name} is not a relay")
        run(["ip", "netns", "exec", n.namespace, "nft", "delete", "table", "inet", NFT_TABLE],
            check=False)  # fmt: skip
        self._refresh_state()
        if name in self._state.failed_relays:
            self._update_state(failed_relays=[r for r in self._state.failed_relays if r != name])

    def relay_failed(self, name: str) -> bool:
        n = self.node(name)
        res = run(["ip", "netns", "exec", n.namespace, "nft", "list", "tables"], check=False)
        return f"inet {NFT_TABLE}" in res.stdout

    def roam(self, server: str, to_site: str, wait: bool = True) -> None:
        """Move a server (and its /128) onto another site's LAN.

        How: the server's babeld is stopped with SIGTERM, so it retracts its
        routes on the old LAN and neighbours drop them at once; its LAN veth is
        deleted and re-created with the same name (``lan0``) on the new site's
        bridge; then babeld starts again with the unchanged config and
        announces the /128 from the new site. The inventory's ``site`` follows.
        """
        n = self.node(server)
        if n.role != "server":
            raise LabError(f"{server} is not a server (only servers roam)")
        if to_site not in self.topology.sites:
            raise LabError(f"no site {to_site!r} (sites: {', '.join(self.topology.sites)})")
        self._refresh_state()
        current = self.site_of(server) or ""
        if current == to_site:
            raise LabError(f"{server} is already at site {to_site}")
        old_edge = self.topology.bridge_of(current)
        new_edge = self.topology.bridge_of(to_site)
        if self.babeld_pid(server) is not None:
            self.kill_babeld(server, signal.SIGTERM)
        self._batch(old_edge.namespace, [f"link delete {n.lan_port}"])
        self._batch(
            new_edge.namespace,
            [
                self._server_port_add(n, new_edge),
                f"link set {n.lan_port} master {new_edge.lan}",
                f"link set {n.lan_port} up",
            ],
        )
        self._batch(n.namespace, self._lan_lines(n))
        sites = dict(self._state.server_sites)
        sites[server] = to_site
        self._update_state(server_sites=sites)
        self._write_inventory()
        self.start_babeld(server, wait=wait)

    def reset(self, timeout: float = 120.0) -> float:
        """Undo every fault: heal relays, bring servers home, restart missing daemons;
        then wait for convergence on the primary relay. Returns the seconds waited."""
        for relay in self.topology.role("relay"):
            if self.relay_failed(relay.name) or relay.name in self.failed_relays:
                self.heal_relay(relay.name)
        for srv in self.topology.role("server"):
            if self.site_of(srv.name) != srv.site:
                self.roam(srv.name, srv.site or "")
        for n in self.topology.nodes:
            if self.babeld_pid(n.name) is None:
                self.start_babeld(n.name)
            if self.sshd_pid(n.name) is None:
                self.start_sshd(n.name)
        return self.wait_converged(timeout, primary=self.topology.primary)

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        check: bool = False,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (no shell) in the node's namespace and return the result."""
        n = self.node(node)
        return run(["ip", "netns", "exec", n.namespace, *argv], check=check, timeout=timeout,
                   input=input)  # fmt: skip
