"""The ``meshtui lab`` commands: build, inspect, break and tear down a namespace lab.

``lab up`` leaves the lab running after it returns (it is *detached*); every
other command finds it through its state file under /run/meshtui-lab, so they
work from any shell. ``--lab ID`` chooses among several running labs.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

from meshtui.cli import CliError
from meshtui.commands import say
from meshtui.core.sanitize import inert
from meshtui.lab.lab import Lab, LabError, missing_prerequisites
from meshtui.lab.state import clean_stale, list_labs
from meshtui.lab.topology import MAX_RELAYS, MAX_SERVERS, MAX_SITES

EXAMPLES = {
    "lab": """
meshtui lab up --hello 1 && meshtui lab fail relay-1 && meshtui lab heal relay-1
meshtui lab status
meshtui lab down
""",
    "lab up": """
meshtui lab up                                    # 2 sites, 2 relays, hello 1 s
meshtui lab up --sites 3 --relays 3 --hello 4
meshtui lab up --sites 10 --servers 4 --relays 4 --hello 4   # 54 nodes
meshtui lab up --inventory mesh.toml              # a replica of your own mesh
""",
    "lab down": "meshtui lab down --lab ID\nmeshtui lab down --all",
    "lab status": "meshtui lab status\nmeshtui lab status --lab ID",
    "lab fail": "meshtui lab fail relay-1          # babeld runs on; its Babel is dropped",
    "lab heal": "meshtui lab heal relay-1",
    "lab kill": "meshtui lab kill edge-b\nmeshtui lab kill edge-b --signal KILL",
    "lab start": "meshtui lab start edge-b",
    "lab restart": "meshtui lab restart relay-2",
    "lab roam": "meshtui lab roam srv-a1 b                # srv-a1 moves to site b with its /128",
    "lab exec": "meshtui lab exec edge-a -- ip -6 route\nmeshtui lab exec relay-1 -- wg show",
    "lab clean": "meshtui lab clean\nmeshtui lab clean --all",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lab`` and its sub-commands."""
    lab = subparsers.add_parser(
        "lab",
        help="a real babeld mesh in network namespaces (root)",
        description="Build a babeld mesh of network namespaces on this machine (as root): "
        "relays, one edge router per site with WireGuard tunnels to every relay, and "
        "servers on each site's LAN; then break and heal it.",
    )
    lab.set_defaults(func=lambda args: _help(lab))
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION")

    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--lab", metavar="ID", help="the lab to act on (default: the only one)")

    p = sub.add_parser("up", help="build a lab and leave it running")
    p.add_argument("--hello", type=float, default=1.0, metavar="S", help="hello interval (s)")
    p.add_argument("--sites", type=int, default=2, metavar="N", help=f"sites (1–{MAX_SITES})")
    p.add_argument("--relays", type=int, default=2, metavar="N", help=f"relays (1–{MAX_RELAYS})")
    p.add_argument(
        "--servers", type=int, default=1, metavar="N", help=f"servers per site (1–{MAX_SERVERS})"
    )
    p.add_argument(
        "--babeld",
        default="babeld",
        metavar="PATH",
        help="the babeld binary every node runs, e.g. a build of another release "
        "(default: babeld on PATH)",
    )
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="convergence bound")
    p.add_argument("--no-wait", action="store_true", help="do not wait for convergence")
    p.add_argument(
        "--inventory",
        metavar="FILE",
        help="build a replica of this mesh instead: its nodes, sites, /128s, tunnels, "
        "hello intervals, rxcosts and keys (fresh key values); the counts and --hello are unused",
    )
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", parents=[which], help="stop a lab and delete everything it made")
    p.add_argument("--all", action="store_true", help="every lab on this machine")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", parents=[which], help="labs, daemons and reachability")
    p.set_defaults(func=cmd_status)

    def action(
        name: str, help: str, method: Callable[..., object], params: tuple[str, ...], done: str
    ) -> None:
        p = sub.add_parser(name, parents=[which], help=help)
        for param in params:
            p.add_argument(param)
        p.set_defaults(func=_lab_action(method, params, done))

    action(
        "fail",
        "silent outage of a relay (drop Babel)",
        Lab.fail_relay,
        ("relay",),
        "{relay}: Babel dropped in and out (silent outage); `meshtui lab heal` ends it",
    )
    action("heal", "end a relay's outage", Lab.heal_relay, ("relay",), "{relay}: healed")

    p = sub.add_parser("kill", parents=[which], help="stop a node's babeld")
    p.add_argument("node")
    p.add_argument(
        "--signal",
        default="TERM",
        metavar="SIG",
        help="TERM (retractions first, the default) or KILL (silent), or any signal name",
    )
    p.set_defaults(func=cmd_kill)

    action("start", "start a node's babeld", Lab.start_babeld, ("node",), "{node}: babeld started")
    action(
        "restart",
        "restart a node's babeld (new config)",
        Lab.restart_babeld,
        ("node",),
        "{node}: babeld restarted",
    )
    action(
        "roam",
        "move a server to another site's LAN",
        Lab.roam,
        ("server", "site"),
        "{server}: now on site {site}'s LAN",
    )

    p = sub.add_parser(
        "exec", parents=[which], help="run a command in a node's namespace (after --)"
    )
    p.add_argument("node")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("clean", help="remove labs whose owner process is gone")
    p.add_argument("--all", action="store_true", help="also detached labs (from `lab up`)")
    p.set_defaults(func=cmd_clean)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _require(babeld: str = "babeld") -> None:
    problems = missing_prerequisites(babeld)
    if problems:
        raise CliError("lab: " + "; ".join(problems))


