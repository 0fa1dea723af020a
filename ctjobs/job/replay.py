"""Sending an earlier run's rejected or pending records again.

By default the records are rebuilt from their source rows with the job file as it
is now (the usual case: the mapping was fixed). With ``as_sent`` the stored JSON is
sent again unchanged. Either way, replayed records that CleverTap accepts are
marked resolved in the ledger, so a second replay does not send them again.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ctjobs.errors import UsageError
from ctjobs.job.ledger import Ledger
from ctjobs.job.runner import ReplayTarget, ledger_path, owner_of, run_job
from ctjobs.job.spec import JobSpec, load_job
from ctjobs.job.summary import RunSummary
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import PROFILE, RECORD_KEY, SOURCE_FILE, SOURCE_ROW


def _unresolved(
    ledger: Ledger, run_id: str, only_code: int | None, batch: str | None = None
) -> dict[str, pl.DataFrame]:
    rejected = ledger.rejections(run_id).filter(pl.col("resolved_by").is_null())
    if only_code is not None:
        rejected = rejected.filter(pl.col("code") == only_code)
    pending = ledger.pending(run_id).filter(pl.col("resolved_by").is_null())
    if only_code is not None:
        pending = pending.clear()
    if batch is not None:
        # Only records held in doubt carry a batch: the rest are not that batch's.
        rejected = rejected.clear()
        pending = pending.filter(
            pl.col("reason").str.contains(f"batch {batch} ", literal=True)
        )
    return {"rejections": rejected, "pending": pending}


def replay_target(
    ledger: Ledger,
    run_id: str,
    *,
    only_code: int | None = None,
    limit: int | None = None,
    batch: str | None = None,
) -> ReplayTarget:
    """What to replay from `run_id`: its unresolved rejections and pending records."""
    if ledger.run(run_id) is None:
        raise UsageError(f"no run {run_id!r}; `ctjobs history` lists the runs")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: replay at least one record")
    tables = _unresolved(ledger, run_id, only_code, batch)
    files: set[str] = set()
    record_keys: set[str] = set()
    owners: dict[str, list[str]] = {}
    originals: dict[str, list[str]] = {}
    for table, rows in tables.items():
        originals[table] = rows[RECORD_KEY].drop_nulls().to_list()
        files |= set(rows[SOURCE_FILE].drop_nulls().to_list())
        for key, kind, record in rows.select(RECORD_KEY, "type", "record").rows():
            # Every record is found again by the source row it came from; a profile
            # that was sent is found by its person too, since its key is its content.
            record_keys.add(key)
            owner = _owner(record) if kind == PROFILE else None
            if owner is not None:
                owners.setdefault(owner, []).append(key)
    return ReplayTarget(
        run_id, files, originals, record_keys, owners, limit=limit, batch=batch
    )


def _owner(record: str | None) -> str | None:
    """The person a stored profile record names, if it can be read."""
    try:
        data = json.loads(record) if record else None
    except ValueError:
        return None
    return owner_of(data) if isinstance(data, dict) else None


def replay(
    job: JobSpec | str | Path,
    run_id: str,
    *,
    dry_run: bool = False,
    out: str | Path | None = None,
    only_code: int | None = None,
    limit: int | None = None,
    as_sent: bool = False,
    batch: str | None = None,
) -> RunSummary:
    """Replay run `run_id` of `job`; returns the replay run's summary.

    Example:
        >>> ct.replay("jobs/sample_round_trip.toml", "20240301T091500Z-1a2b3c")
    """
    spec = job if isinstance(job, JobSpec) else load_job(job)
    ledger = Ledger(ledger_path(spec), spec.name)
    try:
        target = replay_target(
            ledger, run_id, only_code=only_code, limit=limit, batch=batch
        )
        if as_sent:
            return _replay_as_sent(spec, ledger, target, dry_run=dry_run, out=out)
    finally:
        ledger.close()
    if not target.files:
        raise UsageError(f"run {run_id} has nothing left to replay")
    return run_job(spec, dry_run=dry_run, out=out, mode="replay", replay=target)


def confirm_landed(
    job: JobSpec | str | Path, run_id: str, *, batch: str | None = None
) -> int:
    """Settle the records run `run_id` held in doubt, once CleverTap shows them.

    `batch` settles one held batch only. Returns how many were settled; nothing
    is sent.
    """
    spec = job if isinstance(job, JobSpec) else load_job(job)
    ledger = Ledger(ledger_path(spec), spec.name)
    try:
        if ledger.run(run_id) is None:
            raise UsageError(f"no run {run_id!r}; `ctjobs history` lists the runs")
        pending = _unresolved(ledger, run_id, None, batch)["pending"].filter(
            pl.col("reason").str.starts_with("in doubt")
        )
        keys = pending[RECORD_KEY].to_list()
        ledger.resolve("pending", run_id, keys, "confirmed-landed")
    finally:
        ledger.close()
    return len(keys)


def _stored_records(ledger: Ledger, target: ReplayTarget) -> pl.DataFrame:
    tables = _unresolved(ledger, target.run_id, None, target.batch)
    frames = []
    for table, rows in tables.items():
        wanted = set(target.originals.get(table, []))
        picked = rows.filter(pl.col(RECORD_KEY).is_in(list(wanted)))
        frames.append(
            picked.select(
                "type",
                pl.col("record").alias(RECORD_JSON),
                RECORD_KEY,
                SOURCE_FILE,
                SOURCE_ROW,
            )
        )
    stored = pl.concat(frames, how="vertical_relaxed").unique(RECORD_KEY, keep="first")
    identity = [json.loads(t).get("identity") for t in stored[RECORD_JSON]]
    stored = stored.with_columns(pl.Series("identity", identity, dtype=pl.String))
    return stored.head(target.limit) if target.limit is not None else stored


def _replay_as_sent(
    spec: JobSpec,
    ledger: Ledger,
    target: ReplayTarget,
    *,
    dry_run: bool,
    out: str | Path | None,
) -> RunSummary:
    """Send the stored JSON of each record again, unchanged."""
    from ctjobs.job.runner import Runner, RunOptions

    stored = _stored_records(ledger, target)
    if stored.height == 0:
        raise UsageError(f"run {target.run_id} has nothing left to replay")
    target.current = {k: k for k in stored[RECORD_KEY].to_list()}
    runner = Runner(spec, ledger)
    options = RunOptions(dry_run=dry_run, out=out, mode="replay", replay=target)
    return runner.resend(options, stored)
