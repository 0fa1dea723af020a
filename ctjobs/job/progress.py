"""Progress on the command line: a live bar on a terminal, plain lines elsewhere.

The runner reports progress through one callback, ``progress(stage, count)``,
called when a stage (``read``, ``built``, ``rejected``, ``sent``, ``days``) moves
on: a chunk read, a mapping built, a batch answered; `count` is what that piece
added. Whoever knows how much a stage will reach can say so,
``progress(stage, count, total=n)`` or ``progress.set_total(stage, n)``, and the
terminal bar then fills towards it (the runner does for ``sent`` and ``days``).

On a terminal each stage is a live line on stderr: a bar with a percentage and
the time left when its total is known, a spinner with the running count when it
is not. Off a terminal (CI, cron, a pipe) a stage writes a plain line to stderr
when it starts, at most every `min_gap_s` seconds after that, when it reaches its
total and, if its last count was held back, when progress stops; a heartbeat line
appears every `every_s` seconds while nothing else does, so a long stage still
shows it is alive. `quiet` prints nothing.

Example:
    >>> with cli_progress() as progress:
    ...     progress.set_total("read", 6000)
    ...     progress("read", 6000)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: How each stage the runner reports reads in a progress line.
STAGE_LABELS = {
    "read": "rows read",
    "built": "records built",
    "sent": "records sent",
    "rejected": "records rejected",
    "days": "chunks done",
}
#: A stage reported this often without a tick gets a heartbeat line.
EVERY_S = 10.0
#: Off a terminal, the least time between two lines of one stage.
GAP_S = 2.0


class Tick(Protocol):
    """The runner's progress callback, with an optional known total per stage."""

    def __call__(self, stage: str, count: int, total: int | None = None) -> None:
        """Add `count` to `stage`; `total`, when given, is what `stage` will reach."""

    def set_total(self, stage: str, total: int | None) -> None:
        """Say how far `stage` will go (None: not known)."""


def stage_label(stage: str) -> str:
    """The words a progress line uses for `stage` ("rows read" for ``read``)."""
    return STAGE_LABELS.get(stage, stage)


class _Counts:
    """Running counts and known totals per stage, in the order stages appeared."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int | None] = {}
        self.lock = threading.Lock()

    def add(self, stage: str, count: int, total: int | None) -> int:
        with self.lock:
            self.counts[stage] = self.counts.get(stage, 0) + count
            if total is not None:
                self.totals[stage] = total
            return self.counts[stage]

    def set_total(self, stage: str, total: int | None) -> None:
        with self.lock:
            self.counts.setdefault(stage, 0)
            self.totals[stage] = total

    def shown(self, stage: str) -> str:
        count, total = self.counts.get(stage, 0), self.totals.get(stage)
        if total:
            return f"{stage_label(stage)} {count:,} of {total:,} ({count / total:.0%})"
        return f"{stage_label(stage)} {count:,}"


class Silent(_Counts):
    """Counts and shows nothing: ``--quiet`` and ``--json``."""

    def __call__(self, stage: str, count: int, total: int | None = None) -> None:
        self.add(stage, count, total)


class PlainLines(_Counts):
    """One plain line per tick on `stream`, and a heartbeat while nothing ticks."""

    def __init__(
        self, stream: TextIO, *, every_s: float = EVERY_S, min_gap_s: float = GAP_S
    ) -> None:
        super().__init__()
        self.stream = stream
        self.every_s = every_s
        self.min_gap_s = min_gap_s
        self.started = time.monotonic()
        self.last_line = self.started
        self.last_stage: str | None = None
        self._shown: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __call__(self, stage: str, count: int, total: int | None = None) -> None:
        again = stage in self._shown and not count and total is None
        reached = self.add(stage, count, total)
        self.last_stage = stage
        if again:  # a tick that changes nothing already shown is not repeated
            return
        # Batch-by-batch ticks would flood a log: a stage writes a line at most
        # every `min_gap_s`, besides its first and the one that reaches its total.
        _, when = self._shown.get(stage, ("", -float("inf")))
        done = self.totals.get(stage) == reached
        if done or time.monotonic() - when >= self.min_gap_s:
            self._show(stage)

    def _show(self, stage: str) -> None:
        # A count held back in another stage is written first, so the lines keep
        # the order in which things happened.
        for other, (text, _) in list(self._shown.items()):
            if other != stage and text != self.shown(other):
                self._write(other)
        self._write(stage)

    def _write(self, stage: str) -> None:
        text = self.shown(stage)
        self._shown[stage] = (text, time.monotonic())
        self.line(text)

    def line(self, text: str) -> None:
        """Write ``ctjobs: progress at N.Ns: TEXT`` and note when it was written."""
        now = time.monotonic()
        with self.lock:
            self.last_line = now
            self.stream.write(
                f"ctjobs: progress at {now - self.started:.1f}s: {text}\n"
            )
            self.stream.flush()

    def start(self) -> None:
        """Start the heartbeat; `stop` ends it."""
        self._heartbeat = threading.Thread(
            target=self._beat, name="ctjobs-progress", daemon=True
        )
        self._heartbeat.start()

    def stop(self) -> None:
        """End the heartbeat and write each stage's last count if it was held back."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        for stage in list(self.counts):
            if stage in self._shown and self._shown[stage][0] != self.shown(stage):
                self._write(stage)

    def _beat(self) -> None:
        while not self._stop.wait(self._next_beat()):
            if time.monotonic() - self.last_line >= self.every_s:
                after = self.last_stage
                since = f"; {self.shown(after)} so far" if after else ""
                self.line(f"still working{since}")

    def _next_beat(self) -> float:
        return max(self.last_line + self.every_s - time.monotonic(), 0.05)


class LiveBar(_Counts):
    """A rich progress line per stage: a bar when its total is known."""

    def __init__(self, bar: Progress) -> None:
        super().__init__()
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, count: int, total: int | None = None) -> None:
        self.add(stage, count, total)
        self._show(stage)

    def set_total(self, stage: str, total: int | None) -> None:
        super().set_total(stage, total)
        self._show(stage)

    def _show(self, stage: str) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage_label(stage), total=None)
        self.bar.update(
            self.tasks[stage],
            completed=self.counts[stage],
            total=self.totals.get(stage),
            description=f"{stage_label(stage)}: {self.counts[stage]:,}",
        )


@contextmanager
def cli_progress(
    *,
    quiet: bool = False,
    every_s: float = EVERY_S,
    min_gap_s: float = GAP_S,
    stream: TextIO | None = None,
    terminal: bool | None = None,
) -> Iterator[Tick]:
    """A `(stage, count)` callback that shows progress in the best way available.

    Progress goes to `stream` (stderr by default), as a live bar when that is a
    terminal (`terminal` overrides the check) and as plain lines when it is not.
    """
    out = sys.stderr if stream is None else stream
    if quiet:
        yield Silent()
        return
    if not (out.isatty() if terminal is None else terminal):
        plain = PlainLines(out, every_s=every_s, min_gap_s=min_gap_s)
        plain.start()
        try:
            yield plain
        finally:
            plain.stop()
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(file=out, force_terminal=terminal)
    with Progress(*columns, console=console, transient=True) as bar:
        yield LiveBar(bar)
