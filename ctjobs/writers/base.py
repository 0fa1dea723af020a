"""What every writer takes and gives back.

A writer takes encoded record frames (a record frame plus ``_json``, see
`ctjobs.records.frame` and `ctjobs.records.encode`), one kind at a time, and
returns a `WriteResult` that accounts for every record it was given: accepted,
rejected with a reason, or pending for a later run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import polars as pl

from ctjobs.records.frame import empty_rejections

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger


@dataclass
class WriteContext:
    """What a writer needs to know about the run it writes for."""

    job: str
    run_id: str
    ledger: Ledger | None = None
    dry_run: bool = False
    #: Called as ``progress(stage, count)`` when records are answered (``sent``)
    #: or refused (``rejected``); writers that cannot tell as they go leave it be.
    progress: Callable[[str, int], None] | None = None

    def tick(self, stage: str, count: int) -> None:
        """Report `count` more records in `stage`, if anyone is listening."""
        if self.progress is not None and count:
            self.progress(stage, count)


@dataclass
class WriteResult:
    """The outcome of writing one record frame."""

    sent: int = 0
    accepted: int = 0
    rejected: pl.DataFrame = field(default_factory=empty_rejections)
    pending: pl.DataFrame | None = None
    batches: int = 0
    outputs: list[str] = field(default_factory=list)
    files: list[dict[str, object]] = field(default_factory=list)
    retries: int = 0

    @property
    def pending_count(self) -> int:
        """How many records were left pending."""
        return 0 if self.pending is None else self.pending.height

    def merge(self, other: WriteResult) -> WriteResult:
        """Both results added together."""
        pending = [p for p in (self.pending, other.pending) if p is not None]
        return WriteResult(
            sent=self.sent + other.sent,
            accepted=self.accepted + other.accepted,
            rejected=pl.concat([self.rejected, other.rejected], how="vertical_relaxed"),
            pending=pl.concat(pending, how="vertical_relaxed") if pending else None,
            batches=self.batches + other.batches,
            outputs=self.outputs + other.outputs,
            files=self.files + other.files,
            retries=self.retries + other.retries,
        )


class Writer(Protocol):
    """A destination for encoded records."""

    def write(
        self, kind: str, encoded: pl.DataFrame, context: WriteContext
    ) -> WriteResult:
        """Write every record of `encoded` (all of one `kind`) and account for each."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
