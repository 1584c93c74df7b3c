"""The babeld binary is a lab parameter: chosen, checked, recorded in the lab state.

That every node of a release's lab runs that release is checked where those labs
are built (``_lab_of_release`` in tests/conftest.py, used by tests/test_live_lab.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from meshtui.lab import Lab, LabError
from meshtui.lab.state import LabState

MESHTUI = [sys.executable, "-m", "meshtui"]


def test_a_release_is_recorded_in_the_lab_state(babeld_release, tmp_path) -> None:
    lab = Lab(sites=1, relays=1, hello=0.5, babeld=babeld_release.path, root=tmp_path)
    assert lab.babeld == os.path.realpath(babeld_release.path)
    assert lab.babeld_version == f"babeld-{babeld_release.version}"
    assert f"babeld='babeld-{babeld_release.version}'" in repr(lab)
    again = LabState.from_json(lab._state.to_json())
    assert (again.babeld, again.babeld_version) == (lab.babeld, lab.babeld_version)


def test_an_old_state_file_without_babeld_reads_as_the_default(tmp_path) -> None:
    data = json.loads(Lab(sites=1, relays=1, hello=0.5, root=tmp_path)._state.to_json())
    del data["babeld"], data["babeld_version"]
    old = LabState.from_json(json.dumps(data))
    assert (old.babeld, old.babeld_version) == ("babeld", "")


@pytest.mark.parametrize(
    ("binary", "says"),
    [("/bin/true", "is not a babeld"), ("/nonexistent/babeld", "not an executable file")],
)
def test_a_binary_that_is_no_babeld_is_refused(binary, says, tmp_path) -> None:
    with pytest.raises(LabError, match=says):
        Lab(sites=1, relays=1, babeld=binary, root=tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="lab up needs root")
def test_lab_up_with_a_wrong_babeld_says_so_in_one_line() -> None:
    out = subprocess.run(
        [*MESHTUI, "lab", "up", "--babeld", "/bin/true", "--sites", "1", "--relays", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "/bin/true is not a babeld" in lines[0], out.stderr
