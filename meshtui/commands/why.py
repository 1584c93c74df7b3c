"""``meshtui why``: babeld's own smoothed metrics, seqnos and feasibility for one destination.

``meshtui why --socket PATH PREFIX`` (or ``--port N``, or ``--inventory FILE
--node NAME``) reads the node's tables from its socket as ``status`` does, then
signals babeld (``SIGUSR1``) to dump what the socket does not show, reads the
dump from babeld's log file or journal, and prints every route to PREFIX with
babeld's figures beside meshtui's own explanation; where they disagree,
babeld's word wins and the output says so. An action on the node: refused in
read-only mode.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys

from meshtui.cli import CliError
from meshtui.commands import say


def _prefix(text: str) -> tuple[str, str]:
    """``ADDRESS[/LEN][ from SRC]`` as babeld writes it (an address alone is a /128)."""
    try:
        net = ipaddress.ip_network(text if "/" in text else f"{text}/128", strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an address or prefix") from None
    return str(net), "::/0" if net.version == 6 else "0.0.0.0/0"


async def _why(args: argparse.Namespace):
    from meshtui.commands.live import close_ssh
    from meshtui.commands.sources import resolve_sources
    from meshtui.core.names import Names
    from meshtui.ops.why import ask_babeld
    from meshtui.transport.sources import run_until_live

    sources = resolve_sources(args)
    if len(sources) != 1:
        raise CliError("why asks one node: name it with --socket, --port or --inventory --node")
    source = sources[0]
    try:
        session = await run_until_live(source, args.timeout)
        prefix, src = args.prefix
        report = await ask_babeld(source, session.model, prefix, src, read_only=args.read_only)
        inv = source.access.inventory
        names = Names.build(inv, {source.name: session.model}) if inv is not None else None
        return report, names
    finally:
        await close_ssh(sources)


def cmd_why(args: argparse.Namespace) -> int:
    """Print babeld's word on one destination."""
    from meshtui.ops.why import ReadOnlyError, TablesError
    from meshtui.transport.local import ConnectError

    try:
        report, names = asyncio.run(_why(args))
    except (ReadOnlyError, TablesError, ConnectError, TimeoutError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        hop = None
        if names is not None:

            def hop(via: str, interface: str) -> str:
                return names.describe_hop(report.node, via, interface)

        say("\n".join(report.lines(hop)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``why``."""
    p = sub.add_parser(
        "why",
        help="babeld's own smoothed metrics, seqnos and feasibility for one destination",
        description=__doc__.split("\n\n")[1],
    )
    group = p.add_argument_group("babeld to ask")
    group.add_argument("--socket", metavar="PATH", help="babeld's unix control socket (local-path)")
    group.add_argument("--port", metavar="N", type=int, help="babeld's TCP control port on [::1]")
    group.add_argument(
        "--inventory",
        metavar="FILE",
        nargs="?",
        const="",
        help="a mesh inventory: ask --node NAME over SSH",
    )
    group.add_argument("--node", metavar="NAME", action="append", help="with --inventory: the node")
    p.add_argument(
        "prefix", type=_prefix, metavar="PREFIX", help="the destination (an address is a /128)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the node")
    p.add_argument(
        "--read-only", action="store_true", help="refuse (signalling babeld is an action)"
    )
    p.set_defaults(func=cmd_why)
