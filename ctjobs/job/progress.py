"""Progress on the command line: a live bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

log = logging.getLogger("ctjobs.progress")

Tick = Callable[[str, int], None]


@contextmanager
def cli_progress(*, quiet: bool = False, every_s: float = 10.0) -> Iterator[Tick]:
    """A `(stage, count)` callback that shows progress in the best way available."""
    if quiet:
        yield lambda stage, count: None
        return
    if not sys.stderr.isatty():
        totals: dict[str, int] = {}
        last = [time.monotonic()]

        def plain(stage: str, count: int) -> None:
            totals[stage] = totals.get(stage, 0) + count
            if time.monotonic() - last[0] >= every_s:
                last[0] = time.monotonic()
                log.warning(
                    "progress: %s", ", ".join(f"{k} {v}" for k, v in totals.items())
                )

        yield plain
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        tasks: dict[str, TaskID] = {}
        totals = {}

        def live(stage: str, count: int) -> None:
            totals[stage] = totals.get(stage, 0) + count
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=None)
            bar.update(tasks[stage], description=f"{stage}: {totals[stage]:,}")

        yield live
