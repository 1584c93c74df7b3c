"""`CalmCollector`: Python's full garbage collections at calm moments, not in the middle of a storm.

A full (generation 2) collection walks every tracked object and holds the
GIL meanwhile: with 5,000 routes on screen that is 150–450 ms during which
neither the UI nor the socket pump runs — long enough for babeld, whose
writes then block, to cut the dashboard off. So while the dashboard runs:

* automatic full collections are off (the young generations still run);
* a full collection runs when the node is calm (few lines per second, no
  backlog), at most every :data:`CALM_EVERY` seconds, and then everything that
  survived is frozen (``gc.freeze``) so that later collections skip it;
* during an endless storm one runs anyway every :data:`FORCE_EVERY` seconds.

While a session loads a dump, collections are paused (:func:`hold_collections`;
counted, sessions overlap). When the last hold ends and the calm collector
runs, what the dumps built is frozen with the other survivors
(:func:`release_collections`).

Each calm collection first unfreezes, so garbage that was frozen alive and
died since is collected then, and then hands the C allocator's free pages
back to the system (``malloc_trim``, glibc only): without it a burst — a
resync, a storm, the first look at each view — keeps the process's RSS at
its high-water mark for the rest of a days-long session. Settings are
restored when the app exits.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

CALM_EVERY = 30.0
FORCE_EVERY = 600.0
CALM_RATE = 500.0  # lines per second below which a node counts as calm
NO_AUTO_FULL = 1_000_000  # gen-2 threshold that keeps automatic full collections away

_holds = 0
_was_enabled = False
_freezing = False  # a CalmCollector runs: survivors are frozen


def hold_collections() -> None:
    """Pause the cyclic garbage collector while a dump loads; counted, sessions overlap.

    A dump makes 10,000s of objects that are no garbage: the collections they
    trigger would traverse every model in the process for nothing (a third of
    a 30,000-route resync). Reference counting still frees what dies.
    """
    global _holds, _was_enabled  # noqa: PLW0603
    if _holds == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _holds += 1


def release_collections() -> None:
    """End a hold; the last one turns the collector back on.

    In a process whose calm collector runs, what the dumps built is frozen
    with the other survivors: it is long-lived, and otherwise the first young
    collection after the hold walks all of it (3 ms for 10,000 routes, 10 ms
    for 30,000). The next calm collection unfreezes and collects it as usual.
    (A flag, not ``gc.get_freeze_count()``: that walks every frozen object.)
    """
    global _holds  # noqa: PLW0603
    _holds -= 1
    if _holds == 0:
        if _freezing:
            gc.freeze()
        if _was_enabled:
            gc.enable()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere)."""
    try:  # the process's own symbols (libc's among them); not ctypes.util: it runs programs
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


MALLOC_TRIM = _malloc_trim()


@dataclass
class CollectorStats:
    """What the collector did (for the storm benchmark)."""

    collections: int = 0
    forced: int = 0
    longest: float = 0.0


class CalmCollector:
    """Runs full collections when the dashboard is calm; see the module docstring."""

    def __init__(self) -> None:
        self.stats = CollectorStats()
        self._saved: tuple[int, int, int] | None = None
        self._last = 0.0
        self._lines = 0
        self._lines_at = 0.0

    def start(self) -> None:
        """Take over: collect and freeze what exists, and turn automatic full collections off."""
        if self._saved is not None:
            return
        global _freezing  # noqa: PLW0603
        self._saved = gc.get_threshold()
        self._collect()
        first, second, _ = self._saved
        gc.set_threshold(first, second, NO_AUTO_FULL)
        _freezing = True

    def stop(self) -> None:
        """Give the interpreter its settings back (and the frozen objects to the collector)."""
        global _freezing  # noqa: PLW0603
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        self._saved = None
        _freezing = False
        gc.unfreeze()

    def tick(self, lines: int, backlog: int) -> bool:
        """Called a few times a second with the lines read so far; True when it collected."""
        if self._saved is None:
            return False
        now = time.monotonic()
        elapsed = now - self._lines_at
        rate = (lines - self._lines) / elapsed if elapsed > 0 else 0.0
        if elapsed >= 2.0:
            self._lines, self._lines_at = lines, now
        since = now - self._last
        calm = rate < CALM_RATE and backlog == 0
        if (calm and since >= CALM_EVERY) or since >= FORCE_EVERY:
            if not calm:
                self.stats.forced += 1
            self._collect()
            return True
        return False

    def _collect(self) -> None:
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        if MALLOC_TRIM is not None:
            MALLOC_TRIM(0)
        spent = time.perf_counter() - started
        self.stats.collections += 1
        self.stats.longest = max(self.stats.longest, spent)
        self._last = time.monotonic()
