"""The journal holds a fixed memory budget, whatever the mesh does (issue 17).

Measured with tracemalloc (bytes allocated, not time): a journal filled past
every cap holds no more than :data:`meshtui.ui.journal.BUDGET_BYTES`, and one
entry of each kind no more than :data:`~meshtui.ui.journal.ENTRY_BYTES` says.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

from meshtui.core.events import Event, EventType, PathRef
from meshtui.core.model import NodeModel
from meshtui.transport.held import demo_recording
from meshtui.transport.replay import load_recording
from meshtui.ui.journal import (
    BUDGET_BYTES,
    ENTRY_BYTES,
    HISTORY_ENTRIES,
    LOG_SIZE,
    RAW_SIZE,
    TIMELINE_SIZE,
    NodeJournal,
)

RELAYS = [PathRef(f"fe80::ff:{n}", f"w02ef0bea{n}", 96 * n, f"02:00:00:00:00:00:ff:{n:02x}")
          for n in (1, 2, 3)]  # fmt: skip


def storm(count: int, destinations: int) -> Iterator[Event]:
    """Failovers back and forth on many destinations, with prefixes as long as they come."""
    for i in range(count):
        from_, to = RELAYS[i % 3], RELAYS[(i + 1) % 3]
        prefix = f"fd31:1b9e:30be:{i % destinations:x}::1:1/128"
        extra = {"lead_time": 1.5, "detection_time": 2.25, "gap": 0.5}
        yield Event(EventType.FAILOVER, 1000.0 + i, prefix=prefix, from_=from_, to=to, extra=extra)


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_a_journal_past_every_cap_holds_its_budget() -> None:
    model = NodeModel()
    tracemalloc.start()
    try:
        journal = NodeJournal("edge-a")
        events = list(storm(LOG_SIZE + 2_000, destinations=HISTORY_ENTRIES * 2))
        for start in range(0, len(events), 100):
            journal.ingest(events[start : start + 100], model)
        del events
        for i in range(RAW_SIZE + 1_000):  # as from the socket: every line its own string
            line = f"change route 5600{i:08x} prefix fd31:1b9e:30be:{i:x}::1:1/128 from ::/0 "
            journal.note_raw(
                2000.0 + i, line + "installed yes id 02:00:00:00:00:00:ff:01 metric 96"
            )
        counts = (len(journal.log), journal.dropped, len(journal.raw), journal.raw_dropped)
        timeline = (len(journal.timeline), journal.timeline_dropped)
        history = (journal.history_kept, sum(map(len, journal.history.values())))
        destinations = (len(journal.history), journal.histories_dropped)
        history_dropped = journal.history_dropped
        with_journal = traced()
        del journal  # what goes with it is what it held (whatever else the process allocated)
        held = with_journal - traced()
    finally:
        tracemalloc.stop()
    assert counts == (LOG_SIZE, 2_000, RAW_SIZE, 1_000)
    assert timeline == (TIMELINE_SIZE, LOG_SIZE + 1_500)
    assert history == (HISTORY_ENTRIES, HISTORY_ENTRIES)
    # one entry each (every failover on a new destination): the entries' cap bounds them too
    assert destinations == (HISTORY_ENTRIES, LOG_SIZE + 2_000 - HISTORY_ENTRIES)
    assert history_dropped == LOG_SIZE + 2_000 - HISTORY_ENTRIES
    assert held <= BUDGET_BYTES, f"{held / 1e6:.2f} MB held, budget {BUDGET_BYTES / 1e6:.2f} MB"


def demo_events(loops: int) -> list[tuple[list[Event], NodeModel, float, str]]:
    """The demo recording's events and lines, looped (a reconnect each time)."""
    lines = [item for segment in load_recording(demo_recording()) for item in segment.lines]
    duration = lines[-1][0] + 1
    out: list[tuple[list[Event], NodeModel, float, str]] = []
    for k in range(loops):
        model = NodeModel()
        for offset, line in lines:
            now = k * duration + offset
            model.feed(line, now)
            out.append((model.commit(now), model, now, line))
    return out


def test_an_entry_costs_what_the_budget_says() -> None:
    batches = demo_events(12)
    journal = NodeJournal("edge-a", log_size=10**6, raw_size=10**6, timeline_size=10**6,
                          history_entries=10**6)  # fmt: skip
    tracemalloc.start()
    try:
        for events, model, _, _ in batches:
            if events:
                journal.ingest(events, model)
        del events
        for _, _, now, line in batches:
            journal.note_raw(now, line[:1] + line[1:])  # a copy: the socket's string
        raw_lines = list(journal.raw)
        journal.raw.clear()
        with_log = traced()
        del raw_lines
        without_raw = traced()
        log_entries = len(journal.log)
        del journal
        per_entry = (without_raw - traced()) / log_entries
        per_line = (with_log - without_raw) / len(batches)
    finally:
        tracemalloc.stop()
    assert log_entries > 200
    # every log entry with its share of the timeline and history entries
    assert per_entry <= ENTRY_BYTES["log"], f"{per_entry:.0f} B per log entry"
    assert per_line <= ENTRY_BYTES["raw"], f"{per_line:.0f} B per raw line"
