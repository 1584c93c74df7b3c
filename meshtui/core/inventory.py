"""The mesh inventory (TOML schema v1): nodes, tunnels, keys, loaded and validated.

The inventory is shared by SSH access, config generation and the lab. Every
validation error names the file, the node (where there is one) and the field,
so a user never sees a traceback for a bad inventory.

What a node needs depends on the purpose. To watch a mesh (``status``,
``watch``, the dashboard) a node needs only a way to reach babeld: ``ssh`` and
``socket`` (the ``[mesh]`` table, ``role``, ``site``, ``address`` and the
interfaces are optional; names are still used). To generate or deploy its
config (``gen``, ``deploy``, ``lint --inventory``) a node needs everything
:func:`require_for_config` checks: ``[mesh] prefix``, ``role``, ``address``,
``site`` (except relays) and a ``lan`` interface or tunnels.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

from meshtui.paths import config_dir

__all__ = [
    "DEFAULT_BABELD_VERSION",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_HELLO",
    "DEFAULT_RESTART_COMMAND",
    "DEFAULT_SOCKET",
    "KEY_TYPES",
    "ROLES",
    "Inventory",
    "InventoryError",
    "SSHOptions",
    "KeySpec",
    "Node",
    "Tunnel",
    "default_inventory_path",
    "load_inventory",
    "parse_inventory",
    "require_for_config",
    "valid_interface_name",
]

ROLES = ("server", "edge", "relay")
KEY_TYPES = ("hmac-sha256", "blake2s128")
DEFAULT_HELLO = 4.0
DEFAULT_BABELD_VERSION = "1.12"
DEFAULT_SOCKET = "/run/babeld.sock"
DEFAULT_CONFIG_PATH = "/etc/babeld.conf"
DEFAULT_RESTART_COMMAND = "systemctl restart babeld"
MAX_IFNAME = 15  # IFNAMSIZ - 1

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION_RE = re.compile(r"^1\.\d{1,2}(\.\d{1,2})?$")
_IFNAME_RULE = " (1–15 chars, no '/', ':', space)"
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InventoryError(Exception):
    """An invalid inventory; ``str()`` names the file, the node and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        node: str | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = message
        self.path = str(path) if path is not None else None
        self.node = node
        self.field = field
        parts = []
        if self.path:
            parts.append(self.path)
        if node is not None:
            parts.append(f"node {node!r}")
        if field is not None:
            parts.append(f"field {field!r}")
        parts.append(message)
        super().__init__(": ".join(parts))


@dataclass(frozen=True)
class KeySpec:
    """An HMAC key (RFC 8967) by reference: where its value lives, never the value."""

    name: str
    type: str
    value_file: Path | None = None  # resolved against the inventory's directory
    value_env: str | None = None


@dataclass(frozen=True)
class SSHOptions:
    """The inventory's ``[ssh]`` table: how to reach every node of it, for everyone using it.

    Paths are resolved against the inventory's directory (``~`` is kept for
    the SSH layer to expand). ``MESHTUI_SSH_*`` variables override them.

    Attributes:
        config: an OpenSSH client config file, or ``none`` for none at all.
        known_hosts: the known_hosts file host keys are checked against.
        identity: the private key to authenticate with.
    """

    config: str | None = None
    known_hosts: str | None = None
    identity: str | None = None


@dataclass(frozen=True)
class Tunnel:
    """A WireGuard interface babeld runs on (``type tunnel``), towards ``peer``."""

    interface: str
    peer: str
    hello: float  # effective hello interval (s): the override or mesh.hello_tunnel
    rxcost: int | None = None
    key: str | None = None


