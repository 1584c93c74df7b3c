"""Building a lab: keys and config files, namespaces, links, WireGuard tunnels, the inventory."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
from pathlib import Path

from meshtui.lab.base import LabBase
from meshtui.lab.host import meshtui_command
from meshtui.lab.proc import LabError, run, spawn, wait_until
from meshtui.lab.topology import MGMT_IF, LabNode, render_inventory
from meshtui.paths import write_atomic

WG_KEEPALIVE = 25  # s, on the edges (as behind NAT); it also handshakes at once
WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


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


class LabBuilder(LabBase):
    """Creates what a lab is made of (called by :meth:`meshtui.lab.lab.Lab.up`)."""

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
        # as RTT penalties and let a long path win the first selection). In a
        # replica one first handshake often goes unanswered (why, wireguard-go does
        # not log), and WireGuard tries again only after 5 s: it often waits 5 s
        # here, and once in a while 10 (a CI rehearsal failed at 10 s).
        wait_until(self._handshakes_done, 20.0, "WireGuard handshakes", interval=0.02)

    def _handshakes_done(self) -> bool:
        res = run(["wg", "show", "all", "latest-handshakes"], check=False)
        done = {
            line.split()[0]
            for line in res.stdout.splitlines()
            if len(line.split()) == 3 and line.split()[2] != "0"
        }
        return set(self.topology.wg_interfaces()) <= done

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
