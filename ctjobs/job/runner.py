"""The runner: the one place that knows the order of the stages.

read → transform → for each mapping (profiles first): build → validate → skip what
the ledger says was acknowledged → write → account. The stages never call each
other; the runner hands frames from one to the next and keeps the counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl

from ctjobs.errors import CtjobsError, UsageError
from ctjobs.job import profiles
from ctjobs.job.ledger import Ledger, now
from ctjobs.job.spec import JobSpec, LookupStep, RecordSpec, load_job
from ctjobs.job.summary import RunSummary
from ctjobs.monitor import watch_outgoing
from ctjobs.readers.source import commit_watermark, steps_after_source
from ctjobs.readers.storage import SourceFile, list_files
from ctjobs.records.build import RecordMapping, build_records
from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.records.frame import IDENTITY_FIELDS, PROFILE, PROFILE_DATA, RECORD_KEY
from ctjobs.records.validate import validate
from ctjobs.report.html import scrub_frame, scrub_summary, write_report
from ctjobs.transforms.apply import apply_steps
from ctjobs.transforms.lookups import resolve_lookup
from ctjobs.writers.base import WriteContext, Writer, WriteResult
from ctjobs.writers.factory import destination_of

log = logging.getLogger(__name__)
# Columns added to encoded profiles: whom each is about, and a digest of its values.
_PROFILE_OWNER = "__owner"
#: The day recorded for profiles sent from undated data, later than any day.
_PRESENT = "9999-12-31"
_PROFILE_DIGEST = "__digest"

Progress = Callable[[str, int], None]
Chunk = Literal["all", "day", "file"]


def home() -> Path:
    """Where ctjobs keeps its ledger and run folders (``$CTJOBS_HOME`` or ``.ctjobs``)."""
    return Path(os.environ.get("CTJOBS_HOME", ".ctjobs"))


def ledger_path(spec: JobSpec) -> Path:
    """The ledger file a job uses."""
    if spec.ledger:
        path = Path(spec.ledger)
        return path if path.is_absolute() else spec.base_dir / path
    return home() / "ledger.sqlite"


def run_job(
    job: JobSpec | str | Path,
    *,
    dry_run: bool = False,
    out: str | Path | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    writer: Writer | None = None,
    mode: str = "run",
    chunk: Chunk = "all",
    replay: ReplayTarget | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Run a job file (or spec) and return its summary; the CLI prints the same.

    Example:
        >>> summary = ct.run_job("jobs/sample_round_trip.toml", dry_run=True, out="out")
        >>> summary.total("built")
    """
    spec = job if isinstance(job, JobSpec) else load_job(job)
    if date_from and date_to and date_from > date_to:
        message = f"--from {date_from} is after --to {date_to}; swap them"
        raise UsageError(message)
    ledger = Ledger(ledger_path(spec), spec.name)
    try:
        options = RunOptions(
            dry_run=dry_run,
            out=out,
            date_from=date_from,
            date_to=date_to,
            mode=mode,
            chunk=chunk if chunk != "all" or mode != "backfill" else "day",
            replay=replay,
        )
        return Runner(spec, ledger, progress=progress).run(options, writer=writer)
    finally:
        ledger.close()