@dataclass(frozen=True)
class Node:
    """One babeld node of the mesh, with defaults already applied."""

    name: str
    role: str | None = None  # None: not given (enough to watch the node)
    address: IPv6Address | None = None  # the node's /128; None: not given
    site: str | None = None
    ssh: str | None = None
    ssh_port: int = 22
    socket: str | int = DEFAULT_SOCKET
    lan: str | None = None
    lan_hello: float = DEFAULT_HELLO  # effective: the override or mesh.hello_wired
    tunnels: tuple[Tunnel, ...] = ()
    config_path: str = DEFAULT_CONFIG_PATH
    restart_command: str = DEFAULT_RESTART_COMMAND
    babeld_version: str = DEFAULT_BABELD_VERSION

    @property
    def hello_intervals(self) -> dict[str, float]:
        """The hello interval babeld.conf gives each of the node's interfaces (s)."""
        out = {self.lan: self.lan_hello} if self.lan else {}
        out.update((t.interface, t.hello) for t in self.tunnels)
        return out

    @property
    def interfaces(self) -> tuple[str, ...]:
        """Names of every interface babeld runs on: the LAN first, then the tunnels."""
        names = [self.lan] if self.lan else []
        names.extend(t.interface for t in self.tunnels)
        return tuple(names)


@dataclass(frozen=True)
class Inventory:
    """A validated mesh inventory."""

    path: Path | None
    prefix: IPv6Network | None = None  # None: no [mesh] table (a monitoring inventory)
    hello_wired: float = DEFAULT_HELLO
    hello_tunnel: float = DEFAULT_HELLO
    babeld_version: str = DEFAULT_BABELD_VERSION
    nodes: dict[str, Node] = field(default_factory=dict)
    keys: dict[str, KeySpec] = field(default_factory=dict)
    ssh: SSHOptions = field(default_factory=SSHOptions)

    def node(self, name: str) -> Node:
        """Return the node called ``name`` or raise InventoryError listing the known ones."""
        try:
            return self.nodes[name]
        except KeyError:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise InventoryError(
                f"no node named {name!r} (known: {known})", path=self.path
            ) from None


def valid_interface_name(name: str) -> bool:
    """True when ``name`` is a usable Linux interface name (1–15 chars, no '/', ':' or space)."""
    return (
        0 < len(name) <= MAX_IFNAME
        and name not in (".", "..")
        and not any(c in name for c in '/: \t\n"#')
        and name.isprintable()
    )


def default_inventory_path() -> Path | None:
    """Return ./mesh.toml if it exists, else $XDG_CONFIG_HOME/meshtui/mesh.toml, else None."""
    local = Path("mesh.toml")
    if local.is_file():
        return local
    candidate = config_dir() / "mesh.toml"
    if candidate.is_file():
        return candidate
    return None


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate the TOML inventory at ``path``."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InventoryError(f"cannot read inventory: {exc.strerror or exc}", path=p) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InventoryError("not UTF-8 text", path=p) from None
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"TOML syntax error: {exc}", path=p) from None
    return parse_inventory(data, p)


