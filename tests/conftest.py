"""Shared pytest fixtures: the session-wide namespace lab of real babeld daemons.

``lab`` is one :class:`meshtui.lab.Lab` (2 sites, 2 relays, hello 0.5 s) shared
by every test that asks for it; it is built once, converged, and always torn
down (also on failure, Ctrl-C or SIGTERM). Tests that break something must
restore it (``lab.heal_relay``, ``lab.start_babeld``, ``lab.roam`` back) or use
``healthy_lab``, which repairs any leftover fault and waits for convergence
before the test. Where the lab cannot run (not root, babeld or ``ip netns``
missing) these fixtures skip with the reason.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import pytest

LAB_HELLO = 0.5


def _lab_unavailable() -> str | None:
    from meshtui.lab import lab_unavailable

    return lab_unavailable()


def _sigterm_as_interrupt() -> None:
    """Let SIGTERM unwind like Ctrl-C, so fixture teardown still removes the lab."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with contextlib.suppress(ValueError):  # not the main thread
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="session")
def lab_available() -> None:
    """Skip unless a lab can run here: root, babeld and `ip netns`.

    Other missing tools (wireguard-go, sshd, nft) are not a reason to skip:
    the lab fails to come up and says which one is missing.
    """
    reason = _lab_unavailable()
    if reason:
        pytest.skip(f"namespace lab unavailable: {reason}")


@pytest.fixture(scope="session")
def lab(lab_available: None) -> Iterator[object]:
    """The shared lab (hello 0.5 s), up and converged (edges via relay-1)."""
    from meshtui.lab import Lab, clean_stale

    clean_stale()  # labs left behind by killed test runs
    _sigterm_as_interrupt()
    instance = Lab(sites=2, relays=2, servers_per_site=1, hello=LAB_HELLO)
    try:
        instance.up(wait=True, timeout=120)
        yield instance
    finally:
        instance.down()


@pytest.fixture
def healthy_lab(lab: object) -> object:
    """The shared lab after undoing any fault a previous test left, converged again."""
    lab.reset(timeout=120)  # type: ignore[attr-defined]
    return lab
