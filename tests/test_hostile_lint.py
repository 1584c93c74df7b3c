"""``lint`` on hostile files and its exit-status contract (1 refused, 3 insecure, 0 clean)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshtui.cli import main as cli_main

DATA = Path(__file__).parent / "data" / "configs"
CLEAN = DATA / "valid" / "generated-edge.conf"
REFUSED = DATA / "invalid" / "seed-typo.conf"


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_clean_file_exits_0_and_says_so_in_one_line(capsys) -> None:
    assert cli_main(["lint", str(CLEAN)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{CLEAN}: ok: babeld 1.12 accepts it, no security findings"]


def test_babeld_starts_but_mesh_is_open_exits_3(tmp_path, capsys) -> None:
    open_conf = _write(tmp_path, "open.conf", "interface eth0 type wired\n")
    assert cli_main(["lint", str(open_conf)]) == 3
    out = capsys.readouterr().out
    assert f"{open_conf}:1: security: no final `in deny`" in out


def test_any_refused_file_wins_with_1(tmp_path, capsys) -> None:
    open_conf = _write(tmp_path, "open.conf", "interface eth0 type wired\n")
    assert cli_main(["lint", str(open_conf), str(REFUSED), str(CLEAN)]) == 1
    out = capsys.readouterr().out
    assert f"{REFUSED}:5: error:" in out
    assert f"{CLEAN}: ok:" in out


def test_unreadable_file_is_an_error_and_the_others_are_still_linted(tmp_path, capsys) -> None:
    assert cli_main(["lint", str(tmp_path / "missing.conf"), str(CLEAN)]) == 1
    out = capsys.readouterr().out
    assert "missing.conf:0: error: cannot read: No such file or directory" in out
    assert f"{CLEAN}: ok:" in out


def test_json_per_file_babeld_accepts_and_severities(tmp_path, capsys) -> None:
    open_conf = _write(tmp_path, "open.conf", "interface eth0 type wired\nfoo\n")
    assert cli_main(["lint", "--json", str(open_conf), str(CLEAN)]) == 1
    doc = json.loads(capsys.readouterr().out)
    first, second = doc["files"]
    assert first["babeld_accepts"] is False and second["babeld_accepts"] is True
    assert {f["severity"] for f in first["findings"]} == {"error"}  # no security lint when refused
    assert second["findings"] == []
    assert doc["exit_status"] == 1
    only_open = _write(tmp_path, "open2.conf", "interface eth0 type wired\n")
    assert cli_main(["lint", "--json", str(only_open)]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["babeld_accepts"] is True
    assert {f["severity"] for f in doc["files"][0]["findings"]} == {"security"}


@pytest.mark.parametrize(
    "content",
    [
        "x" * 300 + "\n",  # a first word longer than babeld's 255
        "interface " + "e" * 300 + "\n",
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8,  # a binary
        "\x1b]0;PWNED\x07\x1b[2Jhello\n",  # OSC title, clear screen
        "interface eth0 \u202etype wired\u202c\n",
        b"interface \xff\xfe\n",
        "in deny \x00\n",
        "y" * 10_000 + "\n",
    ],
)
def test_hostile_file_one_line_per_finding_nothing_raw(tmp_path, capsys, content) -> None:
    path = _write(tmp_path, "hostile.conf", content)
    status = cli_main(["lint", str(path)])
    out, err = capsys.readouterr()
    assert status in (1, 3)  # babeld refuses it, or the mesh is open (no final deny)
    for stream in (out, err):
        assert "\x1b" not in stream and "\u202e" not in stream and "\x00" not in stream
        assert "Traceback" not in stream
        assert all(c.isprintable() for line in stream.splitlines() for c in line)


def test_lint_binary_file_is_refused_quickly(capsys) -> None:
    assert cli_main(["lint", "/bin/ls"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out


def test_huge_file_is_not_read(tmp_path, capsys) -> None:
    big = tmp_path / "big.conf"
    with big.open("wb") as fh:
        fh.truncate(3 << 20)
    assert cli_main(["lint", str(big)]) == 1
    assert "cannot read: larger than 1 MiB" in capsys.readouterr().out


def test_a_file_full_of_errors_prints_the_first_fifty_then_how_many_more(tmp_path, capsys) -> None:
    junk = _write(tmp_path, "junk.conf", "".join(f"frobnicate{i}\n" for i in range(120)))
    assert cli_main(["lint", str(junk)]) == 1
    out = capsys.readouterr().out.splitlines()
    shown = [line for line in out if ": error: " in line or ": warning: " in line]
    assert len(shown) == 50 and shown[0].startswith(f"{junk}:1: error:")
    more = [line for line in out if "not shown" in line]
    assert len(more) == 1 and more[0].startswith(f"{junk}: ")
    hidden = int(more[0].split(": ")[1].split()[0])
    assert hidden + len(shown) >= 120
    assert cli_main(["lint", "--max-findings", "0", str(junk)]) == 1
    assert sum(": error: " in line for line in capsys.readouterr().out.splitlines()) >= 120


# A FIFO waits for a writer, a device may never end: the one reader of a local config
# refuses anything but a regular file without blocking. An old reader hangs here: the
# subprocess timeout (not a timed assertion) is then the failure.
NOT_REGULAR = {"fifo": "FIFO", "directory": "directory", "device": "character device"}


def _not_regular(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(tmp_path / "babeld.conf")
        return tmp_path / "babeld.conf"
    return tmp_path if kind == "directory" else Path("/dev/zero")


@pytest.mark.parametrize("kind", NOT_REGULAR)
def test_lint_refuses_what_is_not_a_regular_file_without_waiting(tmp_path, kind) -> None:
    path = _not_regular(tmp_path, kind)
    done = subprocess.run(
        [sys.executable, "-m", "meshtui", "lint", str(path), str(CLEAN)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    reason = f"not a regular file (a {NOT_REGULAR[kind]}): not a babeld config"
    assert f"{path}:0: error: cannot read: {reason}" in done.stdout.splitlines()
    assert f"{CLEAN}: ok:" in done.stdout  # the others are still linted
    assert "Traceback" not in done.stdout + done.stderr


FILTERS_READ = """
import asyncio, os, sys
from pathlib import Path
from meshtui.transport.config_read import RemoteReadError
from meshtui.transport.sources import local_source

path, swapped = Path(sys.argv[1]), sys.argv[2:]
if swapped:  # the path was a regular file when stat()ed, a FIFO when opened
    stat, regular = os.stat, os.stat(swapped[0])
    os.stat = lambda p, *a, **k: regular if str(p) == str(path) else stat(p, *a, **k)
source = local_source("/run/nothing.sock", name="x").access.config_source(path)
try:
    asyncio.run(source.load())
except RemoteReadError as exc:
    print(exc)
"""


@pytest.mark.parametrize("swapped", [False, True], ids=["fifo", "swapped-for-a-fifo"])
def test_the_filters_config_file_is_refused_the_same_way(tmp_path, swapped) -> None:
    """The Filters view's ``--config FILE`` (a local node's FileConfigSource) shares the reader."""
    fifo = _not_regular(tmp_path, "fifo")
    argv = [sys.executable, "-c", FILTERS_READ, str(fifo), *([str(CLEAN)] if swapped else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    reason = "not a regular file (a FIFO): not a babeld config"
    assert done.stdout == f"cannot read {fifo}: {reason}\n"
