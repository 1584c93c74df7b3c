"""The ``meshtui rehearse`` command: what each relay's outage does to a replica of a mesh.

Builds a replica of the inventory in network namespaces (root), silences each
relay in turn and reports, per (source, destination) pair, the relay before and
after, the failover time, the time unreachable and the time back; with
``--candidate``, the same for the candidate inventory, side by side, and exit
status 1 when the candidate leaves a pair unreachable in an outage where the
current inventory does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from meshtui.cli import CliError
from meshtui.core.rehearsal import Comparison, RunResult, compare, describe_run, report_json
from meshtui.core.sanitize import inert

EXAMPLES = {
    "rehearse": """
meshtui rehearse --inventory mesh.toml                             # every relay in turn
meshtui rehearse --inventory mesh.toml --candidate new.toml -o r.json
meshtui rehearse --inventory mesh.toml --outage relay-2 --json
meshtui --rehearsal r.json                                         # open it in the dashboard
""",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rehearse``."""
    p = subparsers.add_parser(
        "rehearse",
        help="rehearse relay outages in a replica of the mesh (root)",
        description="Build a replica of the inventory's mesh in network namespaces, silence "
        "each relay in turn (or the --outage nodes) and report what every (source, "
        "destination) pair goes through: relay before and after, failover time, time "
        "unreachable, time back. With --candidate, compare; exit status 1 when the "
        "candidate leaves a pair unreachable in an outage where the current one does not.",
    )
    add_rehearse_arguments(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the JSON result to FILE")
    p.set_defaults(func=cmd_rehearse)


def add_rehearse_arguments(p: argparse.ArgumentParser) -> None:
    """The options ``rehearse`` shares with ``deploy --rehearse``."""
    if not any("--inventory" in a.option_strings for a in p._actions):
        p.add_argument("--inventory", metavar="FILE", required=True, help="the mesh inventory")
    p.add_argument("--candidate", metavar="FILE", help="a changed inventory to compare with")
    p.add_argument(
        "--outage",
        metavar="NODE",
        nargs="+",
        action="extend",
        help="the relays to silence, in turn (default: every relay)",
    )
    p.add_argument(
        "--settle",
        type=float,
        metavar="S",
        help="seconds without route changes that count as settled (default: 4 hello intervals)",
    )
    p.add_argument(
        "--back-timeout",
        type=float,
        metavar="S",
        help="how long to wait for each pair's way back after a heal (default: 60 s + the "
        "slowest detection; babeld's smoothing needs ~30 s before a returning route wins)",
    )
    p.add_argument(
        "--babeld", default="babeld", metavar="PATH", help="the babeld binary the replica runs"
    )


def run_rehearsal(
    inventory: str, candidate: str | None, outages: list[str] | None, *,
    settle: float | None = None, back_timeout: float | None = None, babeld: str = "babeld",
    quiet: bool = False,
) -> tuple[list[RunResult], Comparison | None]:  # fmt: skip
    """Rehearse ``inventory`` (and ``candidate``), one replica at a time; CliError on failure."""
    from meshtui.lab.lab import LabError, missing_prerequisites
    from meshtui.lab.rehearse import rehearse

    problems = missing_prerequisites(babeld)
    if problems:
        raise CliError("rehearse: " + "; ".join(problems))

    def say(line: str) -> None:
        if not quiet:
            print(f"rehearse: {inert(line)}", file=sys.stderr, flush=True)

    runs = []
    for path in [inventory] + ([candidate] if candidate else []):
        try:
            runs.append(
                rehearse(
                    path,
                    outages,
                    settle=settle,
                    back_timeout=back_timeout,
                    babeld=babeld,
                    progress=say,
                )  # fmt: skip
            )
        except LabError as exc:
            raise CliError(f"rehearse {path}: {exc}") from None
    return runs, (compare(runs[0], runs[1]) if candidate else None)


def print_report(runs: list[RunResult], comparison: Comparison | None) -> None:
    """The text report: each run, then the differences and regressions."""
    for run in runs:
        for line in describe_run(run):
            print(inert(line))
    if comparison is None:
        return
    print("differences (current → candidate):")
    for line in comparison.differences or ("none worth a line",):
        print(f"  {inert(line)}")
    if comparison.regressions:
        print(f"{len(comparison.regressions)} regression(s): the candidate loses pairs the "
              "current inventory keeps")  # fmt: skip


def cmd_rehearse(args: argparse.Namespace) -> int:
    runs, comparison = run_rehearsal(
        args.inventory, args.candidate, args.outage, settle=args.settle,
        back_timeout=args.back_timeout, babeld=args.babeld, quiet=args.json,
    )  # fmt: skip
    report = report_json(args.inventory, runs, comparison)
    if args.output:
        try:
            Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(report))
    else:
        print_report(runs, comparison)
    return comparison.exit_status if comparison else 0
