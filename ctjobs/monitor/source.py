"""Watching the source: columns added, removed or retyped since the accepted run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from ctjobs.monitor.policy import Change, compare, enforce, policy_for
from ctjobs.records.frame import PROVENANCE

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import JobSpec

SCOPE = "source"
ACCEPT_NEXT = "accept_next"


def frame_schema(frame: pl.LazyFrame) -> dict[str, str]:
    """Column name → type as text, leaving out the provenance columns."""
    schema = frame.collect_schema()
    return {
        name: str(dtype) for name, dtype in schema.items() if name not in PROVENANCE
    }


def watch_source(
    spec: JobSpec,
    ledger: Ledger,
    frame: pl.LazyFrame,
    schema: Mapping[str, str],
    *,
    run_id: str,
    dry_run: bool,
) -> tuple[pl.LazyFrame, list[dict[str, Any]]]:
    """Apply the job's schema policy to what the source looks like in this run.

    `schema` is the source's columns as text (before any transform). Returns the
    frame without discarded columns, and one note per change. The snapshot is
    saved only for runs that send (not for dry runs), and never for a freeze.
    """
    snapshot = ledger.snapshot(SCOPE)
    if snapshot is None or snapshot.get(ACCEPT_NEXT):
        _save(ledger, dict(schema), run_id, dry_run)
        return frame, []
    before: dict[str, str] = snapshot.get("columns", {})
    changes = [
        Change(kind, name, old, new, policy_for(spec, kind), "column")
        for kind, name, old, new in compare(before, schema)
    ]
    enforce(changes, spec.name, "run `ctjobs schema accept <job file>`")
    dropped = [
        c.column for c in changes if c.policy == "discard" and c.kind != "removed"
    ]
    present = set(frame.collect_schema().names())
    frame = frame.drop([c for c in dropped if c in present])
    _save(ledger, _accepted(before, schema, changes), run_id, dry_run)
    return frame, [
        c.note(" (left out)" if c.column in dropped else "") for c in changes
    ]


def _accepted(
    before: Mapping[str, str], now: Mapping[str, str], changes: list[Change]
) -> dict[str, str]:
    """The new snapshot: what this run sees, less what was discarded."""
    accepted = dict(now)
    for change in changes:
        if change.policy != "discard" or change.kind == "removed":
            continue
        if change.kind == "added":
            accepted.pop(change.column, None)
        else:
            accepted[change.column] = before[change.column]
    return accepted


def _save(ledger: Ledger, columns: dict[str, str], run_id: str, dry_run: bool) -> None:
    if not dry_run:
        ledger.save_snapshot(SCOPE, {"columns": columns}, run_id)
