"""`LabBase`: what a lab is: its state, its topology, where its files are, the processes it tracks.

:class:`meshtui.lab.lab.Lab` is this base with its parts, each a mixin on it:
building the namespaces and files (build.py), the daemons (daemons.py) and
observing the mesh (observe.py).
"""

from __future__ import annotations

import contextlib
import subprocess
from ipaddress import IPv6Network
from pathlib import Path

from meshtui.lab.proc import LabError
from meshtui.lab.state import LabState, lock_state
from meshtui.lab.topology import LabConfig, LabNode, Topology, build_topology, replica_topology


def _topology(state: LabState) -> Topology:
    """The lab's topology from its state: built-in, or a replica of the inventory it holds."""
    if state.inventory is None:
        return build_topology(state.lab_id, IPv6Network(state.ula), state.config)
    import tomllib

    from meshtui.core.inventory import InventoryError, parse_inventory

    source = state.inventory_path or "an inventory"
    try:
        inv = parse_inventory(tomllib.loads(state.inventory), state.inventory_path)
    except (InventoryError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"replica of {source}: {exc}") from None
    try:
        topo = replica_topology(state.lab_id, IPv6Network(state.ula), inv, source)
    except ValueError as exc:
        raise LabError(f"replica of {source}: {exc}") from None
    if not topo.nodes:
        raise LabError(f"replica of {source}: no node can be placed ({'; '.join(topo.unplaced)})")
    return topo


class LabBase:
    """A lab's identity and state (see :class:`meshtui.lab.lab.Lab`)."""

    def __init__(self, root: Path, state: LabState, detached: bool) -> None:
        self.root = Path(root)
        self._state = state
        self._detach = detached
        self.timings: dict[str, float] = {}
        self.topology: Topology = _topology(state)
        self._procs: dict[int, subprocess.Popen] = {}
        self._atexit = False
        self._ll_to_node: dict[str, str] = {}
        for n in self.topology.nodes:
            if n.lan_link_local is not None:
                self._ll_to_node[str(n.lan_link_local)] = n.name
            for t in n.tunnels:
                self._ll_to_node[str(t.link_local)] = n.name

    # ------------------------------------------------------------------ identity

    @property
    def id(self) -> str:
        return self._state.lab_id

    @property
    def config(self) -> LabConfig:
        return self._state.config

    @property
    def babeld(self) -> str:
        """The babeld binary every node runs (absolute path)."""
        return self._state.babeld

    @property
    def babeld_version(self) -> str:
        """What that babeld says with ``-V``, e.g. ``babeld-1.14``."""
        return self._state.babeld_version

    @property
    def state_dir(self) -> Path:
        return self.root / self.id

    @property
    def inventory_path(self) -> Path:
        """The lab's inventory (TOML schema v1): sockets, ssh destinations, tunnels."""
        return self.state_dir / "mesh.toml"

    @property
    def ssh_key(self) -> Path:
        """The client private key every node's sshd accepts (for root)."""
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """known_hosts with every node's host key, by management address."""
        return self.state_dir / "ssh" / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        """An ssh_config with a ``Host NODE`` entry per node (``ssh -F FILE edge-a``)."""
        return self.state_dir / "ssh" / "config"

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    @property
    def prefix(self) -> IPv6Network:
        return self.topology.prefix

    def node(self, name: str) -> LabNode:
        try:
            return self.topology.node(name)
        except KeyError as exc:
            raise LabError(str(exc.args[0])) from None

    def node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / self.node(node).name

    def socket_path(self, node: str) -> str:
        """babeld's read-only control socket of ``node`` (reachable from the root namespace)."""
        return str(self.node_dir(node) / "babeld.sock")

    def config_path(self, node: str) -> Path:
        return self.node_dir(node) / "babeld.conf"

    def address(self, node: str) -> str:
        """The node's /128 (without the length)."""
        return str(self.node(node).address)

    def ssh_destination(self, node: str) -> str:
        return f"root@{self.node(node).mgmt_address}"

    def site_of(self, node: str) -> str | None:
        """Where a node is now (servers roam)."""
        n = self.node(node)
        return self._state.server_sites.get(n.name, n.site)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Lab(id={self.id!r}, sites={c.sites}, relays={c.relays}, "
            f"servers_per_site={c.servers_per_site}, hello={c.hello:g}, "
            f"babeld={self.babeld_version or self.babeld!r})"
        )

    # ------------------------------------------------------------------ state

    def _reap(self, pid: int) -> None:
        proc = self._procs.get(pid)
        if proc is not None and proc.poll() is not None:
            del self._procs[pid]

    def _update_state(self, **changes: object) -> None:
        with lock_state(self.root, self.id):
            fresh = LabState.load(self.root, self.id)
            self._state.server_sites = fresh.server_sites
            self._state.failed_relays = fresh.failed_relays
            self._state.status = fresh.status
            self._state.owner_pid = fresh.owner_pid
            self._state.owner_started = fresh.owner_started
            for key, value in changes.items():
                setattr(self._state, key, value)
            self._state.save(self.root)

    def _refresh_state(self) -> None:
        with contextlib.suppress(LabError):
            fresh = LabState.load(self.root, self.id)
            self._state.server_sites = fresh.server_sites
            self._state.failed_relays = fresh.failed_relays
            self._state.status = fresh.status

    @property
    def phase(self) -> str:
        """``starting``, ``up`` or ``down``, as the state file says."""
        self._refresh_state()
        return self._state.status

    @property
    def failed_relays(self) -> list[str]:
        self._refresh_state()
        return list(self._state.failed_relays)

    @property
    def detached(self) -> bool:
        """Whether the lab outlives the process that made it (``meshtui lab up``)."""
        return self._detach or self._state.detached

    def _track(self, proc: subprocess.Popen) -> subprocess.Popen:
        # A daemon started again (here or by `meshtui lab restart` in another
        # process) replaces its earlier instance: forget that one once it has
        # exited, so its exit status is not blamed on the new one.
        for pid, old in list(self._procs.items()):
            if old.args == proc.args and old.poll() is not None:
                del self._procs[pid]
        self._procs[proc.pid] = proc
        return proc
