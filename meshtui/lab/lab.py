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
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from meshtui.core.protocol import INFINITY
from meshtui.lab.proc import (
    DaemonExited,
    LabError,
    LabTimeout,
    ProcRef,
    comm,
    netns_pids,
    run,
    spawn,
    terminate_pids,
    tool,
    wait_until,
)
from meshtui.lab.state import (
    DEFAULT_ROOT,
    LabState,
    destroy_lab,
    lock_state,
)
from meshtui.lab.topology import (
    MGMT_IF,
    LabConfig,
    LabNode,
    Topology,
    build_topology,
    render_inventory,
    replica_topology,
)
from meshtui.paths import write_atomic

if TYPE_CHECKING:
    from meshtui.core.model import Route

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

T = TypeVar("T")

REQUIRED_TOOLS = ("ip", "babeld", "wireguard-go", "wg", "nft", "sshd")
NFT_TABLE = "meshtui_lab"
BABEL_PORT = 6696
WG_KEEPALIVE = 25  # s, on the edges (as behind NAT); it also handshakes at once
WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


def lab_unavailable() -> str | None:
    """Why a lab cannot run here at all (not root, no babeld, no `ip netns`), or None.

    Tests skip for these reasons only; a missing wireguard-go or sshd is an
    error of the machine's setup and makes ``up()`` fail instead.
    """
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces)"
    if tool("babeld") is None:
        return "babeld is not installed"
    if tool("ip") is None:
        return "ip (iproute2) is not installed"
    res = run(["ip", "netns", "list"], check=False)
    if res.returncode != 0:
        return f"`ip netns` does not work here: {res.stderr.strip()}"
    return None


def missing_prerequisites(babeld: str = "babeld") -> list[str]:
    """What keeps a lab from running here (empty when it can): root, tools, `ip netns`.

    Args:
        babeld: the babeld binary the lab would run (a name on PATH or a path).
    """
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces)")
    for name in REQUIRED_TOOLS:
        if name == "babeld" and babeld != "babeld":
            if tool(babeld) is None:
                problems.append(f"babeld {babeld} is not an executable file")
        elif tool(name) is None:
            problems.append(f"{name} is not installed")
    if tool("ip") is not None and os.geteuid() == 0:
        res = run(["ip", "netns", "list"], check=False)
        if res.returncode != 0:
            problems.append(f"`ip netns` does not work here: {res.stderr.strip()}")
    return problems


def babeld_version(babeld: str = "babeld") -> str:
    """What ``babeld -V`` says (e.g. ``babeld-1.14``); LabError if it is not a babeld."""
    path = tool(babeld)
    if path is None:
        raise LabError(f"babeld {babeld} is not an executable file")
    try:
        res = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{path} -V failed: {exc}") from None
    said = (res.stdout + res.stderr).strip()
    if not said.startswith("babeld-"):
        raise LabError(f"{path} is not a babeld (`-V` says {said[:80]!r})")
    return said.splitlines()[0]


def meshtui_command() -> list[str]:
    """How to run this meshtui's CLI from another process (the console script if installed)."""
    script = Path(sys.executable).parent / "meshtui"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from meshtui.cli import main; sys.exit(main())"]


def _read_inventory(path: str | os.PathLike[str]) -> str:
    """The text of an inventory to replicate, once it is known to be valid (LabError if not)."""
    from meshtui.core.inventory import InventoryError, load_inventory

    try:
        load_inventory(path)
        return Path(path).read_text(encoding="utf-8")
    except (InventoryError, OSError) as exc:
        raise LabError(str(exc)) from None


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


def _random_ula() -> IPv6Network:
    """A random fdXX:XXXX:XXXX::/48 (RFC 4193 style 40-bit global id)."""
    gid = secrets.randbits(40)
    return IPv6Network(((0xFD << 120) | (gid << 80), 48))


def _wg_keypair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    key = X25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode(), base64.b64encode(pub).decode()


