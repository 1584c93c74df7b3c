"""Shared pytest fixtures: the session-wide namespace lab of real babeld daemons.

``lab`` is one :class:`meshtui.lab.Lab` (2 sites, 2 relays, hello 0.5 s) shared
by every test that asks for it; it is built once, converged, and always torn
down (also on failure, Ctrl-C or SIGTERM). Tests that break something must
restore it (``lab.heal_relay``, ``lab.start_babeld``, ``lab.roam`` back) or use
``healthy_lab``, which repairs any leftover fault and waits for convergence
before the test. Where the lab cannot run (not root, babeld or ``ip netns``
missing) these fixtures skip with the reason.

Every babeld release operators run: ``babeld_release`` is parametrized over
:data:`BABELD_RELEASES` (Debian's 1.12.1 in /usr/sbin; 1.13.1 and 1.14 built by
``.ci/run`` — or here, on first use — from ``../shared/vendor/babeld`` into
``.cache/babeld/``) and skips, with the reason, a release that is not available;
``release_lab`` is a lab per release (the shared ``lab`` for the one it runs). To run
every lab test on another release: ``MESHTUI_LAB_BABELD=1.14 pytest ...``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LAB_HELLO = 0.5
REPO = Path(__file__).resolve().parent.parent
BABELD_VENDOR = REPO.parent / "shared" / "vendor" / "babeld"  # CI: shared/ beside the clone
BABELD_CACHE = REPO / ".cache" / "babeld"
DEBIAN_BABELD = "1.12.1"
BABELD_RELEASES = (DEBIAN_BABELD, "1.13.1", "1.14")
LAB_BABELD_ENV = "MESHTUI_LAB_BABELD"  # run the whole lab suite on another release


@dataclass(frozen=True)
class BabeldRelease:
    """One babeld release that can run here: its version and its binary."""

    version: str
    path: str


@functools.cache
def find_babeld(version: str) -> BabeldRelease | str:
    """The release ``version`` of babeld, built first if need be; else why it is missing."""
    if version == DEBIAN_BABELD:
        path = shutil.which("babeld", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
        if path is None:
            return "babeld is not installed (Debian 12's package is 1.12.1)"
    else:
        path = str(BABELD_CACHE / f"babeld-{version}" / "babeld")
        if not os.access(path, os.X_OK):
            build = BABELD_VENDOR / "build.sh"
            if not build.is_file():
                return f"not built in {BABELD_CACHE} and no sources in {BABELD_VENDOR}"
            if shutil.which("gcc") is None or shutil.which("make") is None:
                return f"no C compiler (gcc, make) to build it from {BABELD_VENDOR}"
            res = subprocess.run(
                ["bash", str(build), version, str(BABELD_CACHE)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if res.returncode != 0:
                return f"{build} {version} failed: {res.stderr.strip()[-300:]}"
    said = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10)
    text = (said.stdout + said.stderr).strip()
    if text != f"babeld-{version}":
        return f"{path} says {text[:60]!r}, not babeld-{version}"
    return BabeldRelease(version, path)


def _release(version: str) -> BabeldRelease:
    found = find_babeld(version)
    if isinstance(found, str):
        pytest.skip(f"babeld {version} unavailable: {found}")
    return found


@pytest.fixture(scope="session", params=BABELD_RELEASES)
def babeld_release(request: pytest.FixtureRequest) -> BabeldRelease:
    """Each babeld release operators run, in turn (skips one that is unavailable)."""
    return _release(request.param)


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
    wanted = os.environ.get(LAB_BABELD_ENV)
    babeld = _release(_known(wanted)).path if wanted else "babeld"
    instance = Lab(sites=2, relays=2, servers_per_site=1, hello=LAB_HELLO, babeld=babeld)
    try:
        instance.up(wait=True, timeout=120)
        yield instance
    finally:
        instance.down()


def _known(version: str) -> str:
    if version not in BABELD_RELEASES:
        pytest.exit(f"{LAB_BABELD_ENV}={version}: not one of {', '.join(BABELD_RELEASES)}", 2)
    return version


@pytest.fixture
def healthy_lab(lab: object) -> object:
    """The shared lab after undoing any fault a previous test left, converged again."""
    lab.reset(timeout=120)  # type: ignore[attr-defined]
    return lab


async def until(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    """Poll ``predicate`` (bounded) until it returns something true; that is returned."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Healed:
    """edge-a's session after relay-1 failed (srv-b1 moved to relay-2) and was healed."""

    lab: object
    source: object
    session: object
    events: list
    target: str  # srv-b1's /128

    until = staticmethod(until)


@pytest.fixture
async def healed_after_failover(healthy_lab: object):  # noqa: ANN201
    """edge-a watched through a silent outage of relay-1 and its heal.

    Right after the heal relay-1's route is the better one again, yet babeld keeps
    relay-2 for a while (smoothing, then feasibility). The session is stopped and
    relay-1 healed afterwards, also when the test fails.
    """
    import asyncio

    from meshtui.core.events import EventType
    from meshtui.transport.sources import local_source

    lab = healthy_lab
    events: list = []
    source = local_source(lab.socket_path("edge-a"), name="edge-a")  # type: ignore[attr-defined]
    session = source.session(on_events=lambda _n, evs: events.extend(evs))
    runner = asyncio.create_task(session.run())
    target = f"{lab.address('srv-b1')}/128"  # type: ignore[attr-defined]
    try:
        assert await session.wait_live(15)
        await asyncio.to_thread(lab.fail_relay, "relay-1")  # type: ignore[attr-defined]
        try:
            await until(
                lambda: any(e.type is EventType.FAILOVER and e.prefix == target for e in events),
                30,
                "the failover to relay-2",
            )
        finally:
            await asyncio.to_thread(lab.heal_relay, "relay-1")  # type: ignore[attr-defined]
        yield Healed(lab, source, session, events, target)
    finally:
        await session.stop()
        await runner
        if lab.relay_failed("relay-1"):  # type: ignore[attr-defined]
            lab.heal_relay("relay-1")  # type: ignore[attr-defined]


@pytest.fixture(scope="module", params=BABELD_RELEASES)
def _lab_of_release(request: pytest.FixtureRequest, lab_available: None) -> Iterator[object]:
    """A lab whose nodes run one babeld release (the shared lab when it runs that one).

    Module scope: another release's lab lives only while one test module uses it.
    """
    release = _release(request.param)
    shared = request.getfixturevalue("lab")
    if shared.babeld_version == f"babeld-{release.version}":  # type: ignore[attr-defined]
        _check_runs(shared, release)
        yield shared
        return
    from meshtui.lab import Lab, clean_stale

    clean_stale()
    _sigterm_as_interrupt()
    instance = Lab(sites=2, relays=2, servers_per_site=1, hello=LAB_HELLO, babeld=release.path)
    try:
        instance.up(wait=True, timeout=120)
        _check_runs(instance, release)
        yield instance
    finally:
        instance.down()


def _check_runs(lab: object, release: BabeldRelease) -> None:
    """Every node's babeld greets as ``release``: the tests below do test that release."""
    greeted = {n: lab.dump(n).node.version for n in lab.nodes}  # type: ignore[attr-defined]
    wrong = {n: v for n, v in greeted.items() if v != f"babeld-{release.version}"}
    assert not wrong, f"lab {lab!r} should run babeld {release.version}: {wrong}"


@pytest.fixture
def release_lab(_lab_of_release: object) -> object:
    """Like ``healthy_lab``, once per babeld release (``test_x[1.14]``)."""
    _lab_of_release.reset(timeout=120)  # type: ignore[attr-defined]
    return _lab_of_release
