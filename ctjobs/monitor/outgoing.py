"""Watching what a job sends: event names and property types, run over run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import JobSpec, RecordSpec


def watch_outgoing(
    spec: JobSpec,
    ledger: Ledger,
    run_id: str,
    built: Sequence[tuple[RecordSpec, pl.DataFrame]],
    dry_run: bool,
) -> list[dict[str, Any]]:
    """Notes on changes in outgoing event names and property types (none yet)."""
    return []