class Runner:
    """Runs one job against one ledger."""

    def __init__(
        self, spec: JobSpec, ledger: Ledger, *, progress: Progress | None = None
    ):
        self.spec = spec
        self.ledger = ledger
        self.progress = progress or (lambda stage, n: None)
        self.options = RunOptions()
        self._to_send = 0
        # The day of the partition being processed, when it is one (a backfill).
        self._day: str | None = None
        self._day_pending: dict[str, int] = {}
        # Lookup tables read once a run, so every partition joins the same table.
        self._lookups: dict[str, pl.DataFrame] = {}

    def run(self, options: RunOptions, *, writer: Writer | None = None) -> RunSummary:
        """Run the job once; data problems are recorded, not raised."""
        return self._execute(options, writer, self._read_and_send)

    def resend(self, options: RunOptions, stored: pl.DataFrame) -> RunSummary:
        """Send already-encoded records again (a replay of records as they were sent)."""

        def work(writer: Writer, context: WriteContext, summary: RunSummary) -> None:
            for (kind,), group in stored.group_by("type", maintain_order=True):
                record_spec = RecordSpec(
                    name="replay",
                    kind=str(kind),
                    identity="identity",
                    event_name_value="(as sent)",
                )
                counts = summary.mapping("replay", str(kind))
                counts.built += group.height
                self._send(record_spec, group, writer, context, summary)

        return self._execute(options, None, work)

    def _read_and_send(
        self, writer: Writer, context: WriteContext, summary: RunSummary
    ) -> None:
        _check_lookups(self.spec)
        partitions = list(self._partitions(summary))
        if len(partitions) > 1:
            self._set_total("days", len(partitions))
        for label, files in partitions:
            before = _snapshot_counts(summary)
            dated = _query_day(label.split(" (file", 1)[0])
            self._day = dated.isoformat() if dated else None
            day = dated if self.spec.source.kind == "bigquery" else None
            self._run_partition(files, writer, context, summary, day=day)
            self._partition_done(label, summary, context, before)
        self._day = None

    def _execute(
        self,
        options: RunOptions,
        writer: Writer | None,
        work: Callable[[Writer, WriteContext, RunSummary], None],
    ) -> RunSummary:
        self.options = options
        dry_run = options.dry_run
        run_id = self.ledger.start_run(options.mode)
        summary = RunSummary(
            run_id=run_id,
            job=self.spec.name,
            mode=options.mode,
            dry_run=dry_run,
            source_timezone=self.spec.source.timezone,
        )
        summary.started_at = now()
        run_dir = home() / "runs" / run_id
        summary.run_dir = str(run_dir)
        started = time.perf_counter()
        owned = writer is None
        try:
            writer = writer or self._writer(dry_run, options.out, run_dir)
            self.ledger.deliver_to(destination_of(self.spec))
            context = WriteContext(self.spec.name, run_id, self.ledger, dry_run)
            work(writer, context, summary)
            summary.status = "incomplete" if summary.total("pending") else "done"
            if summary.total("in_doubt") and not dry_run:
                summary.held_by = self.ledger.held_runs()
            if options.replay is not None and not dry_run:
                self._resolve_replayed(options.replay, summary, context)
        except CtjobsError as error:
            summary.status = "failed"
            summary.error = str(error)
            _unaccounted_to_pending(summary)
            error.summary = summary
            raise
        except Exception as error:
            summary.status = "failed"
            summary.error = f"{type(error).__name__}: {error}"
            _unaccounted_to_pending(summary)
            raise
        finally:
            if owned and writer is not None:
                writer.close()
            summary.seconds = round(time.perf_counter() - started, 3)
            summary.finished_at = now()
            self._finish(summary, run_dir)
        return summary

    # ------------------------------------------------------------ stages

    def _set_total(self, stage: str, total: int) -> None:
        """Tell a progress display how far `stage` will go, if it can show that."""
        set_total = getattr(self.progress, "set_total", None)
        if set_total is not None:
            set_total(stage, total)

    def _writer(self, dry_run: bool, out: str | Path | None, run_dir: Path) -> Writer:
        from ctjobs.writers.factory import make_writer

        return make_writer(self.spec, dry_run=dry_run, out=out, run_dir=run_dir)

    def _partitions(
        self, summary: RunSummary
    ) -> Iterator[tuple[str, list[SourceFile] | None]]:
        """The groups of files to process in turn (None: a non-file source)."""
        options = self.options
        source = self.spec.source
        if source.kind == "bigquery":
            if options.mode == "backfill" and options.date_from and options.date_to:
                # One query a day, so a killed backfill resumes at its day.
                current = options.date_from
                while current <= options.date_to:
                    label = current.isoformat()
                    if self.ledger.position(_day_key(label)):
                        summary.partitions_skipped.append(label)
                        log.warning(
                            "day %s: finished by an earlier backfill run, skipped",
                            label,
                        )
                    else:
                        yield label, None
                    current += timedelta(days=1)
                return
            yield "query", None
            return
        if source.kind == "webhook":
            # Landings are read whole; the ledger skips rows already sent.
            yield "landing", None
            return
        paths = [self._resolve(p) for p in source.paths]
        files = list_files(
            paths,
            storage_options=source.storage_options,
            date_from=options.date_from,
            date_to=options.date_to,
        )
        if not files and options.mode != "replay":
            message = f"{', '.join(paths)}: no source files match; check `paths`"
            raise UsageError(message)
        if options.replay is not None:
            wanted = options.replay.files
            files = [f for f in files if f.path in wanted]
        elif source.incremental and options.mode == "run":
            files = self._new_files(files, summary)
        if not files:
            return
        if options.chunk == "all":
            yield "all", files
            return
        days = sorted({f.day for f in files}, key=lambda d: d or date.min)
        for day in days:
            label = day.isoformat() if day else "undated"
            if options.mode == "backfill" and self.ledger.position(_day_key(label)):
                summary.partitions_skipped.append(label)
                log.warning(
                    "day %s: finished by an earlier backfill run, skipped", label
                )
                continue
            todays = [f for f in files if f.day == day]
            if options.chunk == "file":
                # One file at a time keeps memory to the largest file, not the day.
                for number, file in enumerate(todays):
                    last = number == len(todays) - 1
                    yield (label if last else f"{label} (file {number + 1})"), [file]
            else:
                yield label, todays

    def _partition_done(
        self,
        label: str,
        summary: RunSummary,
        context: WriteContext,
        before: dict[str, int],
    ) -> None:
        """Log the partition's own counts and, in a backfill, remember a finished day."""
        summary.partitions_done.append(label)
        now_counts = _snapshot_counts(summary)
        delta = {k: now_counts[k] - before[k] for k in now_counts}
        log.info(
            "%s: read %d rows, built %d, sent %d, accepted %d, rejected %d, pending %d",
            label if label != "all" else "run",
            delta["rows"],
            delta["built"],
            delta["sent"],
            delta["accepted"],
            delta["rejected"],
            delta["pending"],
        )
        self.progress("days", 1)
        day = label.split(" (file", 1)[0]
        self._day_pending[day] = self._day_pending.get(day, 0) + delta["pending"]
        whole_day = "(file" not in label
        finished = whole_day and self._day_pending[day] == 0
        if self.options.mode == "backfill" and not context.dry_run and finished:
            self.ledger.set_position(_day_key(day), context.run_id)

    def _resolve(self, path: str) -> str:
        if "://" in path or Path(path).is_absolute():
            return path
        candidate = self.spec.base_dir / path
        # Job files name paths relative to themselves, or to where ctjobs runs.
        return str(candidate) if _exists_glob(candidate) else path

    def _new_files(
        self, files: list[SourceFile], summary: RunSummary
    ) -> list[SourceFile]:
        seen = self.ledger.seen_files()
        fresh = []
        for file in files:
            before = seen.get(file.path)
            if before is None:
                fresh.append(file)
            elif before != (file.size, file.version):
                summary.files_changed.append(file.path)
                log.warning(
                    "%s changed since it was processed (size or version differs); "
                    "it is not re-sent. Replay it explicitly if the change matters",
                    file.path,
                )
            else:
                summary.files_skipped.append(file.path)
        return fresh

    def _read(
        self,
        files: list[SourceFile] | None,
        summary: RunSummary,
        day: date | None = None,
    ) -> pl.LazyFrame:
        from ctjobs.readers.source import read_source

        frame, notes = read_source(
            self.spec,
            files,
            # Dry runs and replays read part of the source: they accept no schema.
            self.ledger if not (self.options.dry_run or self.options.replay) else None,
            summary,
            date_from=day or self.options.date_from,
            date_to=day or self.options.date_to,
        )
        summary.schema_changes.extend(notes)
        return frame

    def _run_partition(
        self,
        files: list[SourceFile] | None,
        writer: Writer,
        context: WriteContext,
        summary: RunSummary,
        *,
        day: date | None = None,
    ) -> None:
        stage = time.perf_counter()
        frame = self._read(files, summary, day).collect(engine="streaming")
        _tick(summary, "read", stage)
        summary.rows_read += frame.height
        self.progress("read", frame.height)
        if files is not None:
            counts = frame.group_by("_source_file").len()
            rows = dict(zip(counts["_source_file"], counts["len"], strict=True))
            summary.files_read.extend(
                {"path": f.path, "rows": int(rows.get(f.path, 0))} for f in files
            )
        stage = time.perf_counter()
        # Steps compiled into a BigQuery query already ran there.
        remaining = steps_after_source(self.spec)
        transformed = apply_steps(
            frame.lazy(), remaining, self.spec.base_dir, tables=self._lookups
        )
        transformed_df = transformed.collect(engine="streaming")
        _tick(summary, "transform", stage)
        summary.rows_after_transforms += transformed_df.height
        summary.rows_filtered_out += frame.height - transformed_df.height
        built = [
            (record_spec, self._build(record_spec, transformed_df, context, summary))
            for record_spec in _ordered(self.spec.records)
        ]
        # Every outgoing record is checked against the job's schema policies before
        # the first request goes out, so a `freeze` stops the run with nothing sent.
        summary.schema_changes.extend(
            watch_outgoing(
                self.spec,
                self.ledger,
                context.run_id,
                built,
                context.dry_run or self.options.replay is not None,
            )
        )
        for record_spec, encoded in built:
            self._send(record_spec, encoded, writer, context, summary)
        regular = self.options.mode == "run" and not context.dry_run
        if regular and not summary.total("pending"):
            # The incremental position moves only once everything read is accounted for.
            if files is not None:
                self.ledger.mark_files(
                    context.run_id,
                    [
                        (f.path, f.size, f.version, _rows(summary, f.path))
                        for f in files
                    ],
                )
            if self.spec.source.kind == "bigquery":
                commit_watermark(self.ledger)

    def _build(
        self,
        record_spec: RecordSpec,
        rows: pl.DataFrame,
        context: WriteContext,
        summary: RunSummary,
    ) -> pl.DataFrame:
        """Records for one mapping, checked, encoded; rejections stored."""
        counts = summary.mapping(record_spec.name, record_spec.kind)
        stage = time.perf_counter()
        lf = apply_steps(
            rows.lazy(), record_spec.steps, self.spec.base_dir, tables=self._lookups
        )
        records = build_records(lf, _mapping(record_spec, self.spec.source.timezone))
        if self.options.replay is not None:
            # Only the records being replayed are built and checked, so counts add up.
            records = self.options.replay.narrow(records, record_spec.kind)
        built = records.collect(engine="streaming")
        counts.rows_in += rows.height
        counts.built += built.height
        self.progress("built", built.height)
        checked = validate(built, self.spec.validation)
        for reason, count in checked.dropped.items():
            summary.dropped_values[reason] = (
                summary.dropped_values.get(reason, 0) + count
            )
        self._reject(checked.rejected, "preflight", context, summary)
        counts.rejected_preflight += checked.rejected.height
        if checked.rejected.height:
            self.progress("rejected", checked.rejected.height)
        encoded = encode_records(checked.accepted).collect(engine="streaming")
        if record_spec.kind == PROFILE:
            built_keys = encoded[RECORD_KEY]
            encoded = _profile_keys(encoded)
            if self.options.replay is not None:
                self.options.replay.note_profiles(built_keys, encoded)
        _tick(summary, "build", stage)
        return encoded

    def _send(
        self,
        record_spec: RecordSpec,
        encoded: pl.DataFrame,
        writer: Writer,
        context: WriteContext,
        summary: RunSummary,
    ) -> None:
        """Write what the ledger has not seen acknowledged, and account for it."""
        counts = summary.mapping(record_spec.name, record_spec.kind)
        stage = time.perf_counter()
        todo = self._unsent(encoded, record_spec, context, counts)
        if not context.dry_run:  # a dry run sends nothing: no bar to fill
            self._to_send += todo.height
            self._set_total("sent", self._to_send)
        ticked = Counter[str]()

        def tick(stage: str, count: int) -> None:
            ticked[stage] += count
            self.progress(stage, count)

        context.progress = tick
        result = (
            writer.write(record_spec.kind, todo, context)
            if todo.height
            else WriteResult()
        )
        context.progress = None
        _tick(summary, "write", stage)
        # Writers that cannot report batch by batch are counted when they finish.
        self.progress("sent", max(result.sent - ticked["sent"], 0))
        self._account(result, todo, record_spec, context, counts, summary)

    def _unsent(
        self,
        encoded: pl.DataFrame,
        record_spec: RecordSpec,
        context: WriteContext,
        counts: Any,
    ) -> pl.DataFrame:
        replay = self.options.replay
        if replay is not None:
            # Replayed records were acknowledged (as rejected) before: send them anyway.
            replay.note(encoded, record_spec.kind)
            return encoded
        if context.dry_run:
            return encoded
        encoded = self._settle_in_doubt(encoded, context, counts)
        todo = self.ledger.unacked(encoded)
        if record_spec.kind == PROFILE:
            todo = self._not_superseded(self._changed_since_sent(encoded, todo))
        held = self.ledger.held(
            encoded.filter(~pl.col(RECORD_KEY).is_in(todo[RECORD_KEY].implode()))
        )
        # Held records stay pending, run after run, until a person settles them.
        counts.pending += held
        counts.in_doubt += held
        counts.skipped_sent += encoded.height - todo.height - held
        if record_spec.kind == PROFILE and record_spec.change_only and todo.height:
            found = profiles.changes(
                todo,
                todo[_PROFILE_OWNER],
                self._held_profiles(todo),
                signature=profiles.mapping_signature(record_spec),
                emptied=record_spec.emptied,
            )
            counts.skipped_unchanged += found.unchanged
            counts.properties_deleted += found.deleted
            todo = found.send
        return todo

    def _held_profiles(self, todo: pl.DataFrame) -> dict[str, profiles.Held]:
        """What the ledger knows CleverTap holds for the people in `todo`."""
        stored = self.ledger.profile_values(todo[_PROFILE_OWNER].unique().to_list())
        return {
            owner: profiles.Held(signature, json.loads(properties))
            for owner, (signature, properties) in stored.items()
        }

    def _last_sent(self, profiles: pl.DataFrame) -> pl.Series:
        """The digest last acknowledged for each profile's person (null if none)."""
        who = profiles[_PROFILE_OWNER]
        last = self.ledger.profile_digests(who.unique().to_list())
        return who.replace_strict(last, default=None, return_dtype=pl.String)

    def _changed_since_sent(
        self, encoded: pl.DataFrame, todo: pl.DataFrame
    ) -> pl.DataFrame:
        """`todo` plus the acknowledged profiles whose person was sent other values since.

        A profile's key is its person and its content, so a profile that changed and
        changed back (A, B, then A again) has a key that was acknowledged long ago:
        what counts is whether A is what CleverTap holds now.
        """
        done = encoded.filter(~pl.col(RECORD_KEY).is_in(todo[RECORD_KEY].implode()))
        if done.height == 0:
            return todo
        last = self._last_sent(done)
        stale = done.filter(last.is_not_null() & last.ne(done[_PROFILE_DIGEST]))
        return pl.concat([todo, stale]) if stale.height else todo

    def _not_superseded(self, todo: pl.DataFrame) -> pl.DataFrame:
        """`todo` less the profiles of a day older than what their person last got.

        A backfill that goes back over a day (to finish it after a kill, say) must
        not send that day's profile values over the newer ones later days sent.
        """
        if self._day is None or todo.height == 0:
            return todo
        days = self.ledger.profile_days(todo[_PROFILE_OWNER].unique().to_list())
        if not days:
            return todo
        last = todo[_PROFILE_OWNER].replace_strict(
            days, default=None, return_dtype=pl.String
        )
        return todo.filter(last.is_null() | (last <= self._day))

    def _settle_in_doubt(
        self, encoded: pl.DataFrame, context: WriteContext, counts: Any
    ) -> pl.DataFrame:
        """Deal with records an earlier, killed run sent without seeing an answer.

        CleverTap stores events without de-duplicating them and offers no way to ask
        whether a request landed, so such records are either held pending (the
        default: nothing is sent twice, and `ctjobs replay --as-sent` sends them if
        they turn out to be missing) or sent again (nothing is missing, but they may
        be stored twice), as the job's ``writer.in_doubt`` says.
        """
        doubtful = self.ledger.in_doubt(context.run_id)
        if not doubtful:
            return encoded
        mask = pl.col(RECORD_KEY).is_in(
            pl.Series(list(doubtful), dtype=pl.String).implode()
        )
        suspects = encoded.filter(mask)
        if suspects.height == 0:
            return encoded
        policy = self.spec.writer.in_doubt
        origins = [doubtful[k] for k in suspects[RECORD_KEY].to_list()]
        runs = sorted({run for run, _ in origins})
        if policy == "hold":
            # A batch lands whole or not at all, so each is held, and settled, alone.
            suspects = suspects.with_columns(
                pl.Series("__batch", [batch for _, batch in origins], dtype=pl.String)
            )
            for (batch,), group in suspects.group_by("__batch", maintain_order=True):
                run = doubtful[group[RECORD_KEY][0]][0]
                reason = (
                    f"in doubt: batch {batch} was sent by run {run}, which was killed "
                    "before the answer arrived; check CleverTap, then `ctjobs replay "
                    f"{context.run_id} --batch {batch}` with --as-sent (if missing) or "
                    "--confirm-landed (if there)"
                )
                self.ledger.hold(context.run_id, group.drop("__batch"), reason)
            counts.pending += suspects.height
            counts.in_doubt += suspects.height
            encoded = encoded.filter(~mask)
        else:
            counts.in_doubt += suspects.height
        log.warning(
            "%d record(s) were sent by killed run(s) %s without an answer; in_doubt = %s",
            suspects.height,
            ", ".join(runs),
            policy,
        )
        self.ledger.settle_in_doubt(context.run_id, suspects[RECORD_KEY].to_list())
        return encoded

    def _account(
        self,
        result: WriteResult,
        todo: pl.DataFrame,
        record_spec: RecordSpec,
        context: WriteContext,
        counts: Any,
        summary: RunSummary,
    ) -> None:
        # Sent means answered: a record whose request never got an answer is pending.
        counts.sent += result.accepted + result.rejected.height
        counts.accepted += result.accepted
        counts.rejected += result.rejected.height
        counts.pending += result.pending_count
        if context.dry_run:
            counts.written += sum(int(str(f.get("records", 0))) for f in result.files)
        summary.bodies += result.batches if context.dry_run else 0
        summary.outputs.extend(result.outputs)
        if not context.dry_run or result.batches == 0:
            summary.files_written.extend(result.files)
        summary.count_reasons(
            list(zip(result.rejected["code"], result.rejected["reason"], strict=True))
        )
        if result.pending is not None and result.pending.height:
            reason = "not delivered (retries spent or connection lost); re-run to send"
            self.ledger.add_pending(context.run_id, result.pending, reason)
        if record_spec.kind == PROFILE and not context.dry_run:
            self._remember_profiles(todo, result, context, record_spec)

    def _remember_profiles(
        self,
        todo: pl.DataFrame,
        result: WriteResult,
        context: WriteContext,
        record_spec: RecordSpec,
    ) -> None:
        done = todo
        if result.pending is not None and result.pending.height:
            done = done.filter(
                ~pl.col(RECORD_KEY).is_in(result.pending[RECORD_KEY].implode())
            )
        if result.rejected.height:
            done = done.filter(
                ~pl.col(RECORD_KEY).is_in(result.rejected[RECORD_KEY].implode())
            )
        pairs = done.select(_PROFILE_OWNER, _PROFILE_DIGEST).rows()
        self.ledger.save_profile_digests(context.run_id, pairs)
        # A run over undated data (a scheduled run) sends the present: no later
        # backfill of a past day goes over it.
        day = self._day or _PRESENT
        self.ledger.save_profile_days(done[_PROFILE_OWNER].to_list(), day)
        if record_spec.change_only and done.height:
            held = profiles.after_sending(
                done,
                done[_PROFILE_OWNER],
                self._held_profiles(done),
                signature=profiles.mapping_signature(record_spec),
                emptied=record_spec.emptied,
            )
            self.ledger.save_profile_values(context.run_id, held)

    def _reject(
        self,
        rejected: pl.DataFrame,
        stage: str,
        context: WriteContext,
        summary: RunSummary,
    ) -> None:
        if rejected.height == 0:
            return
        summary.count_reasons(
            list(zip(rejected["code"], rejected["reason"], strict=True))
        )
        self.ledger.add_rejections(context.run_id, stage, rejected)

    def _finish(self, summary: RunSummary, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        # A credential's value never leaves in what is written or stored about the
        # run, whether it came in a record, a reason, a path or an error's text.
        scrub_summary(summary)
        rejections = scrub_frame(self.ledger.rejections(summary.run_id))
        if rejections.height:
            rejections.write_ndjson(run_dir / "rejected.jsonl")
        (run_dir / "summary.json").write_text(summary.to_json(), encoding="utf-8")
        try:
            write_report(summary, rejections, run_dir / "report.html")
        except Exception as error:  # the run's outcome matters more than its report
            log.warning("run %s: report.html not written (%s)", summary.run_id, error)
        self.ledger.finish_run(summary.run_id, summary.status, summary.to_dict())

    def _resolve_replayed(
        self, replay: ReplayTarget, summary: RunSummary, context: WriteContext
    ) -> None:
        """Mark the replayed records that were accepted this time as resolved."""
        failed = self.ledger.rejections(context.run_id)
        still = set(failed[RECORD_KEY].drop_nulls().to_list())
        still |= set(self.ledger.pending(context.run_id)[RECORD_KEY].to_list())
        for table, keys in replay.originals.items():
            done = [
                k
                for k in keys
                if replay.current.get(k) not in still and k in replay.current
            ]
            self.ledger.resolve(table, replay.run_id, done, context.run_id)
            summary.replayed[table] = len(done)


@dataclass
class RunOptions:
    """How a run goes: dry or real, which days, and in which mode."""

    dry_run: bool = False
    out: str | Path | None = None
    date_from: date | None = None
    date_to: date | None = None
    mode: str = "run"
    chunk: Chunk = "all"
    replay: ReplayTarget | None = None


@dataclass
class ReplayTarget:
    """The records of an earlier run to send again, and where they came from.

    `originals` maps a ledger table (``rejections``, ``pending``) to the record keys
    stored there; `current` maps each of those keys to the key of the record the
    fixed job builds for it now (a profile's key changes with its content).
    `record_keys` are the keys a rebuilt record carries when it comes from one
    source row (every event; a profile rejected before sending), `owners` the
    people whose profiles were sent and refused or left pending.
    """

    run_id: str
    files: set[str]
    originals: dict[str, list[str]]
    record_keys: set[str] = field(default_factory=set)
    owners: dict[str, list[str]] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    batch: str | None = None

    def narrow(self, records: pl.LazyFrame, kind: str) -> pl.LazyFrame:
        """The records that replay something, at most `limit` of them."""
        wanted = pl.col(RECORD_KEY).is_in(list(self.record_keys))
        if kind == PROFILE:
            names = records.collect_schema().names()
            wanted = wanted | profile_owner(names).is_in(list(self.owners))
        chosen = records.filter(wanted)
        return chosen.head(self.limit) if self.limit is not None else chosen

    def note(self, encoded: pl.DataFrame, kind: str) -> None:
        """Remember which current record stands for which original event."""
        if kind != PROFILE:
            self.current.update({k: k for k in encoded[RECORD_KEY].to_list()})

    def note_profiles(self, built_keys: pl.Series, keyed: pl.DataFrame) -> None:
        """Remember which current profile stands for which original one.

        `built_keys` are the rebuilt profiles' source-row keys, in the order of
        `keyed`, the same profiles keyed by person and content.
        """
        pairs = keyed.select(RECORD_KEY, _PROFILE_OWNER).rows()
        rows = zip(built_keys.to_list(), pairs, strict=True)
        for built, (key, owner) in rows:
            if built in self.record_keys:
                self.current[built] = key
            for original in self.owners.get(owner, []):
                self.current[original] = key


def _unaccounted_to_pending(summary: RunSummary) -> None:
    """After a failure, records built but not yet sent count as pending.

    None of them was acknowledged, so the next run sends them: that is what
    pending means, and it keeps every built record accounted for.
    """
    for m in summary.mappings:
        done = (
            m.rejected_preflight
            + m.skipped_sent
            + m.skipped_unchanged
            + m.accepted
            + m.rejected
            + m.pending
            + m.written
        )
        m.pending += max(0, m.built - done)


def _check_lookups(spec: JobSpec) -> None:
    """Find a missing lookup file before the source is read, not after."""
    steps = [*spec.transforms, *(s for r in spec.records for s in r.steps)]
    for step in steps:
        if isinstance(step, LookupStep):
            resolve_lookup(step.path, spec.base_dir)


def _snapshot_counts(summary: RunSummary) -> dict[str, int]:
    return {
        "rows": summary.rows_read,
        "built": summary.total("built"),
        "sent": summary.total("sent"),
        "accepted": summary.total("accepted"),
        "rejected": summary.total("rejected") + summary.total("rejected_preflight"),
        "pending": summary.total("pending"),
    }


def _day_key(label: str) -> str:
    return f"backfill-day:{label}"


def _exists_glob(path: Path) -> bool:
    import glob

    return bool(glob.glob(str(path)))


def _ordered(specs: Sequence[RecordSpec]) -> list[RecordSpec]:
    """Profiles before events, as CleverTap advises for imports."""
    return sorted(specs, key=lambda s: 0 if s.kind == PROFILE else 1)


def _mapping(spec: RecordSpec, timezone: str) -> RecordMapping:
    return RecordMapping(
        kind=spec.kind,
        identity=spec.identity,
        identity_field=spec.identity_field,
        ts=spec.ts,
        event_name=spec.event_name,
        event_name_value=spec.event_name_value,
        properties=dict(spec.properties),
        include=list(spec.include),
        exclude=list(spec.exclude),
        dates=list(spec.dates),
        timezone=timezone,
        name=spec.name,
    )


def _query_day(label: str) -> date | None:
    """The day a partition of a day-by-day BigQuery backfill reads (None: no day)."""
    try:
        return date.fromisoformat(label)
    except ValueError:
        return None


def profile_owner(columns: list[str]) -> pl.Expr:
    """The person a profile record belongs to, from the identifier it carries.

    The plain identity stays unprefixed, as ledgers have always keyed it; another
    identifier is ``field:value``. `owner_of` says the same of a record's JSON.
    """
    owners = [
        pl.col(name).cast(pl.String)
        if name == "identity"
        else pl.concat_str(pl.lit(f"{name}:"), pl.col(name).cast(pl.String))
        for name in IDENTITY_FIELDS
        if name in columns
    ]
    return pl.coalesce(*owners, pl.lit("")) if owners else pl.lit("")


def owner_of(record: dict[str, Any]) -> str | None:
    """The person a profile record (as sent) belongs to; None when it names nobody."""
    for name in IDENTITY_FIELDS:
        value = record.get(name)
        if value is not None:
            return str(value) if name == "identity" else f"{name}:{value}"
    return None


def _profile_keys(encoded: pl.DataFrame) -> pl.DataFrame:
    """Key each profile by its person and its content, so a changed profile is new work.

    The person is the identifier the record carries, named by its field (an
    objectId and an identity that happen to be equal are two people). The digest
    is of the profile's properties with its ``ts`` left out, so the same properties
    sent at another time still count as unchanged. Floats are rounded to nine
    decimals for the digest only: a sum computed in another order can differ in its
    last bit, and that is not a change worth sending.
    """
    texts = [""] * encoded.height
    if PROFILE_DATA in encoded:
        data = encoded.select(pl.col(PROFILE_DATA).struct.unnest())
        rounded = data.with_columns(pl.col(pl.Float32, pl.Float64).round(9))
        texts = (
            rounded.select(pl.struct(pl.all()).struct.json_encode())
            .to_series()
            .to_list()
        )
    digests = [hashlib.blake2b(t.encode(), digest_size=12).hexdigest() for t in texts]
    return encoded.with_columns(
        pl.Series(_PROFILE_DIGEST, digests, dtype=pl.String),
        profile_owner(encoded.columns).alias(_PROFILE_OWNER),
    ).with_columns(
        pl.concat_str(
            pl.col(_PROFILE_OWNER), pl.lit("#profile#"), pl.col(_PROFILE_DIGEST)
        ).alias(RECORD_KEY)
    )


def _rows(summary: RunSummary, path: str) -> int:
    for entry in summary.files_read:
        if entry["path"] == path:
            return int(entry["rows"])
    return 0


def _tick(summary: RunSummary, name: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    summary.timings[name] = round(summary.timings.get(name, 0.0) + elapsed, 3)


__all__ = [
    "RECORD_JSON",
    "Runner",
    "home",
    "ledger_path",
    "owner_of",
    "profile_owner",
    "run_job",
]
