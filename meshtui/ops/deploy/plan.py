"""Planning a deployment (pure): the files it touches, the order, the budgets, the lint."""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from meshtui.core.babelconf import parse_config
from meshtui.core.inventory import Inventory, InventoryError, Node
from meshtui.core.lint import interface_facts_from, lint_node
from meshtui.core.model import NodeModel
from meshtui.core.protocol import INFINITY
from meshtui.ops.audit import scrub
from meshtui.ops.deploy.report import DEFAULT_VERIFY_MARGIN, Expectations, LintEntry

HELLOS_TO_VERIFY = 3.0  # a neighbour is heard within a hello and acknowledged (IHU) within ~3
HIDDEN = ".meshtui-"  # infix of the hidden files a deployment keeps next to the config
_ROLE_ORDER = {"server": 0, "edge": 1, "relay": 2}


@dataclass(frozen=True)
class DeployPaths:
    """Every file a deployment touches on the node, all in the config's directory."""

    config: str
    backup: str
    write_tmp: str
    backup_tmp: str
    restore_tmp: str
    marker: str
    deadline: str
    result: str
    rejected: str
    script: str
    unit: str

    @classmethod
    def of(cls, config: str, deploy_id: str, stamp: str) -> DeployPaths:
        """The paths for deployment ``deploy_id`` of ``config``, backed up as ``.bak.STAMP``."""
        folder, base = posixpath.split(config)
        hidden = posixpath.join(folder, f".{base}{HIDDEN}{deploy_id}")
        return cls(
            config=config,
            backup=f"{config}.bak.{stamp}",
            write_tmp=f"{hidden}.new.tmp",
            backup_tmp=f"{hidden}.bak.tmp",
            restore_tmp=f"{hidden}.restore.tmp",
            marker=f"{hidden}.armed",
            deadline=f"{hidden}.deadline",
            result=f"{hidden}.result",
            rejected=f"{config}.rejected.{stamp}",
            script=f"{hidden}.rollback.sh",
            unit=f"meshtui-rollback-{deploy_id}",
        )


# --------------------------------------------------------------------- pure helpers


def diff_sha256(diff: str) -> str:
    """The sha256 of the redacted diff: what the audit log records."""
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()


def restart_argv(node: Node) -> list[str]:
    """The node's restart command as an argv (shell words; no shell features).

    Raises:
        InventoryError: the command does not split into words (unbalanced quotes).
    """
    try:
        argv = shlex.split(node.restart_command)
    except ValueError as exc:
        raise InventoryError(
            f"cannot split into words: {exc}", node=node.name, field="restart_command"
        ) from None
    if not argv:
        raise InventoryError("is empty", node=node.name, field="restart_command")
    return argv


def deploy_order(inv: Inventory, names: Iterable[str]) -> list[str]:
    """The order nodes are deployed in: servers, then edges, then relays (the backbone last).

    Within a role, by site, then in inventory order. The run is strictly one
    node at a time, so two relays (of a site or not) are never down together.
    Relays go last because every site's inter-site paths cross them: a config
    mistake then shows on a node that only affects its own site, and the run
    stops before the shared backbone is touched.
    """
    index = {name: i for i, name in enumerate(inv.nodes)}
    unique = list(dict.fromkeys(names))
    for name in unique:
        inv.node(name)  # InventoryError for an unknown node

    def key(name: str) -> tuple[int, str, int]:
        node = inv.nodes[name]
        return (_ROLE_ORDER.get(node.role or "", 1), node.site or "", index[name])

    return sorted(unique, key=key)


def verify_budget(inv: Inventory, node_name: str, margin: float = DEFAULT_VERIFY_MARGIN) -> float:
    """Seconds to wait for neighbours and destinations after a restart: 3 x hello + margin.

    The hello is the longest one that matters: the node's own on every
    interface, and its peers' towards it (their tunnel hellos, and the LAN
    hello of other nodes of its site).
    """
    node = inv.node(node_name)
    hellos = [t.hello for t in node.tunnels]
    if node.lan:
        hellos.append(node.lan_hello)
        hellos.extend(
            other.lan_hello
            for other in inv.nodes.values()
            if other.name != node.name and other.lan and other.site == node.site
        )
    for other in inv.nodes.values():
        hellos.extend(t.hello for t in other.tunnels if t.peer == node.name)
    hello = max(hellos, default=inv.hello_wired)
    return HELLOS_TO_VERIFY * hello + margin


def expectations_from(model: NodeModel | None) -> Expectations:
    """Neighbours up and destinations reachable in ``model`` (None: babeld did not answer)."""
    if model is None:
        return Expectations()
    return Expectations(
        neighbours=frozenset(up_neighbours(model)),
        destinations=frozenset(reachable_prefixes(model)),
        baseline=True,
    )


def up_neighbours(model: NodeModel) -> set[tuple[str, str]]:
    return {(n.interface, n.address) for n in model.neighbours.values() if n.up}


def reachable_prefixes(model: NodeModel) -> set[str]:
    return {
        r.prefix for r in model.routes.values() if r.installed and r.metric < INFINITY
    }  # fmt: skip


def lint_config_text(
    inv: Inventory,
    node_name: str,
    text: str,
    facts: object | None = None,
) -> list[LintEntry]:
    """Validate ``text`` for the node's babeld version and run the security lint.

    ``facts`` (a :class:`meshtui.core.facts.NodeFacts`) adds the checks that
    need the node's interfaces: public addresses, the default route, and (a
    warning of this module) interfaces the config names that the node lacks.
    """
    node = inv.node(node_name)
    label = f"{node.name}:{node.config_path}"
    try:
        parsed = parse_config(text, label, node.babeld_version)
    except ValueError as exc:
        return [LintEntry("grammar", "error", label, 1, str(exc))]
    entries = [
        LintEntry("grammar", d.severity.value, d.file, d.line, scrub(d.message), d.fix)
        for d in parsed.diagnostics
    ]
    if not parsed.ok:
        return entries
    if_facts = interface_facts_from(facts) if facts is not None else None
    for f in lint_node(inv, node_name, parsed, if_facts):
        entries.append(LintEntry("security", f.severity.value, f.file, f.line, f.message, f.fix))
    links = getattr(facts, "links", None)
    if links:
        present = {link.name for link in links}
        for name, conf in sorted(parsed.interfaces.items()):
            if name not in present:
                line = conf.lines[0] if conf.lines else 1
                entries.append(
                    LintEntry(
                        "deploy",
                        "warning",
                        label,
                        line,
                        f"interface {name} does not exist on {node.name} (babeld shows it "
                        "`up false`; filters naming it never match)",
                        "check the interface names in the inventory",
                    )
                )
    return entries
