"""Records the demo: a real relay outage seen from edge-a of a namespace lab (root only).

Run from a clone, as root, with babeld and the lab's tools installed::

    python demo/record_demo.py demo/relay-outage.rec

It builds its own lab (hello interval 1 s), records edge-a's control socket
with ``meshtui record``, lets the mesh settle, fails relay-1 (Babel silently
dropped), waits until edge-a reaches site b through relay-2, holds the outage
a while, heals relay-1, waits until the traffic is back on relay-1, and stops.
Every wait is bounded; the lab is always torn down.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from meshtui.lab import Lab


def _say(text: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:6.1f}s] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Build a lab, record an outage of relay-1 from edge-a, write the recording."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--hello", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=12.0, help="seconds before the outage")
    parser.add_argument("--hold", type=float, default=12.0, help="seconds of outage after failover")
    parser.add_argument("--after", type=float, default=8.0, help="seconds after recovery")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    with Lab(hello=args.hello) as lab:
        _say(f"lab {lab.id} up", t0)
        lab.wait_converged(120)
        _say("converged via relay-1", t0)
        recorder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meshtui.cli",
                "record",
                "--socket",
                lab.socket_path("edge-a"),
                "--names",
                str(lab.inventory_path),
                "-o",
                str(args.output),
            ]
        )
        try:
            time.sleep(args.settle)  # the quiet part of the recording, by design
            _say("failing relay-1", t0)
            lab.fail_relay("relay-1")
            lab.wait(lambda: lab.next_hop("edge-a", "srv-b1") == "relay-2", 60, "failover")
            _say("edge-a reaches srv-b1 via relay-2", t0)
            time.sleep(args.hold)
            _say("healing relay-1", t0)
            lab.heal_relay("relay-1")
            lab.wait(lambda: lab.next_hop("edge-a", "srv-b1") == "relay-1", 120, "recovery")
            _say("edge-a is back on relay-1", t0)
            time.sleep(args.after)
        finally:
            recorder.send_signal(2)
            recorder.wait(timeout=10)
    _say(f"wrote {args.output} ({args.output.stat().st_size} bytes)", t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
