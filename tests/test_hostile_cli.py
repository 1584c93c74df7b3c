"""Hostile input through the CLI entry points: inert output, one-line errors, no traceback.

A property-based test drives ``lint``, ``status/watch --replay``, ``gen --inventory`` and
``status --inventory`` in-process with generated hostile files; a few subprocess runs read
the raw bytes a terminal would get. Inventories only ever name 127.0.0.1 on closed ports.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshtui
from meshtui.cli import build_parser
from meshtui.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "relay-outage.rec"
CLEAN_CONF = REPO / "tests" / "data" / "configs" / "valid" / "generated-edge.conf"
MESHTUI = [sys.executable, "-m", "meshtui"]

ESC_TITLE = "\x1b]0;PWNED\x07\x1b[2J"
HOSTILE = [
    ESC_TITLE,
    "\x1b[31mred\x1b[0m",
    "\x00",
    "\u202e",
    "\u2066",
    "\x9b2J",
    "\x7f",
    "\r",
    "[bold red]markup[/]",
    "\udcff",
    "\u200b",
    "x" * 10_000,
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from([*"ab ;[]", *HOSTILE[:10]]), min_size=1, max_size=12).map("".join),
)


def assert_inert(*streams: str) -> None:
    """What reached the terminal: printable characters, newlines and tabs only."""
    for stream in streams:
        assert "Traceback" not in stream
        assert "never retrieved" not in stream
        bad = {c for c in stream if not c.isprintable() and c not in "\n\t"}
        assert not bad, sorted(bad)


@contextlib.contextmanager
def guard(seconds: int = 60) -> Iterator[None]:
    """Fail (not hang) when one run does not end: a guard, not a measure of speed."""

    def expired(*_: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(capsys, caplog, *argv: str) -> tuple[int, str, str]:
    caplog.clear()
    with guard():
        status = cli_main(list(argv))
    out, err = capsys.readouterr()
    err += caplog.text  # asyncio reports "exception was never retrieved" through logging
    assert_inert(out, err)
    return status, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="meshtui-hostile-") as name:
        yield Path(name)


FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ------------------------------------------------------------------ lint


@FUZZ
@given(hostile=hostile_text, where=st.integers(0, 30), raw=st.binary(max_size=256))
def test_lint_hostile_configs(capsys, caplog, workdir, hostile, where, raw) -> None:
    lines = CLEAN_CONF.read_text().splitlines()
    lines.insert(min(where, len(lines)), f"x{hostile}")  # never a directive babeld knows
    conf = workdir / "hostile.conf"
    conf.write_text("\n".join(lines) + "\n", errors="surrogateescape")
    status, out, _err = run_cli(capsys, caplog, "lint", str(conf))
    assert status == 1 and ": error: " in out
    garbage = workdir / "garbage.conf"
    garbage.write_bytes(raw)
    status, _out, _err = run_cli(capsys, caplog, "lint", "--json", str(garbage))
    assert status in (0, 1, 3)


# ------------------------------------------------------------------ recordings


def _demo_lines() -> list[str]:
    return DEMO.read_text().splitlines()


@FUZZ
@given(
    cut=st.integers(1, 40),
    stamp=st.sampled_from(["1e308", "nan", "inf", "-inf", "-1", "", "0x10", "1_0", "\x1b[2J"]),
    at=st.integers(1, 60),
)
def test_replay_damaged_recordings(capsys, caplog, workdir, cut, stamp, at) -> None:
    lines = _demo_lines()
    dump_end = [n for n, line in enumerate(lines, start=1) if line.endswith("\tok")][1]
    truncated = workdir / "truncated.rec"
    truncated.write_text("\n".join(lines[: min(cut, dump_end - 1)]) + "\n")  # mid-dump
    bad_stamp = workdir / "stamp.rec"
    _, _, rest = lines[at].partition("\t")
    bad_stamp.write_text("\n".join([*lines[:at], f"{stamp}\t{rest}", *lines[at + 1 :]]) + "\n")
    for path in (truncated, bad_stamp):
        for command in ("status", "watch"):
            status, _out, err = run_cli(capsys, caplog, command, "--replay", str(path))
            assert status == 1
            assert one_line(err).startswith(f"meshtui: {path}:")


def hostile_recording(path: Path, name: str, host: str) -> None:
    text = DEMO.read_text().replace("lan0", name).replace("host vm", f"host {host}")
    path.write_text(text, errors="surrogateescape")


@FUZZ
@given(name=hostile_text.map(lambda t: "".join(t.split()) or "\x1b"), host=hostile_text)
def test_replay_hostile_babeld_lines(capsys, caplog, workdir, name, host) -> None:
    rec = workdir / "hostile.rec"
    hostile_recording(rec, name, host)
    run_cli(capsys, caplog, "status", "--replay", str(rec), "--speed", "0")
    run_cli(capsys, caplog, "watch", "--replay", str(rec), "--speed", "0", "-v")


@FUZZ
@given(raw=st.binary(max_size=4096))
def test_random_files_everywhere(capsys, caplog, workdir, raw) -> None:
    path = workdir / "random"
    path.write_bytes(raw)
    for argv in (
        ("status", "--replay", str(path)),
        ("watch", "--replay", str(path)),
        ("gen", "--inventory", str(path), "--out", str(workdir / "out")),
        ("status", "--inventory", str(path)),
    ):
        status, _out, err = run_cli(capsys, caplog, *argv)
        assert status != 0
        one_line(err)
    run_cli(capsys, caplog, "lint", str(path))


# ------------------------------------------------------------------ inventories

INVENTORY = """\
[nodes.relay-fra]
ssh = "root@127.0.0.1"
ssh_port = 1
socket = "/run/babeld.sock"

