"""The ``gen`` and ``lint`` commands: write node configs from the inventory, check configs.

``meshtui gen [--inventory FILE] [--node NAME]... --out DIR`` writes
DIR/NODE/babeld.conf, dmesh0.netdev and dmesh0.network atomically; key values are
read from the inventory's value_file/value_env and never printed.

``meshtui gen --diff [--inventory FILE] [--node NAME]...`` reads each node's
deployed babeld.conf (its ``config_path``) over SSH, read-only (``cat -- PATH``),
and prints a unified diff against the generated one per node, with every key
value masked on both sides first (a key whose value alone differs is named, its
value never shown). Exit status as diff(1): 0 all identical, 1 some differ, 2
some node could not be read (each says why on stderr: unreachable, unknown host
key, unreadable file).

``meshtui lint FILE... [--babeld-version V] [--json]`` validates config files
against babeld's grammar and runs the config-only security checks;
``meshtui lint --inventory FILE [--node NAME]... [--nft NODE=FILE]...`` does the same
for the configs the inventory generates (with placeholder keys: no secret needed)
plus the mesh-wide checks; with ``--remote`` it lints what each node runs instead,
read-only over SSH: the deployed config, the interface facts (addresses, default
route) and ``nft list ruleset`` (a tool that is missing is reported as not
available). Output lines read ``file:line: severity: message (fix: ...)``; the
exit status is 1 when there is any error (an unreachable node is one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from meshtui.cli import CliError
from meshtui.commands import count, inventory_from_arg, say, seconds, warn
from meshtui.core.babelconf import parse_config, parse_version
from meshtui.core.inventory import Inventory, InventoryError, default_inventory_path
from meshtui.core.lint import EXIT_CLEAN, lint_config, lint_exit_status, lint_node, report_severity
from meshtui.core.sanitize import inert
from meshtui.ops.gen import (
    PLACEHOLDER_KEY,
    GenError,
    generate,
    keys_used,
    read_key_values,
    write_generated,
)
from meshtui.transport.config_read import read_config_file

__all__ = ["EXAMPLES", "register"]

EXAMPLES = {
    "gen": """
meshtui gen --inventory mesh.toml --out out/
meshtui gen --inventory mesh.toml --node edge-fra --out out/
meshtui gen --diff --inventory mesh.toml          # what deploy would change, read over SSH
""",
    "lint": """