class _Checker:
    """Typed field access with errors that name file, node and field."""

    def __init__(self, path: Path | None, node: str | None, table: Mapping[str, Any], where: str):
        self.path = path
        self.node = node
        self.table = table
        self.where = where  # prefix for field names, e.g. "mesh." or "tunnels[0]."

    def error(self, name: str, message: str) -> InventoryError:
        return InventoryError(message, path=self.path, node=self.node, field=self.where + name)

    def check_known(self, allowed: set[str]) -> None:
        for name in self.table:
            if name not in allowed:
                hint = ", ".join(sorted(allowed))
                raise self.error(name, f"unknown field (allowed: {hint})")

    def has(self, name: str) -> bool:
        return name in self.table

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> Any:
        if name not in self.table:
            if required:
                raise self.error(name, "missing (required)")
            return default
        value = self.table[name]
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, not {_tname(value)}")
        if not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def integer(self, name: str, lo: int, hi: int, default: int | None = None) -> Any:
        if name not in self.table:
            return default
        value = self.table[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be an integer, not {_tname(value)}")
        if not lo <= value <= hi:
            raise self.error(name, f"{value} is out of range {lo}–{hi}")
        return value

    def seconds(self, name: str, default: float) -> float:
        """An interval in seconds as babeld takes it: 0 < x ≤ 655.35, at most 3 decimals."""
        if name not in self.table:
            return default
        value = self.table[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number of seconds, not {_tname(value)}")
        value = float(value)
        if not math.isfinite(value) or value <= 0 or value > 655.35:
            raise self.error(name, f"{value:g} s is out of range (0 < seconds ≤ 655.35)")
        if abs(round(value * 1000) - value * 1000) > 1e-6:
            raise self.error(name, f"{value!r} s has more than 3 decimals")
        if round(value * 1000) < 10:
            raise self.error(name, f"{value:g} s is below babeld's 0.01 s resolution")
        return value


def _tname(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


_MESH_FIELDS = {"prefix", "hello_wired", "hello_tunnel", "babeld_version"}
_KEY_FIELDS = {"type", "value_file", "value_env"}
_NODE_FIELDS = {
    "ssh",
    "ssh_port",
    "socket",
    "role",
    "site",
    "address",
    "lan",
    "lan_hello",
    "config_path",
    "restart_command",
    "babeld_version",
    "tunnels",
}
_TUNNEL_FIELDS = {"interface", "peer", "hello", "rxcost", "key"}


def parse_inventory(data: Mapping[str, Any], path: str | os.PathLike[str] | None) -> Inventory:
    """Validate an already-decoded inventory (``tomllib`` output) from ``path``."""
    p = Path(path) if path is not None else None
    top = _Checker(p, None, data, "")
    top.check_known({"mesh", "keys", "nodes", "ssh"})
    mesh_raw = data.get("mesh", {})
    if not isinstance(mesh_raw, Mapping):
        raise top.error("mesh", "must be a table")
    mesh = _Checker(p, None, mesh_raw, "mesh.")
    mesh.check_known(_MESH_FIELDS)
    prefix_text = mesh.string("prefix")
    prefix: IPv6Network | None = None
    if prefix_text is not None:
        try:
            network = ipaddress.ip_network(prefix_text, strict=True)
        except ValueError as exc:
            raise mesh.error("prefix", f"{prefix_text!r} is not a network prefix ({exc})") from None
        if not isinstance(network, IPv6Network):
            raise mesh.error("prefix", f"{prefix_text!r} is not an IPv6 prefix")
        prefix = network
    hello_wired = mesh.seconds("hello_wired", DEFAULT_HELLO)
    hello_tunnel = mesh.seconds("hello_tunnel", DEFAULT_HELLO)
    version = _version(mesh, DEFAULT_BABELD_VERSION)

    keys = _parse_keys(p, data.get("keys", {}), top)
    ssh = _parse_ssh(p, data.get("ssh", {}), top)

    nodes_raw = data.get("nodes")
    if nodes_raw is None:
        raise top.error("nodes", "missing: the inventory has no [nodes.NAME] table")
    if not isinstance(nodes_raw, Mapping):
        raise top.error("nodes", "must be a table of [nodes.NAME] tables")
    nodes: dict[str, Node] = {}
    for name, table in nodes_raw.items():
        nodes[name] = _parse_node(p, name, table, prefix, hello_wired, hello_tunnel, version, keys)
    _cross_check(p, nodes)
    return Inventory(
        path=p,
        prefix=prefix,
        hello_wired=hello_wired,
        hello_tunnel=hello_tunnel,
        babeld_version=version,
        nodes=nodes,
        keys=keys,
        ssh=ssh,
    )


_SSH_FIELDS = {"config", "known_hosts", "identity"}


def _parse_ssh(p: Path | None, raw: Any, top: _Checker) -> SSHOptions:
    """The ``[ssh]`` table: file paths, relative ones resolved against the inventory's folder."""
    if not isinstance(raw, Mapping):
        raise top.error("ssh", "must be a table")
    c = _Checker(p, None, raw, "ssh.")
    c.check_known(_SSH_FIELDS)

    def path(name: str) -> str | None:
        value = c.string(name)
        if value is None or (name == "config" and value == "none"):
            return value
        if value.startswith("~") or Path(value).is_absolute() or p is None:
            return value
        return str(p.parent / value)

    return SSHOptions(
        config=path("config"), known_hosts=path("known_hosts"), identity=path("identity")
    )


def _version(c: _Checker, default: str) -> str:
    value = c.string("babeld_version", default)
    if not _VERSION_RE.match(value):
        raise c.error("babeld_version", f'{value!r} is not a babeld version like "1.12"')
    return value


def _parse_keys(p: Path | None, raw: Any, top: _Checker) -> dict[str, KeySpec]:
    if not isinstance(raw, Mapping):
        raise top.error("keys", "must be a table of [keys.NAME] tables")
    keys: dict[str, KeySpec] = {}
    for name, table in raw.items():
        if not isinstance(table, Mapping):
            raise top.error(f"keys.{name}", "must be a table")
        c = _Checker(p, None, table, f"keys.{name}.")
        if not _NAME_RE.match(name) or len(name) > 255:
            raise top.error(f"keys.{name}", "key name must be letters, digits, '.', '_' or '-'")
        c.check_known(_KEY_FIELDS)
        ktype = c.string("type", required=True)
        if ktype not in KEY_TYPES:
            raise c.error("type", f"{ktype!r} is not one of {', '.join(KEY_TYPES)}")
        vfile = c.string("value_file")
        venv = c.string("value_env")
        if (vfile is None) == (venv is None):
            raise c.error("value_file", "give exactly one of value_file or value_env")
        if venv is not None and not _ENV_RE.match(venv):
            raise c.error("value_env", f"{venv!r} is not an environment variable name")
        resolved: Path | None = None
        if vfile is not None:
            resolved = Path(vfile).expanduser()
            if not resolved.is_absolute() and p is not None:
                resolved = p.parent / resolved
        keys[name] = KeySpec(name=name, type=ktype, value_file=resolved, value_env=venv)
    return keys


def _parse_node(
    p: Path | None,
    name: str,
    table: Any,
    prefix: IPv6Network | None,
    hello_wired: float,
    hello_tunnel: float,
    version: str,
    keys: dict[str, KeySpec],
) -> Node:
    if not isinstance(table, Mapping):
        raise InventoryError("must be a [nodes.NAME] table", path=p, node=name)
    if not _NAME_RE.match(name) or len(name) > 64:
        raise InventoryError(
            "node name must be 1–64 letters, digits, '.', '_' or '-'", path=p, node=name
        )
    c = _Checker(p, name, table, "")
    c.check_known(_NODE_FIELDS)

    role = c.string("role")
    if role is not None and role not in ROLES:
        raise c.error("role", f"{role!r} is not one of {'|'.join(ROLES)}")
    site = c.string("site")

    addr_text = c.string("address")
    address: IPv6Address | None = None
    if addr_text is not None:
        try:
            address = IPv6Address(addr_text)
        except ValueError:
            raise c.error("address", f"{addr_text!r} is not an IPv6 address") from None
        if prefix is not None and address not in prefix:
            raise c.error("address", f"{address} is not inside mesh.prefix {prefix}")
        if prefix is not None and address == prefix.network_address:
            raise c.error("address", f"{address} is the prefix's Subnet-Router anycast address")

    socket = _socket(c)
    lan = c.string("lan")
    if lan is not None and not valid_interface_name(lan):
        raise c.error("lan", f"{lan!r} is not a valid interface name{_IFNAME_RULE}")
    lan_hello = c.seconds("lan_hello", hello_wired)
    if c.has("lan_hello") and lan is None:
        raise c.error("lan_hello", "set, but the node has no lan interface")

    tunnels_raw = table.get("tunnels", [])
    if not isinstance(tunnels_raw, list):
        raise c.error("tunnels", "must be an array of [[nodes.NAME.tunnels]] tables")
    tunnels: list[Tunnel] = []
    seen = {lan} if lan else set()
    for i, traw in enumerate(tunnels_raw):
        if not isinstance(traw, Mapping):
            raise c.error(f"tunnels[{i}]", "must be a table")
        tc = _Checker(p, name, traw, f"tunnels[{i}].")
        tc.check_known(_TUNNEL_FIELDS)
        iface = tc.string("interface", required=True)
        if not valid_interface_name(iface):
            raise tc.error(
                "interface",
                f"{iface!r} is not a valid interface name{_IFNAME_RULE}",
            )
        if iface in seen:
            raise tc.error("interface", f"{iface!r} is used twice on this node")
        seen.add(iface)
        peer = tc.string("peer", required=True)
        key = tc.string("key")
        if key is not None and key not in keys:
            known = ", ".join(sorted(keys)) or "none defined"
            raise tc.error("key", f"no key named {key!r} in [keys] ({known})")
        tunnels.append(
            Tunnel(
                interface=iface,
                peer=peer,
                hello=tc.seconds("hello", hello_tunnel),
                rxcost=tc.integer("rxcost", 1, 65535),
                key=key,
            )
        )

    return Node(
        name=name,
        role=role,
        address=address,
        site=site,
        ssh=c.string("ssh"),
        ssh_port=c.integer("ssh_port", 1, 65535, 22),
        socket=socket,
        lan=lan,
        lan_hello=lan_hello,
        tunnels=tuple(tunnels),
        config_path=c.string("config_path", DEFAULT_CONFIG_PATH),
        restart_command=c.string("restart_command", DEFAULT_RESTART_COMMAND),
        babeld_version=_version(c, version),
    )


def _socket(c: _Checker) -> str | int:
    if not c.has("socket"):
        return DEFAULT_SOCKET
    value = c.table["socket"]
    if isinstance(value, bool):
        raise c.error("socket", "must be a unix socket path (string) or a TCP port (integer)")
    if isinstance(value, int):
        if not 0 < value < 65535:
            raise c.error("socket", f"TCP port {value} is out of range 1–65534")
        return value
    if isinstance(value, str):
        if not value.startswith("/"):
            raise c.error("socket", f"{value!r} must be an absolute path (or an integer TCP port)")
        if any(ch.isspace() for ch in value) or '"' in value or "#" in value:
            raise c.error("socket", f"{value!r} must not contain spaces, quotes or '#'")
        return value
    raise c.error("socket", f"must be a path or a TCP port, not {_tname(value)}")


def _cross_check(p: Path | None, nodes: dict[str, Node]) -> None:
    by_addr: dict[IPv6Address, str] = {}
    for node in nodes.values():
        other = by_addr.get(node.address) if node.address is not None else None
        if other is not None:
            raise InventoryError(
                f"{node.address} is also the address of node {other!r}",
                path=p,
                node=node.name,
                field="address",
            )
        if node.address is not None:
            by_addr[node.address] = node.name
        for i, t in enumerate(node.tunnels):
            if t.peer not in nodes:
                known = ", ".join(sorted(nodes))
                raise InventoryError(
                    f"peer {t.peer!r} is not a node of this inventory (nodes: {known})",
                    path=p,
                    node=node.name,
                    field=f"tunnels[{i}].peer",
                )
            if t.peer == node.name:
                raise InventoryError(
                    "a tunnel's peer cannot be the node itself",
                    path=p,
                    node=node.name,
                    field=f"tunnels[{i}].peer",
                )


def require_for_config(inv: Inventory, names: Iterable[str] | None = None) -> None:
    """Check that the nodes have what generating their babeld.conf needs.

    A monitoring inventory may leave out ``[mesh]``, roles, sites, addresses and
    interfaces; ``gen``, ``deploy`` and ``lint --inventory`` may not.

    Raises:
        InventoryError: one line naming every node that lacks something, and what.
    """
    problems: list[str] = []
    if inv.prefix is None:
        problems.append("the inventory lacks [mesh] prefix")
    for name in list(inv.nodes) if names is None else list(names):
        node = inv.node(name)
        missing = []
        if node.role is None:
            missing.append("role")
        if node.address is None:
            missing.append("address")
        if node.site is None and node.role != "relay":
            missing.append("site (required unless role is relay)")
        if not node.lan and not node.tunnels:
            missing.append("lan or tunnels")
        if missing:
            problems.append(f"node {name!r} lacks {', '.join(missing)}")
    if problems:
        raise InventoryError(
            f"cannot generate babeld.conf: {'; '.join(problems)} "
            "(a monitoring inventory needs only ssh/socket; generating a config needs these)",
            path=inv.path,
        )
