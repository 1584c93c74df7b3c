"""The hub starts the Interfaces view's probes with the worker runner it was started with."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from meshtui.transport.sources import local_source
from meshtui.ui.hub import NodeHub


class Runner:
    """Stands in for the app's ``run_worker``: notes each worker, runs none."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, work: Any, **options: Any) -> None:
        if inspect.iscoroutine(work):
            work.close()
        self.started.append((options["name"], options))


def test_a_probe_runs_in_the_worker_runner_the_hub_was_started_with(tmp_path: Path) -> None:
    hub = NodeHub.for_sources([local_source(str(tmp_path / "babeld.sock"), name="edge-a")])
    feed = hub.feeds[0]
    assert feed.is_local
    hub.maybe_probe(feed)  # not started: no app to run it, nothing happens (and no error)
    runner = Runner()
    hub.start(runner)
    hub.maybe_probe(feed)
    hub.maybe_probe(feed)  # already probing: not a second probe
    probes = [(name, options) for name, options in runner.started if name.startswith("probe:")]
    assert [name for name, _ in probes] == ["probe:edge-a"]
    assert probes[0][1]["thread"] is True  # the kernel probe blocks: a thread worker