[nodes.edge-ams]
ssh = "root@127.0.0.1"
ssh_port = 2
role = "edge"
"""


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (control characters escaped, as TOML requires)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or c == "\x7f" or 0xD800 <= ord(c) <= 0xDFFF:
            out.append(f"\\u{ord(c) if ord(c) < 0xD800 else 0xFFFD:04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


@FUZZ
@given(
    field=st.sampled_from(["role", "site", "address", "socket", "ssh", "lan", "config_path"]),
    value=hostile_text,
)
def test_inventories_with_hostile_values(capsys, caplog, workdir, field, value) -> None:
    inv = workdir / "mesh.toml"
    inv.write_text(INVENTORY + f"{field} = {toml_string(value)}\n")
    status, _out, err = run_cli(capsys, caplog, "gen", "--inventory", str(inv), "--out", "x")
    assert status == 1
    assert one_line(err).startswith(f"meshtui: {inv}")
    if field == "ssh":
        return  # the value would be a host to connect to: only loopback here
    status, out, err = run_cli(capsys, caplog, "status", "--inventory", str(inv), "--timeout", "5")
    assert status == 1
    assert err.strip() or "error:" in out


# ------------------------------------------------------------------ bytes on the terminal


def _hostile_files(tmp_path: Path) -> dict[str, Path]:
    conf = tmp_path / "hostile.conf"
    conf.write_text(f"interface eth0\n{ESC_TITLE}hello\nin deny \u202e\n" + "y" * 10_000 + "\n")
    rnd = tmp_path / "random.conf"
    rnd.write_bytes(random.Random(11).randbytes(4096))
    rec = tmp_path / "hostile.rec"
    hostile_recording(rec, "lan\x1b]0;PWNED\x07\u202e0", f"vm{ESC_TITLE}")
    return {"conf": conf, "random": rnd, "rec": rec}


def test_no_raw_escape_reaches_the_terminal(tmp_path: Path) -> None:
    files = _hostile_files(tmp_path)
    runs = [
        ("lint", str(files["conf"])),
        ("lint", str(files["random"])),
        ("status", "--replay", str(files["rec"]), "--speed", "0"),
        ("watch", "--replay", str(files["rec"]), "--speed", "0", "-v"),
    ]
    for argv in runs:
        result = subprocess.run([*MESHTUI, *argv], capture_output=True, timeout=60)
        for stream in (result.stdout, result.stderr):
            assert b"\x1b" not in stream and b"\x00" not in stream and b"\x07" not in stream
            assert "\u202e".encode() not in stream and b"\x9b" not in stream
            assert b"Traceback" not in stream
        text = result.stdout.decode()
        if argv[0] != "lint":
            assert "\\x1b]0;PWNED\\x07" in text  # shown, not obeyed
    assert len(subprocess.run([*MESHTUI, *runs[1]], capture_output=True).stdout) < 64_000


# ------------------------------------------------------------------ CLI polish


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"meshtui {meshtui.__version__}")


def _all_parsers(parser, path=""):
    yield path, parser
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, child in action.choices.items():
                yield from _all_parsers(child, f"{path} {name}".strip())


MINE = {"status", "watch", "record", "gen", "lint", "deploy", "dashboard", "demo", "lab"}


def test_every_sub_command_help_has_examples_and_defaults() -> None:
    parsers = dict(_all_parsers(build_parser()))
    checked = [p for p in parsers if p.split(" ")[0] in MINE]
    assert {"status", "lab up", "lint", "deploy"} <= set(checked)
    for path in ["", *checked]:
        text = parsers[path].format_help()
        assert "examples:\n  meshtui" in text, path
    assert "(default: 10.0)" in parsers["status"].format_help()
    assert "(default: 1.0)" in parsers["watch"].format_help()  # --speed
    assert "(default: 120.0)" in parsers["lab up"].format_help()  # --timeout
    lint_help = " ".join(parsers["lint"].format_help().split())
    assert "--node NAME with --inventory: lint only this node's config (repeat for more)" in (
        lint_help
    )
    assert "-o FILE, --output FILE the recording to write" in " ".join(
        parsers["record"].format_help().split()
    )


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["watch", "--replay", str(DEMO), "--speed", "-1"], "give a speed more than 0"),
        (["watch", "--replay", str(DEMO), "--speed", "nan"], "not a finite number"),
        (["status", "--socket", "/x", "--port", "1"], "not allowed with argument --socket"),
        (["status", "--replay", str(DEMO), "--socket", "/x"], "not allowed with argument"),
        (["status", "--port", "70000"], "not a TCP port"),
        (["watch", "--duration", "0", "--replay", str(DEMO)], "more than 0"),
    ],
)
def test_bad_values_are_one_line(capsys, argv, words) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(argv)
    assert info.value.code == 2
    assert words in one_line(capsys.readouterr().err)


def test_speed_zero_is_as_fast_as_possible(capsys, caplog) -> None:
    status, out, _err = run_cli(capsys, caplog, "watch", "--replay", str(DEMO), "--speed", "0")
    assert status == 0 and "failover" in out


def test_not_a_socket(capsys) -> None:
    assert cli_main(["status", "--socket", "/etc/passwd"]) == 1
    assert "/etc/passwd: not a socket (a file)" in one_line(capsys.readouterr().err)


def test_record_refuses_to_overwrite(tmp_path: Path, capsys, caplog) -> None:
    out = tmp_path / "out.rec"
    out.write_text("precious\n")
    argv = ["record", "--replay", str(DEMO), "--speed", "0", "--duration", "1", "-o", str(out)]
    assert cli_main(argv) == 1
    assert "out.rec exists: pass --force" in one_line(capsys.readouterr().err)
    assert out.read_text() == "precious\n"
    status, _out, _err = run_cli(capsys, caplog, *argv, "--force")
    assert status == 0 and out.read_text().startswith("# meshtui-record 1")
