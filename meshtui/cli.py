"""The meshtui command line: one entry point, sub-commands registered by modules.

Each module in ``COMMAND_MODULES`` provides ``register(subparsers)``, which adds
its sub-parser(s) and sets ``func`` (a callable taking the parsed arguments and
returning an exit status) with ``parser.set_defaults(func=...)``.

Running ``meshtui`` with no sub-command (or with only connection options)
opens the dashboard.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from meshtui.core.sanitize import inert

COMMAND_MODULES = [
    "meshtui.commands.live",  # status, watch, record
    "meshtui.commands.lab",  # lab up|down|fail|heal|roam|...
    "meshtui.commands.config",  # gen, lint
    "meshtui.commands.deploy",  # deploy
    "meshtui.commands.ui",  # the dashboard and `demo`
    "meshtui.commands.export",  # export (Prometheus metrics, alert rules)
    "meshtui.commands.rehearse",  # rehearse (relay outages in a replica of the mesh)
    "meshtui.commands.why",  # why (babeld's own smoothed metrics and feasibility)
]


class CliError(Exception):
    """An error to report as one clear line and a non-zero exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every ``--help``: epilogs (examples) kept as written, defaults shown where they say
    something (not for flags, nor for options whose default is "not given")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "(default" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or default == []
        ):
            return action.help
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {inert(message)} (see `{self.prog} --help`)\n")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-parsers by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _polish(parser: argparse.ArgumentParser, examples: dict[str, str], path: str = "") -> None:
    """Give every (sub-)parser the help formatter and its examples (``EXAMPLES`` of the
    command modules, keyed by command path: ``"status"``, ``"lab up"``)."""
    parser.formatter_class = HelpFormatter
    text = examples.get(path)
    if text and not parser.epilog:
        parser.epilog = "examples:\n" + "\n".join(
            f"  {line}" for line in text.strip("\n").splitlines()
        )
    for name, child in _subparsers(parser).items():
        _polish(child, examples, f"{path} {name}".strip())


def _version() -> str:
    from meshtui import __version__

    return f"meshtui {__version__} (Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser from every available command module."""
    parser = Parser(
        prog="meshtui",
        description="Terminal dashboard for babeld meshes.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    examples: dict[str, str] = {}
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that feature is not part of this build
            raise
        module.register(sub)
        examples.update(getattr(module, "EXAMPLES", {}))
    _polish(parser, examples)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``meshtui`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices if parser._subparsers else None
    known = set(choices or ())
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        if "dashboard" in known:
            argv = ["dashboard", *argv]
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"meshtui: {inert(str(exc))}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`meshtui ... | head`): exit quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
