"""A job's source, whatever its kind, as one LazyFrame in the normalised shape.

Reading also watches the source's schema (`ctjobs.monitor.watch_source`): columns
added, removed or retyped since the last accepted run are reported and handled by
the job's ``schema_policy`` before anything is sent.

For BigQuery sources the job's leading SQL-expressible transform steps run inside
the query (`steps_after_source` gives the ones left for Polars), and incremental
runs read rows from the stored watermark on; the watermark moves only when the
runner calls `commit_watermark` after the run is accounted for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.monitor.source import frame_schema, watch_source
from ctjobs.readers.exports import open_export
from ctjobs.readers.pushdown import split_pushdown, why_not
from ctjobs.readers.storage import SourceFile
from ctjobs.transforms.steps import dtype_named

if TYPE_CHECKING:
    from ctjobs.job.ledger import Ledger
    from ctjobs.job.spec import JobSpec, Step
    from ctjobs.job.summary import RunSummary
    from ctjobs.readers.bigquery import BigQueryScan

WATERMARK = "bigquery.watermark"
WATERMARK_CANDIDATE = "bigquery.watermark.candidate"

Notes = list[dict[str, Any]]


def read_source(
    spec: JobSpec,
    files: Sequence[SourceFile] | None,
    ledger: Ledger | None = None,
    summary: RunSummary | None = None,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    client: Any = None,
    bqstorage_client: Any = None,
) -> tuple[pl.LazyFrame, Notes]:
    """The job's rows for `files` (or its query), and notes on schema and push-down.

    `date_from`/`date_to` bound a BigQuery source's ``date_column`` (export files
    are already chosen by the caller); `client` and `bqstorage_client` replace
    the BigQuery clients built from the job's ``project`` and ``endpoint``.
    """
    source = spec.source
    dry_run = summary.dry_run if summary is not None else True
    # A backfill reads the range it names, whatever the incremental position.
    backfill = summary is not None and summary.mode == "backfill"
    if source.kind == "export":
        frame, notes, schema = _read_export(spec, files)
    elif source.kind == "bigquery":
        scan = _scan_bigquery(
            spec,
            None if backfill else ledger,
            date_from,
            date_to,
            client,
            bqstorage_client,
            dry_run,
        )
        frame, notes, schema = scan.frame, [_pushdown_note(spec, scan)], scan.schema
    elif source.kind == "webhook":
        from ctjobs.webhook import scan_landed_profiles

        frame = scan_landed_profiles(source.paths[0])
        notes, schema = [], frame_schema(frame)
    else:
        raise UsageError(f"source kind {source.kind!r} is not available in this build")
    if ledger is None:
        return frame, notes
    run_id = summary.run_id if summary is not None else ""
    frame, changes = watch_source(
        spec, ledger, frame, schema, run_id=run_id, dry_run=dry_run
    )
    return frame, notes + changes


def steps_after_source(spec: JobSpec) -> list[Step]:
    """The job's transform steps still to run in Polars after `read_source`.

    Example:
        >>> apply_steps(frame, steps_after_source(spec), spec.base_dir)
    """
    if spec.source.kind != "bigquery":
        return list(spec.transforms)
    return split_pushdown(spec.transforms)[1]


def _read_export(
    spec: JobSpec, files: Sequence[SourceFile] | None
) -> tuple[pl.LazyFrame, Notes, dict[str, str]]:
    source = spec.source
    overrides = {c: dtype_named(t) for c, t in source.schema_overrides.items()}
    scan = open_export(
        source.paths,
        format=source.format,
        timezone=source.timezone,
        schema_overrides=overrides,
        widening=source.widening,
        storage_options=source.storage_options,
        files=files,
    )
    notes: Notes = [{"kind": "widened", "message": c} for c in scan.conflicts]
    return scan.frame, notes, frame_schema(scan.frame)


def _scan_bigquery(
    spec: JobSpec,
    ledger: Ledger | None,
    date_from: date | None,
    date_to: date | None,
    client: Any,
    bqstorage_client: Any,
    dry_run: bool,
) -> BigQueryScan:
    """Read the job's table or query, with push-down and the incremental bound."""
    from ctjobs.readers.bigquery import open_bigquery, timestamp_bound

    source = spec.source
    since = None
    if source.incremental:
        if not source.date_column:
            message = "source: an incremental BigQuery source needs `date_column`"
            raise UsageError(message)
        stored = ledger.position(WATERMARK) if ledger is not None else None
        since = timestamp_bound(stored, source.lookback_hours)
    scan = open_bigquery(
        str(source.table or source.query),
        client=client,
        bqstorage_client=bqstorage_client,
        project=source.project,
        endpoint=source.endpoint,
        date_column=source.date_column,
        date_from=date_from,
        date_to=date_to,
        since=since,
        steps=split_pushdown(spec.transforms)[0],
        # Rows re-read in the look-back window must keep their keys, so the ledger
        # recognises them as sent: incremental reads key rows by content.
        row_ids="content" if source.incremental else "number",
    )
    if source.incremental and ledger is not None and not dry_run:
        ledger.set_position(WATERMARK_CANDIDATE, _newest(scan, str(source.date_column)))
    return scan


_PLACEHOLDER_YEAR = 9999


def _newest(scan: BigQueryScan, column: str) -> str:
    """The latest value of the date column read, as ISO text ('' when no rows)."""
    if column not in scan.frame.collect_schema().names():
        message = (
            f"BigQuery {scan.source}: the transforms run in BigQuery drop the date "
            f"column {column!r}, which incremental runs need to move their watermark"
        )
        raise UsageError(message)
    # Year-9999 placeholders (BigQuery's "no date") would stop every later read.
    real = pl.col(column).filter(pl.col(column).dt.year() < _PLACEHOLDER_YEAR)
    newest = scan.frame.select(real.max()).collect().item()
    if isinstance(newest, datetime | date):
        return newest.isoformat()
    return ""


def commit_watermark(ledger: Ledger) -> str | None:
    """Move the BigQuery watermark to the newest row of the run just accounted for.

    Call it only once every record of the run was acknowledged, rejected or stored
    as pending; a run that failed before leaves the watermark where it was.
    """
    candidate = ledger.position(WATERMARK_CANDIDATE)
    if not candidate:
        return ledger.position(WATERMARK)
    current = ledger.position(WATERMARK)
    if current is None or _instant(candidate) > _instant(current):
        ledger.set_position(WATERMARK, candidate)
        current = candidate
    ledger.set_position(WATERMARK_CANDIDATE, "")
    return current


def _instant(text: str) -> datetime:
    from ctjobs.readers.bigquery import timestamp_bound

    moment = timestamp_bound(text, 0)
    assert moment is not None
    return moment


def _pushdown_note(spec: JobSpec, scan: BigQueryScan) -> dict[str, Any]:
    """Which transform steps ran in BigQuery and which are left for Polars."""
    steps = spec.transforms
    pushed = [f"{n} ({s.step})" for n, s in enumerate(steps[: scan.pushed], start=1)]
    rest = [
        f"{n} ({s.step})"
        for n, s in enumerate(steps[scan.pushed :], start=scan.pushed + 1)
    ]
    parts = [
        f"steps {', '.join(pushed)} ran in BigQuery"
        if pushed
        else "no step ran in BigQuery"
    ]
    if rest:
        reason = why_not(steps[scan.pushed])
        parts.append(f"steps {', '.join(rest)} run in Polars ({reason})")
    return {
        "kind": "pushdown",
        "message": "; ".join(parts),
        "steps": scan.pushed,
        "sql": scan.sql,
    }