meshtui lint /etc/babeld.conf                     # exit 0 clean, 1 babeld refuses, 3 insecure
meshtui lint out/*/babeld.conf --babeld-version 1.14 --json
meshtui lint --inventory mesh.toml --nft edge-fra=edge-fra.nft
meshtui lint --inventory mesh.toml --remote --node relay-fra
""",
}

MAX_FINDINGS = 50
"""Findings `lint` prints per file by default (a binary file is not worth 500 lines)."""


def _ssh_read_args(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A switch that reads every node over SSH, and ``--timeout``, its bound per node."""
    parser.add_argument(flag, action="store_true", help=help)
    parser.add_argument(
        "--timeout", type=seconds, default=15.0, metavar="S", help=f"with {flag}: bound per node"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gen`` and ``lint``."""
    gen = subparsers.add_parser(
        "gen",
        help="write babeld.conf and dmesh0 networkd files for inventory nodes",
        description="Write DIR/NODE/{babeld.conf,dmesh0.netdev,dmesh0.network} for each node.",
    )
    _inventory_arg(gen)
    gen.add_argument("--node", action="append", metavar="NAME", help="only this node (repeat)")
    gen.add_argument("--out", metavar="DIR", help="output directory")
    _ssh_read_args(
        gen,
        "--diff",
        "instead of writing, diff each node's deployed babeld.conf (read over SSH) "
        "against the generated one; exit 1 when any differs, 2 when a node cannot be read",
    )
    gen.set_defaults(func=run_gen)

    lint = subparsers.add_parser(
        "lint",
        help="validate babeld configs (grammar, per babeld version) and lint mesh security",
        description="Validate babeld.conf files, or the configs an inventory generates.\n\n"
        "exit status: 0 clean (warnings allowed); 1 babeld would refuse a file (or one cannot "
        "be read);\n3 babeld accepts every file but security findings remain.",
    )
    lint.add_argument("files", nargs="*", metavar="FILE", help="babeld.conf files to check")
    _inventory_arg(lint)
    lint.add_argument(
        "--node",
        action="append",
        metavar="NAME",
        help="with --inventory: lint only this node's config (repeat for more)",
    )
    lint.add_argument(
        "--babeld-version",
        metavar="V",
        help="judge for this babeld version (1.10–1.14; default: the inventory's, else 1.12)",
    )
    lint.add_argument(
        "--nft",
        action="append",
        metavar="NODE=FILE",
        default=[],
        help="with --inventory: `nft list ruleset` output saved from NODE",
    )
    _ssh_read_args(
        lint,
        "--remote",
        "with --inventory: lint what each node runs, read-only over SSH — its deployed "
        "config, interface facts and `nft list ruleset`",
    )
    lint.add_argument(
        "--max-findings",
        type=count,
        default=MAX_FINDINGS,
        metavar="N",
        help="print at most N findings per file, then how many more (0: all; --json has all)",
    )
    lint.add_argument("--json", action="store_true", help="one JSON object on stdout")
    lint.set_defaults(func=run_lint)


def _inventory_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inventory",
        metavar="FILE",
        nargs="?",
        const="",
        default=None,
        help="mesh inventory (FILE defaults to ./mesh.toml, then "
        "$XDG_CONFIG_HOME/meshtui/mesh.toml)",
    )


def _nodes(inv: Inventory, names: list[str] | None) -> list[str]:
    if not names:
        return list(inv.nodes)
    for n in names:
        if n not in inv.nodes:
            known = ", ".join(inv.nodes)
            raise CliError(f"{inv.path}: no node named {n!r} (known: {known})")
    return names


def run_gen(args: argparse.Namespace) -> int:
    """``meshtui gen``."""
    if args.diff and args.out:
        raise CliError("give either --out DIR (write the files) or --diff (compare), not both")
    if not args.diff and not args.out:
        raise CliError("gen needs --out DIR (write the files) or --diff (compare with the nodes)")
    inv = inventory_from_arg(args.inventory)
    names = _nodes(inv, args.node)
    if args.diff:
        return _gen_diff(inv, names, args.timeout)
    try:
        values = read_key_values(inv, keys_used(inv, names))
        generated = generate(inv, names, values)
        written = write_generated(Path(args.out), generated)
    except (GenError, InventoryError) as exc:
        raise CliError(str(exc)) from None
    for path in written:
        say(str(path))
    return 0


def _diff_keys(inv: Inventory, names: list[str]) -> tuple[dict[str, str], bool]:
    """Key values for the diff and whether they are the real ones: real when readable
    (so a changed value is noticed), else placeholders (key lines are compared
    without their values)."""
    used = keys_used(inv, names)
    try:
        return read_key_values(inv, used), True
    except GenError as exc:
        warn(f"{exc}; key values are not compared (key lines still are)")
        return {k: PLACEHOLDER_KEY for k in used}, False


def _gen_diff(inv: Inventory, names: list[str], timeout: float) -> int:
    from meshtui.ops.remote_config import config_diff, read_deployed_configs
    from meshtui.transport.ssh import SSHPool

    values, real_keys = _diff_keys(inv, names)
    try:
        generated = {g.name: g.files["babeld.conf"] for g in generate(inv, names, values)}
    except (GenError, InventoryError) as exc:
        raise CliError(str(exc)) from None

    async def fetch():
        pool = SSHPool(inventory=inv)
        try:
            return await read_deployed_configs(pool, [inv.nodes[n] for n in names], timeout)
        finally:
            await pool.close()

    results = asyncio.run(fetch())
    same = differ = failed = 0
    for result in results:
        if result.value is None:
            failed += 1
            warn(str(result.error))
            continue
        diff = config_diff(result.value, generated[result.node], compare_keys=real_keys)
        if diff.identical:
            same += 1
            say(f"{result.node}: {result.value.path} is identical to the generated config")
            continue
        differ += 1
        if diff.absent:
            say(f"{result.node}: {result.value.path} does not exist on the node")
        sys.stdout.write(inert(diff.render(), newlines=True))
    print(
        f"{same} identical, {differ} differ, {failed} could not be read",
        file=sys.stderr,
    )
    return 2 if failed else 1 if differ else 0


@dataclass(frozen=True)
class _Entry:
    kind: str  # grammar | security | remote
    severity: str  # error | security | warning (see core.lint.report_severity)
    file: str
    line: int
    message: str
    fix: str | None
    node: str | None = None
    version: str | None = None

    def text(self) -> str:
        who = f"[{self.node}] " if self.node else ""
        fix = f" (fix: {self.fix})" if self.fix else ""
        return inert(f"{self.file}:{self.line}: {self.severity}: {who}{self.message}{fix}")


@dataclass
class _Unit:
    """One config linted: a file, or the config of one inventory node."""

    file: str
    node: str | None = None
    version: str | None = None
    entries: list[_Entry] = field(default_factory=list)
    read: bool = True

    @property
    def babeld_accepts(self) -> bool | None:
        """Whether babeld would start with it (None: it could not be read)."""
        if not self.read:
            return None
        return not any(e.kind == "grammar" and e.severity == "error" for e in self.entries)

    def summary(self) -> str | None:
        """The one line saying a config is clean (None when it is not)."""
        if any(e.severity != "warning" for e in self.entries) or not self.read:
            return None
        warnings = len(self.entries)
        tail = f"; {warnings} warning(s)" if warnings else ""
        who = f"[{self.node}] " if self.node else ""
        return inert(
            f"{self.file}: {who}ok: babeld {self.version} accepts it, no security findings{tail}"
        )

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "node": self.node,
            "version": self.version,
            "babeld_accepts": self.babeld_accepts,
            "findings": [e.__dict__ for e in self.entries],
        }


def _version(arg: str | None, fallback: str) -> str:
    version = arg or fallback
    try:
        parse_version(version)
    except ValueError as exc:
        raise CliError(f"--babeld-version: {exc}") from None
    return version


def _lint_files(args: argparse.Namespace) -> list[_Unit]:
    version = _version(args.babeld_version, "1.12")
    units: list[_Unit] = []
    for name in args.files:
        unit = _Unit(name, version=version)
        units.append(unit)
        try:
            text = read_config_file(name)
        except OSError as exc:
            unit.read = False
            reason = exc.strerror or str(exc)
            unit.entries.append(_Entry("read", "error", name, 0, f"cannot read: {reason}", None))
            continue
        parsed = parse_config(text, name, version)
        unit.version = parsed.version
        unit.entries.extend(_grammar(parsed.diagnostics))
        if parsed.ok:
            unit.entries.extend(_security(lint_config(parsed)))
    return units


def _generated(inv: Inventory, names: list[str]) -> dict[str, str]:
    """Each node's generated babeld.conf, with placeholder keys (no secret needed)."""
    placeholders = {k: PLACEHOLDER_KEY for k in keys_used(inv, names)}
    try:
        return {g.name: g.files["babeld.conf"] for g in generate(inv, names, placeholders)}
    except (GenError, InventoryError) as exc:
        raise CliError(str(exc)) from None


def _lint_inventory(args: argparse.Namespace) -> list[_Unit]:
    inv = inventory_from_arg(args.inventory)
    names = _nodes(inv, args.node)
    if args.remote:
        return _lint_remote(args, inv, names)
    firewalls: dict[str, tuple[str, str]] = {}
    for spec in args.nft:
        node, sep, fname = spec.partition("=")
        if not sep or node not in inv.nodes:
            raise CliError(f"--nft {spec!r}: expected NODE=FILE with a node of the inventory")
        try:
            firewalls[node] = (read_config_file(fname), fname)
        except OSError as exc:
            raise CliError(f"--nft {fname}: cannot read: {exc.strerror or exc}") from None
    units: list[_Unit] = []
    for name, text in _generated(inv, names).items():
        node = inv.nodes[name]
        version = _version(args.babeld_version, node.babeld_version)
        label = f"{name}:{node.config_path}"
        parsed = parse_config(text, label, version)
        unit = _Unit(label, name, parsed.version, _grammar(parsed.diagnostics, name))
        units.append(unit)
        fw = firewalls.get(name)
        findings = lint_node(inv, name, parsed, None, fw[0] if fw else None, fw[1] if fw else None)
        unit.entries.extend(_security(findings))
    return units


def _lint_remote(args: argparse.Namespace, inv: Inventory, names: list[str]) -> list[_Unit]:
    """Lint what each node runs: its deployed config, interface facts and firewall, over SSH."""
    from meshtui.ops.remote_config import (
        RemoteReadError,
        fetch_lint_facts,
        read_deployed_config,
    )
    from meshtui.transport.local import ConnectError
    from meshtui.transport.ssh import SSHPool

    async def one(pool: SSHPool, name: str):
        node = inv.nodes[name]
        try:
            deployed = await read_deployed_config(pool, node, args.timeout)
            facts = await fetch_lint_facts(pool, node, args.timeout)
        except (ConnectError, RemoteReadError) as exc:
            return name, None, None, str(exc)
        return name, deployed, facts, None

    async def fetch():
        pool = SSHPool(inventory=inv)
        try:
            return await asyncio.gather(*(one(pool, n) for n in names))
        finally:
            await pool.close()

    generated = _generated(inv, names)
    units: list[_Unit] = []
    for name, deployed, facts, error in asyncio.run(fetch()):
        node = inv.nodes[name]
        where = f"{name}:{node.config_path}"
        unit = _Unit(where, name)
        units.append(unit)
        entries = unit.entries
        if error is not None:
            unit.read = False
            message = f"cannot lint the node remotely: {error}"
            entries.append(_Entry("remote", "error", where, 0, message, None, name))
            continue
        assert deployed is not None and facts is not None
        version = _version(args.babeld_version, node.babeld_version)
        text = deployed.text
        if text is None:
            message = "no config deployed there; linting the generated one"
            fix = "deploy it with `meshtui deploy`"
            entries.append(_Entry("remote", "warning", where, 0, message, fix, name))
            text = generated[name]
        for note in facts.notes:
            entries.append(
                _Entry("remote", "warning", where, 0, f"not checked: {note}", None, name)
            )
        parsed = parse_config(text, where, version)
        unit.version = parsed.version
        entries.extend(_grammar(parsed.diagnostics, name))
        findings = lint_node(
            inv, name, parsed, facts.interfaces, facts.firewall, f"{name}: nft list ruleset"
        )
        entries.extend(_security(findings))
    return units


def _grammar(diags, node: str | None = None) -> list[_Entry]:
    return [_entry("grammar", d, node, d.version) for d in diags]


def _security(findings) -> list[_Entry]:
    return [_entry("security", f, f.node) for f in findings]


def _entry(kind: str, item, node: str | None, version: str | None = None) -> _Entry:
    """A report entry from a babeld.conf diagnostic or a lint finding."""
    severity = report_severity(kind, item.severity.value)
    return _Entry(kind, severity, item.file, item.line, item.message, item.fix, node, version)


def run_lint(args: argparse.Namespace) -> int:
    """``meshtui lint``."""
    if args.files and args.inventory is not None:
        raise CliError("give either config FILEs or --inventory, not both")
    if args.nft and args.inventory is None:
        raise CliError("--nft needs --inventory (it names inventory nodes)")
    if args.remote and args.files:
        raise CliError("--remote lints inventory nodes: give --inventory FILE, not config files")
    if args.remote and args.nft:
        raise CliError("--remote reads each node's firewall itself: drop --nft")
    if args.files:
        units = _lint_files(args)
    elif args.inventory is not None or default_inventory_path() is not None:
        units = _lint_inventory(args)
    else:
        raise CliError("nothing to lint: give babeld.conf FILEs or --inventory FILE")
    entries = [e for u in units for e in u.entries]
    counts = {s: sum(e.severity == s for e in entries) for s in ("error", "security", "warning")}
    status = lint_exit_status(e.severity for e in entries)
    if args.json:
        doc = {
            "errors": counts["error"],
            "security": counts["security"],
            "warnings": counts["warning"],
            "exit_status": status,
            "files": [u.to_json() for u in units],
            "entries": [e.__dict__ for e in entries],
        }
        json.dump(doc, sys.stdout, indent=2)
        print()
        return status
    limit = args.max_findings or None
    for unit in units:
        for e in unit.entries[:limit]:
            print(e.text())
        hidden = len(unit.entries) - len(unit.entries[:limit])
        if hidden:
            say(
                f"{unit.node or unit.file}: {hidden} more finding(s) not shown "
                "(--max-findings 0 shows them all)"
            )
        summary = unit.summary()
        if summary is not None:
            print(summary)
    if status != EXIT_CLEAN:
        print(
            f"{counts['error']} error(s), {counts['security']} security finding(s), "
            f"{counts['warning']} warning(s)",
            file=sys.stderr,
        )
    return status
