"""Reading past runs back from the ledger: lists, one run in detail."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.job.ledger import Ledger
from ctjobs.job.runner import home
from ctjobs.job.summary import RunSummary, reason_key
from ctjobs.report.html import scrub_data, scrub_frame

_COUNTS = ("built", "rejected_preflight", "sent", "accepted", "rejected", "pending")
# `ctjobs show` prints this many rejected records for each reason.
EXAMPLES_PER_REASON = 3


def _ledger(path: str | Path | None = None) -> Ledger:
    return Ledger(Path(path) if path else home() / "ledger.sqlite", job="")


def history_frame(
    job: str | None = None, *, ledger: str | Path | None = None
) -> pl.DataFrame:
    """Every run as a frame, newest first, with its totals as columns.

    Example:
        >>> ct.history_frame("sample-round-trip").select("run_id", "status", "sent")
    """
    store = _ledger(ledger)
    try:
        runs = store.runs(job)
    finally:
        store.close()
    rows = []
    for row in runs.iter_rows(named=True):
        data = json.loads(row["summary"]) if row["summary"] else {}
        totals = data.get("totals", {})
        rows.append(
            {
                "run_id": row["run_id"],
                "job": row["job"],
                "mode": row["mode"],
                "dry_run": bool(data.get("dry_run", False)),
                "status": row["status"],
                "started_at": row["started_at"],
                "finished_at": row["finished_at"],
                "rows_read": int(data.get("rows_read", 0)),
                **{name: int(totals.get(name, 0)) for name in _COUNTS},
            }
        )
    schema = {
        "run_id": pl.String,
        "job": pl.String,
        "mode": pl.String,
        "dry_run": pl.Boolean,
        "status": pl.String,
        "started_at": pl.String,
        "finished_at": pl.String,
        "rows_read": pl.Int64,
        **{name: pl.Int64 for name in _COUNTS},
    }
    return scrub_frame(pl.DataFrame(rows, schema=schema))


def describe_run(
    run_id: str, *, as_json: bool = False, ledger: str | Path | None = None
) -> tuple[str, Path]:
    """One run as text (or JSON) and the path of its HTML report, secrets scrubbed."""
    store = _ledger(ledger)
    try:
        found = store.run(run_id)
        if found is None:
            raise UsageError(f"no run {run_id!r}; `ctjobs history` lists the runs")
        # The ledger keeps records as they were built, to send them again; what is
        # shown of them, and of a run stored before summaries were scrubbed, is not.
        rejections = scrub_frame(store.rejections(run_id))
    finally:
        store.close()
    report = home() / "runs" / run_id / "report.html"
    summary = scrub_data(found["summary"] or {})
    if as_json:
        return json.dumps(summary, default=str), report
    lines = (
        str(RunSummary.from_dict(summary)).splitlines()
        if summary
        else [f"run {run_id}: {found['status']} (no summary stored)"]
    )
    if rejections.height:
        lines.append("  examples of rejected records:")
        for row in _examples(rejections).iter_rows(named=True):
            code = f"[{row['code']}] " if row["code"] is not None else ""
            lines.append(
                f"    {code}{row['reason']} at {row['_source_file']} row "
                f"{row['_source_row']}: {str(row['record'])[:160]}"
            )
    for entry in summary.get("files_read", []):
        lines.append(f"  read {entry['rows']:>7} rows  {entry['path']}")
    return "\n".join(lines), report


def _examples(rejections: pl.DataFrame) -> pl.DataFrame:
    """A few rejected records per reason: the most frequent reason first, each
    reason's first records in source order.

    Reasons are grouped by `reason_key`, as the summary counts them: a reason that
    quotes a measured value ("is 700 bytes") gives one group, not one per value.
    """
    keys = [
        reason_key(code, reason or "")
        for code, reason in zip(rejections["code"], rejections["reason"], strict=True)
    ]
    keyed = rejections.with_columns(pl.Series("_key", keys, dtype=pl.String))
    counts = keyed.group_by("_key").len("_count")
    return (
        keyed.join(counts, on="_key")
        .sort(
            ["_count", "_key", "_source_file", "_source_row"],
            descending=[True, False, False, False],
            nulls_last=True,
            maintain_order=True,
        )
        .group_by("_key", maintain_order=True)
        .head(EXAMPLES_PER_REASON)
    )
