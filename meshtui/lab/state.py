"""The lab's state file, and teardown that works from any process.

Each lab keeps ``<root>/<lab id>/lab.json`` (root: /run/meshtui-lab) written
atomically *before* anything is created, so a lab can always be found and
destroyed: by ``meshtui lab down`` from another process, or by ``meshtui lab
clean`` once the process that owns it is gone. Destruction does not trust the
file's process list: it kills every process living in the lab's namespaces
(``ip netns pids``), deletes the namespaces (which deletes their veths),
then any leftover root-namespace veth and WireGuard socket carrying the lab id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from meshtui.lab.proc import LabError, ProcRef, netns_pids, run, terminate_pids
from meshtui.lab.topology import LAB_ID_RE, NS_PREFIX, LabConfig
from meshtui.paths import write_atomic

__all__ = [
    "DEFAULT_ROOT",
    "LabState",
    "clean_stale",
    "destroy_lab",
    "find_lab",
    "list_labs",
    "lock_state",
]

DEFAULT_ROOT = Path("/run/meshtui-lab")  # shared by every lab on the machine: keep it fixed
STATE_FILE = "lab.json"
WG_SOCKET_DIR = Path("/var/run/wireguard")
_NS_RE = re.compile(rf"^{NS_PREFIX}([0-9a-f]{{6}})-")
_ROOT_IF_RE = re.compile(r"^mt([0-9a-f]{6})m\d+$")


@dataclass
class LabState:
    """What a lab's state file records."""

    lab_id: str
    ula: str
    config: LabConfig
    created: float = field(default_factory=time.time)
    owner_pid: int | None = None  # None: detached (lives until `meshtui lab down`)
    owner_started: int | None = None
    status: str = "starting"  # starting | up | down
    server_sites: dict[str, str] = field(default_factory=dict)  # where servers are now
    failed_relays: list[str] = field(default_factory=list)
    babeld: str = "babeld"  # the babeld binary every node runs (an absolute path)
    babeld_version: str = ""  # what it says with -V, e.g. "babeld-1.14"
    inventory: str | None = None  # a replica: the TOML text of the inventory it copies
    inventory_path: str | None = None  # ... and where that inventory was read from

    @property
    def detached(self) -> bool:
        return self.owner_pid is None

    def owner_alive(self) -> bool:
        if self.owner_pid is None or self.owner_started is None:
            return False
        return ProcRef(self.owner_pid, self.owner_started).alive()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data = json.loads(text)
        data["config"] = LabConfig(**data["config"])
        return cls(**data)

    def save(self, root: Path) -> None:
        write_atomic(root / self.lab_id / STATE_FILE, self.to_json())

    @classmethod
    def load(cls, root: Path, lab_id: str) -> LabState:
        path = root / lab_id / STATE_FILE
        try:
            return cls.from_json(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab {lab_id!r} (no {path})") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise LabError(f"{path}: unreadable lab state ({exc})") from None


@contextlib.contextmanager
def lock_state(root: Path, lab_id: str, create: bool = False) -> Iterator[None]:
    """Hold the lab's lock (flock) while reading-modifying-writing its state.

    Raises LabError when the lab's directory is gone (the lab was destroyed,
    maybe by another process), unless ``create``.
    """
    d = root / lab_id
    if create:
        d.mkdir(parents=True, exist_ok=True)
    elif not (d / STATE_FILE).is_file():
        raise LabError(f"lab {lab_id} is gone (no {d / STATE_FILE}): it was torn down")
    with open(d / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def list_labs(root: Path = DEFAULT_ROOT) -> list[LabState]:
    """Every lab with a readable state file under ``root``, oldest first."""
    labs = []
    if root.is_dir():
        for d in root.iterdir():
            if LAB_ID_RE.match(d.name) and (d / STATE_FILE).is_file():
                with contextlib.suppress(LabError):
                    labs.append(LabState.load(root, d.name))
    return sorted(labs, key=lambda s: s.created)


def find_lab(lab_id: str | None, root: Path = DEFAULT_ROOT) -> LabState:
    """The lab named ``lab_id``, or the only lab when ``lab_id`` is None."""
    if lab_id is not None:
        return LabState.load(root, lab_id)
    labs = list_labs(root)
    if not labs:
        raise LabError("no lab is running (start one with `meshtui lab up`)")
    if len(labs) > 1:
        ids = ", ".join(s.lab_id for s in labs)
        raise LabError(f"several labs are running ({ids}): choose one with --lab ID")
    return labs[0]


def _lab_namespaces(lab_id: str | None = None) -> dict[str, list[str]]:
    """Namespaces named like lab namespaces, by lab id."""
    res = run(["ip", "netns", "list"], check=False)
    out: dict[str, list[str]] = {}
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NS_RE.match(name)
        if m and (lab_id is None or m.group(1) == lab_id):
            out.setdefault(m.group(1), []).append(name)
    return out


def _root_links(lab_id: str | None = None) -> dict[str, list[str]]:
    res = run(["ip", "-o", "link", "show"], check=False)
    out: dict[str, list[str]] = {}
    for line in res.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = _ROOT_IF_RE.match(name)
        if m and (lab_id is None or m.group(1) == lab_id):
            out.setdefault(m.group(1), []).append(name)
    return out


def destroy_lab(
    lab_id: str,
    root: Path = DEFAULT_ROOT,
    reap: Callable[[int], None] | None = None,
    keep_dir: bool = False,
) -> list[str]:
    """Kill every process of the lab, delete its namespaces, veths, sockets and state dir.

    Idempotent and best effort: every step runs even if an earlier one failed;
    returns the problems met (empty when everything is gone).
    """
    if not LAB_ID_RE.match(lab_id):
        raise LabError(f"not a lab id: {lab_id!r}")
    problems: list[str] = []
    namespaces = _lab_namespaces(lab_id).get(lab_id, [])
    pids = sorted({p for ns in namespaces for p in netns_pids(ns)})
    survivors = terminate_pids(pids, reap=reap)
    if survivors:
        problems.append(f"processes that would not die: {survivors}")
    for ns in namespaces:
        res = run(["ip", "netns", "delete", ns], check=False)
        if res.returncode != 0:
            problems.append(f"ip netns delete {ns}: {res.stderr.strip()}")
    for link in _root_links(lab_id).get(lab_id, []):
        res = run(["ip", "link", "delete", link], check=False)
        if res.returncode != 0 and "Cannot find" not in res.stderr:
            problems.append(f"ip link delete {link}: {res.stderr.strip()}")
    if WG_SOCKET_DIR.is_dir():
        for sock in WG_SOCKET_DIR.glob(f"w{lab_id}*.sock"):
            with contextlib.suppress(OSError):
                sock.unlink()
    if not keep_dir:
        shutil.rmtree(root / lab_id, ignore_errors=True)
    return problems


def clean_stale(root: Path = DEFAULT_ROOT, everything: bool = False) -> list[str]:
    """Destroy labs whose owner process is gone (all labs with ``everything``).

    Detached labs (from `meshtui lab up`) are only removed with ``everything``.
    Namespaces or root veths named like a lab's but without a state file are
    leftovers of a crash and are removed too. Returns the ids destroyed.
    """
    cleaned = []
    known = set()
    for state in list_labs(root):
        known.add(state.lab_id)
        stale = not state.detached and not state.owner_alive()
        if everything or stale:
            destroy_lab(state.lab_id, root)
            cleaned.append(state.lab_id)
    orphans = set(_lab_namespaces()) | set(_root_links())
    for lab_id in sorted(orphans - known):
        if not (root / lab_id / STATE_FILE).exists():
            destroy_lab(lab_id, root)
            cleaned.append(lab_id)
    return cleaned
