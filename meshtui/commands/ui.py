"""The ``dashboard`` command (what a bare ``meshtui`` runs) and ``demo``.

``meshtui [--socket PATH | --port N | --replay FILE | --inventory [FILE]]``
opens the dashboard on that babeld (or those nodes); with none of them it
tries the usual local control sockets, then the default inventory, and when
nothing answers opens the embedded demo with a banner that says how to
enable babeld's control socket. ``meshtui demo`` replays the shipped
recording of a real relay outage (no root, no babeld); ``meshtui demo
--live`` builds the namespace lab and lets the user fail and heal relays.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from meshtui.cli import CliError
from meshtui.commands import speed, warn
from meshtui.commands.live import add_target_args
from meshtui.commands.sources import resolve_sources
from meshtui.core.inventory import default_inventory_path
from meshtui.transport.replay import RecordingError
from meshtui.transport.sources import Source, find_local_target, local_source, tried_targets

DEMO_BANNER = (
    "DEMO — a recording of a real relay outage, seen from edge-a of meshtui's lab "
    "(two sites, two relays, hello 1 s). relay-1 goes silent at 0:12: watch edge-a fail over "
    "to relay-2 (timeline, right or below), the neighbour drain in 2 Neighbours, the events in "
    "5 Events. relay-1 is healed at 0:28 and traffic moves back about 30 s later. "
    "space pauses, + / - change the speed, ? helps, esc hides this."
)

FALLBACK_BANNER = (
    "No babeld control socket answered here (tried {tried}), so this is the DEMO: a recorded "
    "relay outage replayed at real speed. To watch your own babeld, add `local-path "
    "/run/babeld.sock` (or `local-port 33123`) to babeld.conf, restart babeld, and run "
    "`meshtui --socket /run/babeld.sock` (or `meshtui --port 33123`). esc hides this."
)


def _demo_source(speed: float) -> Source:
    from meshtui.transport.held import demo_recording, held_replay_source

    path = demo_recording()
    try:
        return held_replay_source(path, speed=speed, name="edge-a (demo)")
    except RecordingError as exc:
        raise CliError(f"the demo recording is missing or damaged: {exc}") from None


def _require_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(
            "the dashboard needs a terminal; for scripts use `meshtui status` or `meshtui watch`"
        )


def _run(app) -> int:  # noqa: ANN001 - a MeshApp; imported lazily to keep `--help` fast
    app.run()
    return int(app.return_code or 0)


@dataclass(frozen=True)
class DashboardPlan:
    """What ``meshtui`` will show: the sources, and a banner (the demo fallback's)."""

    sources: list[Source]
    banner: str = ""
    banner_kind: str = "info"


def plan_dashboard(args: argparse.Namespace) -> DashboardPlan:
    """Choose the sources for the dashboard's options (the demo when nothing answers).

    Raises:
        CliError: a recording or inventory that cannot be read, a bad port.
    """
    from meshtui.transport.held import held_replay_source

    banner = ""
    kind = "info"
    if args.replay:
        try:
            sources = [held_replay_source(args.replay, speed=args.speed)]
        except RecordingError as exc:
            raise CliError(str(exc)) from None
    elif args.socket or args.port is not None or args.inventory is not None or args.node:
        sources = resolve_sources(args)
    else:
        target = find_local_target()
        if target is not None:
            sources = [local_source(target)]
        elif default_inventory_path() is not None:
            sources = resolve_sources(args)  # every node of the default inventory, over SSH
        else:
            sources = [_demo_source(1.0)]
            banner = FALLBACK_BANNER.format(tried=tried_targets())
            kind = "warning"
    return DashboardPlan(sources, banner, kind)


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Open the dashboard on the named babeld, the local one, or the demo."""
    from meshtui.ui.app import make_app

    rehearsal = _rehearsal_screen(args.rehearsal) if getattr(args, "rehearsal", None) else None
    plan = plan_dashboard(args)
    read_only = True
    if args.write:
        from meshtui.ops.audit import ReadOnlyError, read_only_setting

        try:
            setting = read_only_setting()
        except ReadOnlyError as exc:
            raise CliError(str(exc)) from None
        if setting.enabled:
            raise CliError(f"--write refused: read-only is set ({setting.source})")
        read_only = False
    _require_terminal()
    stats = Path(args.stats) if args.stats else None
    app = make_app(
        plan.sources,
        read_only=read_only,
        theme=args.theme,
        banner=plan.banner,
        banner_kind=plan.banner_kind,
        stats_path=stats,
        filters_config=Path(args.config) if args.config else None,
    )
    app.start_screen = rehearsal
    return _run(app)


def _rehearsal_screen(path: str):  # noqa: ANN202 - a RehearsalScreen, imported lazily
    """The screen for a ``rehearse`` JSON result; CliError when it cannot be read."""
    import json

    from meshtui.core.rehearsal import runs_from_json
    from meshtui.ui.screens.rehearsal import RehearsalScreen

    try:
        runs = runs_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: {exc}") from None
    return RehearsalScreen(runs, path)


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay the shipped outage, or build the lab and drive it (``--live``)."""
    from meshtui.ui.app import make_app

    if not args.live:
        if args.speed <= 0:
            raise CliError("--speed must be above 0 for the demo (1 = real time)")
        _require_terminal()
        from meshtui.transport.held import demo_recording

        config = demo_recording().with_name("edge-a.conf")  # the recorded node's babeld.conf
        app = make_app(
            [_demo_source(args.speed)],
            theme=args.theme,
            banner=DEMO_BANNER,
            filters_config=config if config.is_file() else None,
        )
        return _run(app)
    return _live_demo(args)


def _live_demo(args: argparse.Namespace) -> int:
    from meshtui.lab import Lab, LabError, missing_prerequisites
    from meshtui.ui.app import make_app
    from meshtui.ui.labctl import LabControl

    problems = missing_prerequisites()
    if problems:
        raise CliError("demo --live: " + "; ".join(problems) + " (plain `meshtui demo` needs none)")
    _require_terminal()
    try:
        lab = Lab(hello=args.hello)
    except LabError as exc:
        raise CliError(str(exc)) from None
    print(f"meshtui: building lab {lab.id} (hello {args.hello:g} s)…", file=sys.stderr, flush=True)
    try:
        try:
            lab.up(wait=True, timeout=args.timeout)
        except LabError as exc:
            raise CliError(f"the lab did not come up (everything removed again): {exc}") from None
        banner = (
            f"LAB {lab.id}: a real babeld mesh in network namespaces; you are watching edge-a. "
            "F fails a relay (drops its Babel traffic), H heals it — write actions on the lab, "
            "each asks first. Quitting tears the lab down."
        )
        app = make_app(
            [local_source(lab.socket_path("edge-a"), name="edge-a")],
            read_only=False,
            theme=args.theme,
            banner=banner,
            lab=LabControl(lab),
            hello={"*": args.hello},
        )
        return _run(app)
    finally:
        problems = lab.down()
        for problem in problems:
            warn(f"lab teardown: {problem}")


EXAMPLES = {
    "": """
meshtui                                           # the dashboard: the local babeld, else the demo
meshtui status --socket /run/babeld.sock --json
meshtui watch --inventory mesh.toml
meshtui lint /etc/babeld.conf
meshtui SUBCOMMAND --help                         # options and examples of each
""",
    "dashboard": """
meshtui                                           # the local babeld, else the demo
meshtui --socket /run/babeld.sock
meshtui --inventory mesh.toml --write              # every node over SSH; D deploys
meshtui --replay outage.rec --config edge-a.conf
""",
    "demo": """
meshtui demo
meshtui demo --speed 4 --theme meshtui-contrast
meshtui demo --live                                # root: a real lab mesh, fail/heal relays
""",
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` (the default command) and ``demo``."""
    p = sub.add_parser(
        "dashboard",
        help="the terminal dashboard (what `meshtui` alone runs)",
        description="Watch a babeld live: failover, neighbours, routes, interfaces, events.",
    )
    add_target_args(p)
    p.add_argument("--theme", metavar="NAME", help="meshtui-dark (default), meshtui-light, "
                   "meshtui-contrast, or one of yours")  # fmt: skip
    p.add_argument("--stats", metavar="FILE", help="write UI counters as JSON on exit")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="babeld.conf of a local babeld or recording, for the Filters view (read-only)",
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="enable write actions (D: deploy the generated config, with --inventory); "
        "without it the dashboard is read-only",
    )
    p.add_argument(
        "--rehearsal",
        metavar="FILE",
        help="open on a rehearsal's result (`meshtui rehearse -o FILE`): per outage, the "
        "matrix of pairs coloured by failover time (esc: the dashboard)",
    )
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser(
        "demo",
        help="the dashboard on a recorded relay outage (no root, no babeld needed)",
        description="Replay the shipped recording of a real relay outage at real speed "
        "(space pauses, + / - change speed); --live builds the lab instead (root).",
    )
    p.add_argument(
        "--speed",
        type=speed,
        default=1.0,
        metavar="X",
        help="replay speed: more than 0 (1 = real time), or 0 for as fast as possible",
    )
    p.add_argument("--theme", metavar="NAME", help="theme name")
    p.add_argument(
        "--live",
        action="store_true",
        help="build the namespace lab (root, babeld) and fail/heal relays from the dashboard",
    )
    p.add_argument("--hello", type=float, default=1.0, metavar="S", help="lab hello interval (s)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="lab build bound")
    p.set_defaults(func=cmd_demo)