def _ssh_keypair(comment: str) -> tuple[bytes, str]:
    """An ed25519 key: (OpenSSH private key file bytes, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, f"{public.decode()} {comment}"


@dataclass(frozen=True)
class NodeStatus:
    """What `Lab.status()` reports about one node."""

    name: str
    role: str
    site: str | None
    namespace: str
    address: str
    babeld_pid: int | None
    sshd_pid: int | None
    reachable: int | None  # how many other nodes it has an installed route to (None: no dump)
    others: int
    error: str | None = None


class Lab:
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
        self._state = _state
        self._detach = detached
        self.timings: dict[str, float] = {}
        self.topology: Topology = _topology(_state)
        if inventory is not None:
            self._state.config = self.topology.config
        self._procs: dict[int, subprocess.Popen] = {}
        self._atexit = False
        self._ll_to_node = {}
        for n in self.topology.nodes:
            if n.lan_link_local is not None:
                self._ll_to_node[str(n.lan_link_local)] = n.name
            for t in n.tunnels:
                self._ll_to_node[str(t.link_local)] = n.name

    # ------------------------------------------------------------------ identity

    @classmethod
    def attach(cls, lab_id: str | None = None, root: Path = DEFAULT_ROOT) -> Lab:
        """A handle on a running lab (the only one when ``lab_id`` is None)."""
        from meshtui.lab.state import find_lab

        return cls(root=root, _state=find_lab(lab_id, root))

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

    # ------------------------------------------------------------------ building

    def _make_files(self) -> None:
        ssh_dir = self.ssh_key.parent
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        private, public = _ssh_keypair(f"meshtui-lab-{self.id}")
        write_atomic(self.ssh_key, private, 0o600)
        write_atomic(ssh_dir / "id_ed25519.pub", public + "\n")
        write_atomic(ssh_dir / "authorized_keys", public + "\n", 0o600)
        known = []
        config = []
        for n in self.topology.nodes:
            d = self.node_dir(n.name)
            d.mkdir(parents=True, exist_ok=True)
            host_private, host_public = _ssh_keypair(f"{n.name}@meshtui-lab-{self.id}")
            write_atomic(d / "ssh_host_ed25519_key", host_private, 0o600)
            write_atomic(d / "ssh_host_ed25519_key.pub", host_public + "\n")
            known.append(f"{n.mgmt_address} {host_public.rsplit(' ', 1)[0]}")
            write_atomic(d / "sshd_config", self._sshd_config(n))
            config += [
                f"Host {n.name}",
                f"    HostName {n.mgmt_address}",
                "    User root",
                f"    IdentityFile {self.ssh_key}",
                "    IdentitiesOnly yes",
                f"    UserKnownHostsFile {self.known_hosts}",
                "    StrictHostKeyChecking yes",
                "",
            ]
        write_atomic(self.known_hosts, "\n".join(known) + "\n")
        write_atomic(self.ssh_config, "\n".join(config))
        self._write_key_files()

    def _sshd_config(self, n: LabNode) -> str:
        d = self.node_dir(n.name)
        return "\n".join(
            [
                f"# sshd for lab node {n.name} (namespace {n.namespace})",
                "Port 22",
                f"ListenAddress {n.mgmt_address}",
                f"HostKey {d}/ssh_host_ed25519_key",
                f"AuthorizedKeysFile {self.state_dir}/ssh/authorized_keys",
                f"PidFile {d}/sshd.pid",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "UseDNS no",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )

    def _create_namespaces(self) -> None:
        lines = [f"netns add {n.namespace}" for n in self.topology.nodes]
        run(["ip", "-batch", "-"], input="\n".join(lines) + "\n")

    def _batch(self, namespace: str | None, lines: list[str]) -> None:
        if not lines:
            return
        argv = ["ip"] + (["-n", namespace] if namespace else []) + ["-batch", "-"]
        run(argv, input="\n".join(lines) + "\n")

    def _create_links(self) -> None:
        topo = self.topology
        # Management veths, from the root namespace into every node.
        root_lines = []
        for n in topo.nodes:
            root_lines += [
                f"link add {n.mgmt_root_if} type veth peer name {MGMT_IF} netns {n.namespace}",
                f"addr add {n.mgmt_root_address}/64 dev {n.mgmt_root_if} nodad",
                f"link set {n.mgmt_root_if} up",
            ]
        self._batch(None, root_lines)
        # Links a node creates: its site's LAN bridge with the other LAN nodes'
        # ports (edges, in the built-in lab), underlay veths to its tunnel peers.
        for n in topo.nodes:
            lines = []
            if n.lan_bridge:
                lines.append(f"link add {n.lan} type bridge mcast_snooping 0")
                for srv in topo.lan_members(n.site or ""):
                    lines.append(self._server_port_add(srv, n))
            for u in topo.underlays:
                if u.edge == n.name:
                    relay_ns = topo.node(u.relay).namespace
                    lines.append(
                        f"link add {u.edge_if} type veth peer name {u.relay_if} netns {relay_ns}"
                    )
            self._batch(n.namespace, lines)
        # Addresses and link state, namespace by namespace.
        for n in topo.nodes:
            lines = [
                "link set lo up",
                f"addr add {n.address}/128 dev lo",
                f"addr add {n.mgmt_address}/64 dev {MGMT_IF} nodad",
                f"link set {MGMT_IF} up",
            ]
            if n.lan_bridge:
                lines += self._lan_lines(n)
                for srv in topo.lan_members(n.site or ""):
                    port = srv.lan_port
                    lines += [f"link set {port} master {n.lan}", f"link set {port} up"]
            elif n.has_lan:
                lines += self._lan_lines(n)
            for u in topo.underlays:
                if u.edge == n.name:
                    lines += [
                        f"addr add {u.edge_address}/64 dev {u.edge_if} nodad",
                        f"link set {u.edge_if} up",
                    ]
                elif u.relay == n.name:
                    lines += [
                        f"addr add {u.relay_address}/64 dev {u.relay_if} nodad",
                        f"link set {u.relay_if} up",
                    ]
            self._batch(n.namespace, lines)
            self._sysctl(n)

    @staticmethod
    def _server_port_add(srv: LabNode, edge: LabNode) -> str:
        return f"link add {srv.lan_port} type veth peer name {srv.lan} netns {srv.namespace}"

    @staticmethod
    def _lan_lines(n: LabNode) -> list[str]:
        return [
            f"link set {n.lan} addrgenmode none",
            f"addr add {n.lan_link_local}/64 dev {n.lan} nodad",
            f"link set {n.lan} up",
        ]

    def _sysctl(self, n: LabNode) -> None:
        # Written through /proc/sys inside the namespace (no dependency on procps).
        # babeld would enable forwarding itself, but restores the old value on
        # exit: setting it first keeps a node forwarding across babeld restarts.
        script = (
            "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding && "
            "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"
        )
        run(["ip", "netns", "exec", n.namespace, "sh", "-c", script])

    def _start_wireguard(self) -> None:
        topo = self.topology
        env = {**os.environ, **WG_ENV}
        keys: dict[str, tuple[str, str]] = {}
        for n in topo.nodes:
            for t in n.tunnels:
                keys[t.wg_name] = _wg_keypair()
                log = self.node_dir(n.name) / f"wireguard-{t.wg_name}.log"
                argv = ["ip", "netns", "exec", n.namespace, "wireguard-go", "-f", t.wg_name]
                self._track(spawn(argv, log, env=env))
        sock_dir = Path("/var/run/wireguard")
        names = topo.wg_interfaces()
        wait_until(
            lambda: all((sock_dir / f"{i}.sock").exists() for i in names),
            15.0,
            "wireguard-go to create its interfaces",
        )
        for n in topo.nodes:  # a replica: the inventory's names, before any packet flows
            self._batch(n.namespace, [f"link set {t.wg_name} name {t.interface}"
                                      for t in n.tunnels if t.wg_name != t.interface])  # fmt: skip
        for n in topo.nodes:
            lines = []
            for t in n.tunnels:
                peer = topo.node(t.peer)
                peer_end = next(pt for pt in peer.tunnels if pt.wg_name == t.peer_device)
                key_file = self.node_dir(n.name) / f"wg-{t.wg_name}.key"
                write_atomic(key_file, keys[t.wg_name][0] + "\n", 0o600)
                run(
                    [
                        "wg", "set", t.wg_name,
                        "private-key", str(key_file),
                        "listen-port", str(t.listen_port),
                        "peer", keys[peer_end.wg_name][1],
                        "allowed-ips", "::/0",
                        "endpoint", f"[{t.endpoint}]:{peer_end.listen_port}",
                    ] + (["persistent-keepalive", str(WG_KEEPALIVE)] if t.keepalive else [])
                )  # fmt: skip
                lines += [
                    f"link set {t.interface} addrgenmode none",
                    f"addr add {t.link_local}/64 dev {t.interface} nodad",
                    f"link set {t.interface} up",
                ]
            self._batch(n.namespace, lines)
        # The edges' keepalive starts every handshake now: wait for them, so that
        # babeld's first Hellos are not delayed by handshakes (which would show
        # as RTT penalties and let a long path win the first selection).
        wait_until(self._handshakes_done, 10.0, "WireGuard handshakes", interval=0.02)

    def _handshakes_done(self) -> bool:
        res = run(["wg", "show", "all", "latest-handshakes"], check=False)
        done = {
            line.split()[0]
            for line in res.stdout.splitlines()
            if len(line.split()) == 3 and line.split()[2] != "0"
        }
        return set(self.topology.wg_interfaces()) <= done

    def _track(self, proc: subprocess.Popen) -> subprocess.Popen:
        # A daemon started again (here or by `meshtui lab restart` in another
        # process) replaces its earlier instance: forget that one once it has
        # exited, so its exit status is not blamed on the new one.
        for pid, old in list(self._procs.items()):
            if old.args == proc.args and old.poll() is not None:
                del self._procs[pid]
        self._procs[proc.pid] = proc
        return proc

    def _restart_command(self, node: str) -> str:
        return shlex.join([*meshtui_command(), "lab", "restart", "--lab", self.id, node])

    def _write_inventory(self) -> None:
        text = render_inventory(
            self.topology,
            {n.name: str(self.node_dir(n.name)) for n in self.topology.nodes},
            self._state.server_sites,
            {n.name: self._restart_command(n.name) for n in self.topology.nodes},
            {name: str(self._key_file(name)) for name, _ in self.topology.keys},
        )
        # How to reach the nodes, in the inventory itself: `meshtui --inventory` as printed
        # by `lab up` connects with no MESHTUI_SSH_* variables.
        text += (
            "\n# SSH access to every node (MESHTUI_SSH_* variables override these)\n[ssh]\n"
            f"config = {json.dumps(str(self.ssh_config))}\n"
            f"known_hosts = {json.dumps(str(self.known_hosts))}\n"
            f"identity = {json.dumps(str(self.ssh_key))}\n"
        )
        write_atomic(self.inventory_path, text)

    def _key_file(self, name: str) -> Path:
        """A replica's value file for HMAC key ``name`` (fresh random bytes, never the real key)."""
        return self.state_dir / "keys" / f"{name}.hex"

    def _write_key_files(self) -> None:
        for name, ktype in self.topology.keys:
            path = self._key_file(name)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            size = 32 if ktype == "hmac-sha256" else 16
            write_atomic(path, secrets.token_hex(size) + "\n", 0o600)

    def _write_babeld_conf(self, node: str) -> None:
        from meshtui.core.confgen import render_babeld_conf
        from meshtui.core.inventory import InventoryError, load_inventory
        from meshtui.ops.gen import GenError, keys_used, read_key_values

        try:
            inv = load_inventory(self.inventory_path)
            keys = read_key_values(inv, keys_used(inv, [node]))
            text = render_babeld_conf(inv, node, keys)
        except (InventoryError, GenError) as exc:
            raise LabError(f"lab inventory rejected: {exc}") from None
        write_atomic(self.config_path(node), text, 0o600 if keys else 0o644)

    # ------------------------------------------------------------------ babeld

    def _babeld_files(self, node: str) -> dict[str, Path]:
        d = self.node_dir(node)
        return {
            "conf": d / "babeld.conf",
            "pid": d / "babeld.pid",
            "state": d / "babeld.state",
            "log": d / "babeld.log",
            "out": d / "babeld.out",
            "sock": d / "babeld.sock",
        }

    def babeld_pid(self, node: str) -> int | None:
        """The pid of the node's running babeld (from its pid file), or None."""
        f = self._babeld_files(node)
        try:
            pid = int(f["pid"].read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        named = comm(pid) == self._babeld_name[:15]  # the kernel's comm is 15 bytes at most
        return pid if named and self._in_namespace(pid, node) else None

    @property
    def _babeld_name(self) -> str:
        return os.path.basename(self.babeld)

    def _in_namespace(self, pid: int, node: str) -> bool:
        try:
            ours = os.stat(f"/run/netns/{self.node(node).namespace}")
            theirs = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            return False
        return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)

    def _spawn_babeld(self, n: LabNode) -> None:
        f = self._babeld_files(n.name)
        for stale in (f["pid"], f["sock"]):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        argv = [
            "ip", "netns", "exec", n.namespace, self.babeld,
            "-c", str(f["conf"]), "-I", str(f["pid"]), "-S", str(f["state"]), "-L", str(f["log"]),
            *n.interfaces,
        ]  # fmt: skip
        self._track(spawn(argv, f["out"]))

    def _babeld_ready(self, node: str) -> bool:
        f = self._babeld_files(node)
        if not f["sock"].exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(str(f["sock"]))
                ok = s.recv(64).startswith(b"BABEL")
                s.sendall(b"quit\n")  # a polite goodbye keeps babeld's log quiet
                return ok
            except OSError:
                return False

    def _wait_babeld(self, n: LabNode, timeout: float = 15.0) -> None:
        f = self._babeld_files(n.name)

        def ready() -> bool:
            if self._babeld_ready(n.name):
                return True
            self._check_exited(n.name, self._babeld_name, f["out"], f["log"])
            return False

        wait_until(ready, timeout, f"babeld on {n.name} to open {f['sock']}")

    def _check_exited(self, node: str, what: str, *logs: Path) -> None:
        ns = self.node(node).namespace
        for pid, proc in list(self._procs.items()):
            args = [str(a) for a in proc.args] if isinstance(proc.args, list) else []
            programs = {os.path.basename(a) for a in args}
            if proc.poll() is not None and what in programs and ns in args:
                del self._procs[pid]
                tail = []
                for log in logs:
                    with contextlib.suppress(OSError):
                        tail += log.read_text(errors="replace").strip().splitlines()[-3:]
                detail = " | ".join(tail) or "no output"
                raise DaemonExited(
                    f"{what} on {node} exited with status {proc.returncode}: {detail}"
                )

    def start_babeld(self, node: str, wait: bool = True) -> None:
        """Start the node's babeld with the config at its config path."""
        n = self.node(node)
        if self.babeld_pid(node) is not None:
            raise LabError(f"babeld already runs on {node}")
        self._spawn_babeld(n)
        if wait:
            self._wait_babeld(n)

    def kill_babeld(
        self, node: str, sig: int = signal.SIGTERM, wait: bool = True, timeout: float = 10.0
    ) -> int:
        """Send ``sig`` to the node's babeld; wait for it to exit (for TERM/KILL/INT/HUP).

        SIGTERM lets babeld send retractions first (neighbours switch at once);
        SIGKILL makes it vanish silently (neighbours notice by missed Hellos).
        Returns the pid signalled.
        """
        pid = self.babeld_pid(node)
        if pid is None:
            raise LabError(f"babeld is not running on {node}")
        ref = ProcRef.of(pid)
        if ref is None or not ref.signal(sig):
            raise LabError(f"babeld on {node} exited before it could be signalled")
        if wait and sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGHUP):

            def gone() -> bool:
                self._reap(pid)
                return not ref.alive()

            wait_until(gone, timeout, f"babeld on {node} (pid {pid}) to exit")
        return pid

    def restart_babeld(self, node: str, wait: bool = True) -> None:
        """Stop babeld cleanly (SIGTERM) if it runs, then start it with its current config."""
        if self.babeld_pid(node) is not None:
            self.kill_babeld(node, signal.SIGTERM)
        self.start_babeld(node, wait=wait)

    # ------------------------------------------------------------------ sshd

    def sshd_pid(self, node: str) -> int | None:
        try:
            pid = int((self.node_dir(node) / "sshd.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if comm(pid) == "sshd" and self._in_namespace(pid, node) else None

    def _spawn_sshd(self, n: LabNode) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = tool("sshd") or "/usr/sbin/sshd"  # sshd wants an absolute path
        d = self.node_dir(n.name)
        with contextlib.suppress(FileNotFoundError):
            (d / "sshd.pid").unlink()
        argv = ["ip", "netns", "exec", n.namespace, sshd, "-D", "-e", "-f", str(d / "sshd_config")]
        self._track(spawn(argv, d / "sshd.log"))

    def _sshd_ready(self, n: LabNode) -> bool:
        try:
            with socket.create_connection((str(n.mgmt_address), 22), timeout=1.0) as s:
                return s.recv(16).startswith(b"SSH-")
        except OSError:
            return False

    def _wait_sshd(self, n: LabNode, timeout: float = 15.0) -> None:
        log = self.node_dir(n.name) / "sshd.log"

        def ready() -> bool:
            if self._sshd_ready(n):
                return True
            self._check_exited(n.name, "sshd", log)
            return False

        wait_until(ready, timeout, f"sshd on {n.name} to listen on [{n.mgmt_address}]:22")

    def start_sshd(self, node: str, wait: bool = True) -> None:
        """Start the node's sshd (listening on its management address, port 22)."""
        n = self.node(node)
        if self.sshd_pid(node) is not None:
            raise LabError(f"sshd already runs on {node}")
        self._spawn_sshd(n)
        if wait:
            self._wait_sshd(n)

    def kill_sshd(self, node: str, sessions: bool = True) -> None:
        """Stop the node's sshd; with ``sessions`` also every open SSH session to it."""
        n = self.node(node)
        pids = [p for p in netns_pids(n.namespace) if comm(p) == "sshd"] if sessions else []
        main = self.sshd_pid(node)
        if main is not None:
            pids.append(main)
        terminate_pids(sorted(set(pids)), reap=self._reap)

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

    # ------------------------------------------------------------------ observing

    def dump(self, node: str, timeout: float = 5.0):  # -> NodeModel
        """One ``dump`` of the node's babeld, as meshtui's live model."""
        from meshtui.transport.local import ConnectError, dump_once

        try:
            return dump_once(self.socket_path(node), timeout=timeout)
        except ConnectError as exc:
            raise LabError(f"{node}: {exc}") from None

    def dump_all(self) -> dict[str, Any]:
        """One dump of every node (None where its babeld does not answer)."""
        out: dict[str, Any] = {}
        for n in self.nodes:
            try:
                out[n] = self.dump(n)
            except LabError:
                out[n] = None
        return out

    def installed(self, node: str, model: Any = None) -> dict[str, Route]:
        """The node's selected routes (finite metric) by destination node name.

        From ``model`` when given (one of :meth:`dump_all`'s), else from a fresh dump.
        """
        by_prefix = {f"{n.address}/128": n.name for n in self.topology.nodes}
        out = {}
        for route in (model or self.dump(node)).routes.values():
            name = by_prefix.get(route.prefix)
            if name and route.installed and route.metric < INFINITY:
                out[name] = route
        return out

    def routes_to(self, node: str, dest: str) -> list:
        """Every route ``node`` knows to ``dest``'s /128 (selected or not)."""
        prefix = f"{self.node(dest).address}/128"
        return [r for r in self.dump(node).routes.values() if r.prefix == prefix]

    def neighbour_name(self, link_local: str) -> str | None:
        """Which lab node owns a link-local address seen as a route's ``via``."""
        return self._ll_to_node.get(link_local)

    def next_hop(self, node: str, dest: str) -> str | None:
        """The neighbour through which ``node`` currently reaches ``dest`` (None: no route)."""
        route = self.installed(node).get(dest)
        return None if route is None else self.neighbour_name(route.via)

    def missing_routes(self, dumps: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """For each node, the other nodes it has no usable route to (empty dict: converged).

        ``dumps``: :meth:`dump_all`'s result to read instead of dumping again.
        """
        dumps = self.dump_all() if dumps is None else dumps
        out = {}
        for n in self.nodes:
            model = dumps.get(n)
            have = set(self.installed(n, model)) if model is not None else set()
            missing = [m for m in self.nodes if m != n and m not in have]
            if missing:
                out[n] = missing
        return out

    def missing_neighbours(self, dumps: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """For each node, the adjacent nodes it does not hear as an up neighbour.

        Adjacent: the far end of each tunnel (unless either end is a failed
        relay) and, on a site LAN, the edge and the servers there now. Routes
        can converge through a detour while a restarted daemon's neighbours
        are still missing, so convergence asks for both. ``dumps`` as for
        :meth:`missing_routes`.
        """
        dumps = self.dump_all() if dumps is None else dumps
        failed = set(self.failed_relays)
        lan: dict[str, list[str]] = {}
        for n in self.topology.nodes:
            site = self.site_of(n.name)
            if n.has_lan and site is not None:
                lan.setdefault(site, []).append(n.name)
        out = {}
        for n in self.topology.nodes:
            expect = {t.peer for t in n.tunnels if n.name not in failed and t.peer not in failed}
            site = self.site_of(n.name)
            if n.has_lan and site is not None:
                expect.update(m for m in lan.get(site, []) if m != n.name)
            if not expect:
                continue
            model = dumps.get(n.name)
            heard = (
                {self.neighbour_name(nb.address) for nb in model.neighbours.values() if nb.up}
                if model is not None
                else set()
            )
            missing = sorted(expect - heard)
            if missing:
                out[n.name] = missing
        return out

    def converged(self) -> bool:
        """Every node has an installed route to every other node's /128."""
        return not self.missing_routes()

    def off_primary(
        self, primary: str = "relay-1", dumps: dict[str, Any] | None = None
    ) -> list[tuple[str, str, str | None]]:
        """(edge, destination, next hop) for inter-site paths that do not go via ``primary``.

        ``dumps`` as for :meth:`missing_routes` (an edge without one reads as off).
        """
        out = []
        for edge in self.topology.role("edge"):
            model = dumps.get(edge.name) if dumps is not None else self.dump(edge.name)
            installed = self.installed(edge.name, model) if model is not None else {}
            for dest in self.topology.nodes:
                if dest.role == "relay" or self.site_of(dest.name) == edge.site:
                    continue
                route = installed.get(dest.name)
                hop = None if route is None else self.neighbour_name(route.via)
                if hop != primary:
                    out.append((edge.name, dest.name, hop))
        return out

    def wait(self, predicate: Callable[[], T], timeout: float, what: str = "a condition",
             interval: float = 0.1) -> T:  # fmt: skip
        """Poll ``predicate`` until it is truthy; raise LabTimeout after ``timeout`` s.

        Lab errors (a socket not there yet, a daemon restarting) count as "not yet".
        """
        return wait_until(predicate, timeout, what, interval)  # type: ignore[return-value]

    def wait_converged(self, timeout: float = 90.0, primary: str | None = "relay-1") -> float:
        """Wait until every node reaches every other and hears all its adjacent
        nodes as neighbours (and, with ``primary``, every inter-site path of the
        edges goes via that relay). Returns the seconds waited."""
        t0 = time.monotonic()
        last: dict[str, object] = {}

        def done() -> bool:
            dumps = self.dump_all()  # one dump per node per look
            last["missing"] = missing = self.missing_routes(dumps)
            if missing:
                return False
            last["neighbours"] = quiet = self.missing_neighbours(dumps)
            if quiet:
                return False
            if primary and primary in self.nodes:
                last["off"] = off = self.off_primary(primary, dumps)
                return not off
            return True

        try:
            self.wait(done, timeout, "the mesh to converge")
        except LabTimeout as exc:
            detail = last.get("missing") or last.get("neighbours") or last.get("off")
            raise LabTimeout(f"{exc}; still: {detail}") from None
        return time.monotonic() - t0

    def status(self) -> list[NodeStatus]:
        """One line of facts per node: daemons and how many nodes it reaches."""
        out = []
        others = len(self.nodes) - 1
        for n in self.topology.nodes:
            reach, error = None, None
            try:
                reach = len([d for d in self.installed(n.name) if d != n.name])
            except LabError as exc:
                error = str(exc)
            out.append(
                NodeStatus(
                    name=n.name,
                    role=n.role,
                    site=self.site_of(n.name),
                    namespace=n.namespace,
                    address=str(n.address),
                    babeld_pid=self.babeld_pid(n.name),
                    sshd_pid=self.sshd_pid(n.name),
                    reachable=reach,
                    others=others,
                    error=error,
                )
            )
        return out

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
