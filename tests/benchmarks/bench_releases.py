"""What testing every babeld release adds to a CI run (root; needs the lab and the builds).

Runs the tests parametrized over babeld releases (the config corpus, its harness
and the core live-lab tests, see tests/conftest.py) in one pytest run and sums
pytest's own durations (setup + call + teardown) per release: Debian's 1.12.1
is the baseline measured in the same run; 1.13.1 and 1.14 are what the releases
add. Also times building both releases from ../shared/vendor/babeld into a
fresh directory (CI keeps .cache/babeld between runs, so that is a first-run
cost). Prints figures, asserts nothing. Run::

    .venv/bin/python tests/benchmarks/bench_releases.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO.parent / "shared" / "vendor" / "babeld"
FILES = (
    "tests/test_babelconf_harness.py",
    "tests/test_babelconf_corpus.py",
    "tests/test_live_lab.py",
)
RELEASES = ("1.12.1", "1.13.1", "1.14")
_LINE = re.compile(r"^\s*([0-9.]+)s (setup|call|teardown)\s+(\S+)$")


def build_time() -> str:
    """Seconds to build 1.13.1 and 1.14 from scratch (or why it cannot)."""
    if not (VENDOR / "build.sh").is_file() or shutil.which("gcc") is None:
        return "n/a (no ../shared/vendor/babeld or no gcc)"
    with tempfile.TemporaryDirectory(prefix="meshtui-babeld-build-") as dest:
        t0 = time.monotonic()
        for version in RELEASES[1:]:
            subprocess.run(["bash", str(VENDOR / "build.sh"), version, dest], check=True,
                           capture_output=True)  # fmt: skip
        return f"{time.monotonic() - t0:.1f} s"


def main() -> int:
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
         "-vv", *FILES],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.monotonic() - t0
    per: dict[str, float] = defaultdict(float)
    for line in out.stdout.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        release = next((r for r in RELEASES if m.group(3).endswith(f"[{r}]")), "other")
        per[release] += float(m.group(1))
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
    print(f"pytest {' '.join(FILES)}: {summary} ({wall:.1f} s wall)")
    print(f"  baseline 1.12.1 (Debian's): {per['1.12.1']:.1f} s")
    for release in RELEASES[1:]:
        print(f"  babeld {release}: +{per[release]:.1f} s")
    print(f"  not per release: {per['other']:.1f} s")
    print(f"  added per CI run by 1.13.1 and 1.14: {per['1.13.1'] + per['1.14']:.1f} s")
    print(f"  building both releases (first run only): {build_time()}")
    print("  (a shared 2-core machine: figures are noisy)")
    return 0 if out.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
