"""Failover foresight: babeld's timing rules, expected detection times, and why a route waits.

babeld (1.12, checked in the lab) declares a neighbour's link cost infinite
once 2 of its last 3 Hellos are missed, a Hello counting as missed 1.7
intervals after the previous one: 2.7 hello intervals after the last Hello
heard at the earliest. It counts misses only when its neighbour check runs,
every 1.5 of its shortest hello interval (jittered by +-25 %), so the cost goes
infinite at the first check after that: 0.75 hello intervals later on
average, 1.875 at most. Its routes are then retracted, and the standby is
installed once it is feasible, typically within a second (a seqno request
round trip). A neighbour is dropped after 16 missed Hellos or 300 s.

Route selection uses a *smoothed* metric (half-life 4 s by default) that
babeld does not report; a route that comes back after being retracted starts
from infinity and needs about ``half_life * log2((65535 - m) / (m_sel - m))``
seconds to win over a selected route of metric ``m_sel``. A better route that
waits longer than that is held back by the feasibility condition (its seqno).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meshtui.core.protocol import INFINITY

MISS_AFTER = 1.7  # a Hello counts as missed this many intervals after the previous one
COST_INFINITE_AFTER = MISS_AFTER + 1.0  # the second of 2-of-3 misses
DROP_AFTER_MISSES = 16
DROP_AFTER_SECONDS = 300.0
DEFAULT_HALF_LIFE = 4.0
SLOW_DETECTION = 30.0  # seconds: past this, an outage is a black hole worth flagging
SILENCE_FACTOR = 1.5  # no Hello for this many intervals (jitter reaches 1.25): degrading
EARLY_SILENCE_FACTOR = 1.75  # the same while the interval is learned from few Hellos
FIRST_GAPS = 2  # Hello spacings (three Hellos) for a first estimate of the interval
SETTLED_GAPS = 8  # spacings after which the estimate is trusted to SILENCE_FACTOR
CHECK_FACTOR = 1.5  # babeld's neighbour check runs every ~1.5 shortest hello intervals
CHECK_MEAN_WAIT = 0.5  # mean wait for the next check, in check intervals
CHECK_MAX_WAIT = 1.25  # longest wait: the check timer is jittered to 0.75-1.25 of it


@dataclass(frozen=True, slots=True)
class Detection:
    """How long babeld takes to notice a silent neighbour on one interface.

    Attributes:
        hello: the hello interval (s).
        cost_infinite: seconds from the last Hello heard to the earliest moment
            babeld can declare the neighbour's cost infinite (2.7 intervals).
        expected: when it typically does (routes retracted, failover starts):
            at its next neighbour check after ``cost_infinite``.
        latest: the latest it does.
        first_sign: seconds from the last Hello heard to the first missed Hello
            (``reach`` loses its top bit): meshtui's earliest warning.
        dropped: seconds until babeld forgets the neighbour.
        slow: the detection is long enough to black-hole traffic for long.
    """

    hello: float
    cost_infinite: float
    expected: float
    latest: float
    first_sign: float
    dropped: float
    slow: bool

    def describe(self) -> str:
        """One line for the views."""
        text = (
            f"lost after ~{format_seconds(self.expected)} "
            f"({format_seconds(self.cost_infinite)}-{format_seconds(self.latest)}; "
            f"hello {self.hello:g} s)"
        )
        return text + " - slow: traffic black-holed meanwhile" if self.slow else text


def detection_time(hello: float, shortest: float | None = None) -> Detection:
    """babeld's detection times for a neighbour with this hello interval.

    Args:
        hello: the neighbour's hello interval (s).
        shortest: the node's shortest hello interval, which paces babeld's
            neighbour checks (default: ``hello``).
    """
    check = CHECK_FACTOR * (hello if shortest is None else min(shortest, hello))
    cost_inf = COST_INFINITE_AFTER * hello
    expected = cost_inf + CHECK_MEAN_WAIT * check
    return Detection(
        hello=hello,
        cost_infinite=cost_inf,
        expected=expected,
        latest=cost_inf + CHECK_MAX_WAIT * check,
        first_sign=MISS_AFTER * hello,
        dropped=min(DROP_AFTER_MISSES * hello, DROP_AFTER_SECONDS),
        slow=expected > SLOW_DETECTION,
    )


def silence_allowed(hello: float, gaps: int) -> float:
    """Seconds without a Hello before a neighbour is called degrading.

    babeld jitters its Hellos to 0.75-1.25 intervals, so ``SILENCE_FACTOR``
    intervals of silence mean a missed Hello, well before babeld's own count
    shows it (1.7 intervals, at its next neighbour check) and its switch (2.7
    intervals, at the check after). An interval learned from only a few
    spacings (``gaps``) may be ~15 % short: the allowance is wider until
    ``SETTLED_GAPS`` spacings are known.
    """
    factor = SILENCE_FACTOR if gaps >= SETTLED_GAPS else EARLY_SILENCE_FACTOR
    return factor * hello


def format_seconds(seconds: float) -> str:
    """``850 ms``, ``2.7 s``, ``2 min 42 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def smoothing_delay(
    metric: int, selected_metric: int, half_life: float = DEFAULT_HALF_LIFE
) -> float:
    """Worst-case seconds for a route of ``metric`` returning from infinity to win.

    Its smoothed metric decays from 65535 towards ``metric`` with the given
    half-life and must fall below ``selected_metric``.
    """
    if metric >= selected_metric:
        return math.inf
    return half_life * math.log2((INFINITY - metric) / (selected_metric - metric))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why babeld keeps a route although another one has a lower metric.

    Attributes:
        reason: ``smoothing`` (still within what the smoothed metric explains)
            or ``feasibility`` (longer than smoothing explains).
        better_for: seconds the waiting route has been better.
        smoothing_bound: seconds smoothing can explain at most.
        text: words the operator can act on.
    """

    reason: str
    better_for: float
    smoothing_bound: float
    text: str


def explain_pending(
    metric: int,
    selected_metric: int,
    better_for: float,
    half_life: float = DEFAULT_HALF_LIFE,
) -> Explanation:
    """Explain a better route that babeld has not installed (yet)."""
    bound = smoothing_delay(metric, selected_metric, half_life)
    if better_for <= bound:
        left = bound - better_for
        text = (
            f"better by {selected_metric - metric} for {format_seconds(better_for)}; babeld "
            f"selects on a smoothed metric (half-life {half_life:g} s), which explains up to "
            f"~{format_seconds(bound)}: expect the switch within ~{format_seconds(left)}"
        )
        return Explanation("smoothing", better_for, bound, text)
    text = (
        f"better by {selected_metric - metric} for {format_seconds(better_for)}, longer than "
        f"smoothing explains (~{format_seconds(bound)}): babeld's feasibility condition is the "
        "likely reason (the route's seqno is older than what babeld has seen). `kill -USR1` "
        "babeld to dump seqnos and feasibility distances to its log"
    )
    return Explanation("feasibility", better_for, bound, text)