def _attach(args: argparse.Namespace) -> Lab:
    _require()
    try:
        return Lab.attach(getattr(args, "lab", None))
    except LabError as exc:
        raise CliError(str(exc)) from None


def _guard(action: Callable[..., object], *a: object) -> None:
    try:
        action(*a)
    except LabError as exc:
        raise CliError(str(exc)) from None


def _lab_action(
    method: Callable[..., object], params: tuple[str, ...], done: str
) -> Callable[[argparse.Namespace], int]:
    """A sub-command that calls one ``Lab`` method (``Lab.fail_relay``, say) on the lab with
    its positional arguments, then says ``done`` (formatted with them)."""

    def cmd(args: argparse.Namespace) -> int:
        values = [getattr(args, name) for name in params]
        _guard(method, _attach(args), *values)
        say(done.format(**dict(zip(params, values, strict=True))))
        return 0

    return cmd


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_up(args: argparse.Namespace) -> int:
    _require(args.babeld)
    try:
        lab = Lab(
            args.sites,
            args.relays,
            args.servers,
            args.hello,
            babeld=args.babeld,
            detached=True,
            inventory=getattr(args, "inventory", None),
        )
    except LabError as exc:
        raise CliError(str(exc)) from None
    print(f"lab {lab.id}: starting {lab!r}", file=sys.stderr, flush=True)
    for line in lab.topology.unplaced:
        print(f"lab {lab.id}: not in the replica: {inert(line)}", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # unwind (and clean up) on SIGTERM
    try:
        lab.up(wait=not args.no_wait, timeout=args.timeout)
    except LabError as exc:
        raise CliError(f"lab up failed (everything removed again): {exc}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    waited = lab.timings.get("converged")
    later = "not waited for convergence" if waited is None else f"converged {waited:.1f} s later"
    print(f"lab {lab.id} is up ({lab.timings['up']:.1f} s, {later})")
    print(f"  prefix     {lab.prefix}   hello {lab.config.hello:g} s")
    print(f"  babeld     {lab.babeld} ({lab.babeld_version})")
    print(f"  inventory  {lab.inventory_path}")
    print(f"  ssh        ssh -F {lab.ssh_config} NODE   (key {lab.ssh_key})")
    print("  sockets")
    for n in lab.topology.nodes:
        print(f"    {n.name:<10} {n.address!s:<26} {lab.socket_path(n.name)}")
    print(f"  dashboard  meshtui --inventory {lab.inventory_path}")
    print(f"  one node   meshtui status --socket {lab.socket_path(lab.nodes[0])}")
    relay = next((n.name for n in lab.topology.role("relay")), "RELAY")
    print(f"  break it   meshtui lab fail {relay} --lab {lab.id}   (heal with `lab heal`)")
    print(f"  stop       meshtui lab down --lab {lab.id}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    if args.all:
        _require()
        gone = clean_stale(everything=True)
        print(f"removed {len(gone)} lab(s){': ' + ', '.join(gone) if gone else ''}")
        return 0
    lab = _attach(args)
    problems = lab.down()
    if problems:
        raise CliError(f"lab {lab.id} removed with problems: {'; '.join(problems)}")
    print(f"lab {lab.id} removed")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _require()
    labs = list_labs()
    if not labs:
        print("no lab is running")
        return 0
    if args.lab is None and len(labs) > 1:
        for s in labs:
            owner = "detached" if s.detached else f"owner pid {s.owner_pid}"
            if not s.detached and not s.owner_alive():
                owner += " (gone: `meshtui lab clean` removes it)"
            c = s.config
            print(
                f"{s.lab_id}  {s.status:<8} sites {c.sites} relays {c.relays} "
                f"hello {c.hello:g}  {owner}"
            )
        print("choose one with --lab ID for details")
        return 0
    lab = _attach(args)
    c = lab.config
    print(f"lab {lab.id} ({lab.phase}): prefix {lab.prefix}, hello {c.hello:g} s")
    print(f"inventory {lab.inventory_path}")
    print(f"babeld {lab.babeld} ({lab.babeld_version or 'version not recorded'})")
    failed = lab.failed_relays
    if failed:
        print(f"failed relays: {', '.join(failed)}")
    print(f"{'NODE':<10} {'ROLE':<6} {'SITE':<4} {'ADDRESS':<26} {'BABELD':<8} {'SSHD':<8} REACHES")
    for st in lab.status():
        reach = st.error if st.reachable is None else f"{st.reachable}/{st.others}"
        print(
            f"{st.name:<10} {st.role:<6} {st.site or '-':<4} {st.address:<26} "
            f"{st.babeld_pid or 'down'!s:<8} {st.sshd_pid or 'down'!s:<8} {reach}"
        )
    return 0


def _signal(name: str) -> int:
    key = name.upper()
    if key.isdigit():
        return int(key)
    if not key.startswith("SIG"):
        key = "SIG" + key
    try:
        return int(signal.Signals[key])
    except KeyError:
        raise CliError(f"--signal {name}: not a signal name") from None


def cmd_kill(args: argparse.Namespace) -> int:
    sig = _signal(args.signal)
    lab = _attach(args)
    _guard(lab.kill_babeld, args.node, sig)
    print(f"{args.node}: babeld sent {signal.Signals(sig).name}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise CliError("lab exec: give the command after --, e.g. `lab exec edge-a -- ip -6 route`")
    lab = _attach(args)
    try:
        res = lab.exec(args.node, argv, timeout=600)
    except LabError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.returncode


def cmd_clean(args: argparse.Namespace) -> int:
    _require()
    gone = clean_stale(everything=args.all)
    print(f"removed {len(gone)} lab(s){': ' + ', '.join(gone) if gone else ''}")
    return 0
