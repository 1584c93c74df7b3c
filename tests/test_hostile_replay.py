"""Damaged recordings fail at once naming the line; a replay ends cleanly (end, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meshtui.cli import main as cli_main
from meshtui.transport.replay import RecordingError, load_recording

DEMO = Path(__file__).resolve().parents[1] / "demo" / "relay-outage.rec"
MESHTUI = [sys.executable, "-m", "meshtui"]


def _lines() -> list[str]:
    return DEMO.read_text().splitlines()


def _write(tmp_path: Path, lines: list[str], name: str = "bad.rec") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _second_ok(lines: list[str]) -> int:
    """The file line (1-based) of the dump's closing ``ok``."""
    oks = [n for n, line in enumerate(lines, start=1) if line.endswith("\tok")]
    return oks[1]


def test_the_demo_recording_is_valid() -> None:
    assert load_recording(DEMO)


def _damaged(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    lines = _lines()
    end = _second_ok(lines)
    header, greeting = lines[0], lines[1]
    out_of_order = [*lines[: end + 5], "0.000001\tchange neighbour x", *lines[end + 5 :]]
    cases = {
        "truncated mid-dump": (lines[: end - 3], f":{end - 3}: the recording ends in the middle"),
        "truncated in greeting": (lines[:3], ":3: the recording ends in the middle"),
        "timestamp 1e308": ([header, "1e308\t" + greeting.split("\t")[1]], ":2: timestamp '1e308'"),
        "timestamp nan": ([header, "nan\tBABEL 1.0"], ":2: timestamp 'nan'"),
        "timestamp inf": ([header, "inf\tBABEL 1.0"], ":2: timestamp 'inf'"),
        "timestamp -1": ([header, "-1\tBABEL 1.0"], ":2: timestamp '-1'"),
        "timestamp word": ([header, "soon\tBABEL 1.0"], ":2: bad timestamp 'soon'"),
        "no tab": ([header, "0.5 BABEL 1.0"], ":2: bad timestamp"),
        "out of order": (out_of_order, f":{end + 6}: timestamp 1e-06 goes back in time"),
        "no header": (lines[1:], ":1: not a meshtui recording"),
        "other format": (["# meshtui-record 9 source=x", *lines[1:]], ":1: recording format '9'"),
        "empty": ([""], ":1: not a meshtui recording (the file is empty)"),
        "no greeting": ([header, "0.0\tadd route x"], ":2: a connection starts with babeld's"),
    }
    return {k: (_write(tmp_path, v, f"{i}.rec"), m) for i, (k, (v, m)) in enumerate(cases.items())}


def test_damaged_recordings_name_the_line(tmp_path: Path) -> None:
    for what, (path, message) in _damaged(tmp_path).items():
        with pytest.raises(RecordingError) as info:
            load_recording(path)
        assert f"{path}{message}" in str(info.value), what


@pytest.mark.parametrize("command", ["status", "watch"])
def test_cli_fails_at_once_with_one_line(tmp_path: Path, capsys, command: str) -> None:
    for what, (path, message) in _damaged(tmp_path).items():
        assert cli_main([command, "--replay", str(path)]) == 1, what
        out, err = capsys.readouterr()
        assert err.splitlines() == [err.splitlines()[0]] and message in err, (what, err)
        assert "babeld" not in err.split(message)[0], "a damaged file is not babeld's fault"


def _watch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*MESHTUI, "watch", "--replay", str(DEMO), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_clean(err: str) -> None:
    assert "Traceback" not in err, err
    assert "never retrieved" not in err, err
    assert "CancelledError" not in err, err


def test_watch_duration_ends_cleanly() -> None:
    proc = _watch("--duration", "1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    _assert_clean(err)
    assert out  # the replay printed events before it stopped


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_signal_ends_cleanly(sig: signal.Signals) -> None:
    proc = _watch()
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the replay is running (its first event is out)
    assert first
    time.sleep(0.2)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err
    _assert_clean(err)
