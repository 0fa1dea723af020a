"""The ledger: what each job has read, sent, had acknowledged and had rejected.

An embedded SQLite file (WAL mode). A record is marked acknowledged only in the same
transaction that stores its batch's parsed answer, so a crash at any point leaves
each record either acknowledged (never sent again) or not (sent on the next run).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from ctjobs.errors import LedgerError
from ctjobs.records.frame import RECORD_KEY, REJECTION_SCHEMA, SOURCE_FILE, SOURCE_ROW

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, job TEXT NOT NULL, mode TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    job TEXT NOT NULL, batch_id TEXT NOT NULL, run_id TEXT NOT NULL,
    kind TEXT NOT NULL, records INTEGER NOT NULL, accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL, attempts INTEGER NOT NULL, acked_at TEXT NOT NULL,
    PRIMARY KEY (job, batch_id)
);
CREATE TABLE IF NOT EXISTS acked (
    job TEXT NOT NULL, record_key TEXT NOT NULL, source_file TEXT NOT NULL,
    run_id TEXT NOT NULL, PRIMARY KEY (job, record_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS acked_by_file ON acked (job, source_file);
CREATE TABLE IF NOT EXISTS rejections (
    run_id TEXT NOT NULL, job TEXT NOT NULL, stage TEXT NOT NULL,
    record_key TEXT, source_file TEXT, source_row INTEGER, kind TEXT,
    code INTEGER, reason TEXT, record TEXT, resolved_by TEXT
);
CREATE INDEX IF NOT EXISTS rejections_by_run ON rejections (run_id);
CREATE TABLE IF NOT EXISTS pending (
    run_id TEXT NOT NULL, job TEXT NOT NULL, record_key TEXT NOT NULL,
    source_file TEXT, source_row INTEGER, kind TEXT, record TEXT, reason TEXT,
    resolved_by TEXT
);
CREATE INDEX IF NOT EXISTS pending_by_run ON pending (run_id);
CREATE TABLE IF NOT EXISTS files (
    job TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    version TEXT NOT NULL, rows INTEGER, run_id TEXT NOT NULL,
    processed_at TEXT NOT NULL, PRIMARY KEY (job, path)
);
CREATE TABLE IF NOT EXISTS schemas (
    job TEXT NOT NULL, scope TEXT NOT NULL, snapshot TEXT NOT NULL,
    run_id TEXT NOT NULL, taken_at TEXT NOT NULL, PRIMARY KEY (job, scope)
);
CREATE TABLE IF NOT EXISTS profile_state (
    job TEXT NOT NULL, identity TEXT NOT NULL, digest TEXT NOT NULL,
    run_id TEXT NOT NULL, PRIMARY KEY (job, identity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_days (
    job TEXT NOT NULL, owner TEXT NOT NULL, day TEXT NOT NULL,
    PRIMARY KEY (job, owner)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS profile_values (
    job TEXT NOT NULL, owner TEXT NOT NULL, signature TEXT NOT NULL,
    properties TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (job, owner)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS in_flight (
    job TEXT NOT NULL, batch_id TEXT NOT NULL, run_id TEXT NOT NULL,
    record_keys TEXT NOT NULL, started_at TEXT NOT NULL,
    PRIMARY KEY (job, batch_id)
);
CREATE TABLE IF NOT EXISTS positions (
    job TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (job, name)
);
"""


def now() -> str:
    """The current UTC time as ISO text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


_RUN_COLUMNS = (
    "run_id",
    "job",
    "mode",
    "started_at",
    "finished_at",
    "status",
    "summary",
)


class Ledger:
    """One job's view of the shared ledger file."""

    def __init__(self, path: str | Path, job: str) -> None:
        self.path = Path(path)
        self.job = job
        # What was delivered, and so what is never sent again, is kept per
        # destination: `scope` is the job's name plus where it sends (see
        # `deliver_to`). Runs, rejections, pending records and schema snapshots
        # are the job's own and keyed on its name alone.
        self.scope = job
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            message = f"{self.path}: cannot open the ledger ({error}); move it aside"
            raise LedgerError(message) from error

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def deliver_to(self, destination: str | None) -> None:
        """Key delivery state on `destination` (None: the job's name alone).

        Records acknowledged by one CleverTap account, files imported to one
        server, positions reached for one destination: none of them count for
        another, so a job first tried against the sandbox sends everything when
        it is pointed at CleverTap.
        """
        self.scope = self.job if destination is None else f"{self.job}@{destination}"

    # ------------------------------------------------------------ runs

    def start_run(self, mode: str) -> str:
        """Record a new run as running and return its id."""
        run_id = new_run_id()
        with self._db:
            # A run still marked running was killed: nothing else finishes it.
            self._db.execute(
                "UPDATE runs SET status = 'interrupted' WHERE job = ? AND status = 'running'",
                (self.job,),
            )
            self._db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', NULL)",
                (run_id, self.job, mode, now()),
            )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Store a run's outcome and its summary."""
        with self._db:
            self._db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
                (now(), status, json.dumps(summary, default=str), run_id),
            )

    def runs(self, job: str | None = None) -> pl.DataFrame:
        """Every run (of `job`, if given), newest first."""
        query = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"
        params: tuple[str, ...] = ()
        if job:
            query += " WHERE job = ?"
            params = (job,)
        rows = self._db.execute(query + " ORDER BY started_at DESC, rowid DESC", params)
        return pl.DataFrame(
            rows.fetchall(),
            schema=dict.fromkeys(_RUN_COLUMNS, pl.String),
            orient="row",
        )

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's row, with its summary decoded."""
        row = self._db.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        found = dict(zip(_RUN_COLUMNS, row, strict=True))
        found["summary"] = json.loads(found["summary"]) if found["summary"] else None
        return found

    # ------------------------------------------------------------ records

    def unacked(self, records: pl.DataFrame) -> pl.DataFrame:
        """The records of `records` not yet acknowledged by the destination."""
        if records.height == 0:
            return records
        files = records[SOURCE_FILE].unique().to_list()
        keys: list[str] = []
        for chunk in _chunks(files, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT record_key FROM acked WHERE job = ? AND source_file IN ({marks})",
                (self.scope, *chunk),
            )
            keys.extend(r[0] for r in rows)
        if not keys:
            return records
        done = pl.Series(RECORD_KEY, keys, dtype=pl.String)
        return records.filter(~pl.col(RECORD_KEY).is_in(done.implode()))

    def acknowledge(
        self,
        *,
        run_id: str,
        batch_id: str,
        kind: str,
        records: pl.DataFrame,
        rejected: pl.DataFrame,
        attempts: int,
    ) -> None:
        """Mark a batch and its records acknowledged, storing its rejections, at once."""
        acked = records.select(RECORD_KEY, SOURCE_FILE).rows()
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO acked VALUES (?, ?, ?, ?)",
                [(self.scope, key, file, run_id) for key, file in acked],
            )
            self._db.execute(
                "DELETE FROM in_flight WHERE job = ? AND batch_id = ?",
                (self.scope, batch_id),
            )
            self._insert_rejections(run_id, "clevertap", rejected)
            self._db.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.scope,
                    batch_id,
                    run_id,
                    kind,
                    records.height,
                    records.height - rejected.height,
                    rejected.height,
                    attempts,
                    now(),
                ),
            )

    def begin_batch(self, run_id: str, batch_id: str, keys: Sequence[str]) -> None:
        """Note a batch as on its way, before its first request leaves.

        A batch still noted when a run dies was sent but never answered: CleverTap
        may or may not have stored it, and nothing on CleverTap's side can tell.
        """
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO in_flight VALUES (?, ?, ?, ?, ?)",
                (self.scope, batch_id, run_id, json.dumps(list(keys)), now()),
            )

    def end_batch(self, batch_id: str) -> None:
        """The batch's outcome is known (stored or left pending): no longer in doubt."""
        with self._db:
            self._db.execute(
                "DELETE FROM in_flight WHERE job = ? AND batch_id = ?",
                (self.scope, batch_id),
            )

    def in_doubt(self, run_id: str) -> dict[str, tuple[str, str]]:
        """Record key → (run id, batch id), for batches other runs left unanswered."""
        rows = self._db.execute(
            "SELECT run_id, batch_id, record_keys FROM in_flight "
            "WHERE job = ? AND run_id != ?",
            (self.scope, run_id),
        )
        return {
            key: (run, batch) for run, batch, keys in rows for key in json.loads(keys)
        }

    def settle_in_doubt(self, run_id: str, keys: Iterable[str]) -> None:
        """Forget in-doubt notes of earlier runs once `run_id` has dealt with them."""
        wanted = set(keys)
        rows = self._db.execute(
            "SELECT batch_id, record_keys FROM in_flight WHERE job = ? AND run_id != ?",
            (self.scope, run_id),
        ).fetchall()
        done = [b for b, k in rows if set(json.loads(k)) <= wanted]
        with self._db:
            self._db.executemany(
                "DELETE FROM in_flight WHERE job = ? AND batch_id = ?",
                [(self.scope, batch_id) for batch_id in done],
            )

    def hold(self, run_id: str, held: pl.DataFrame, reason: str) -> None:
        """Keep records pending and mark them so no later run sends them by itself."""
        if held.height == 0:
            return
        rows = held.select(RECORD_KEY, SOURCE_FILE).rows()
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO acked VALUES (?, ?, ?, ?)",
                [(self.scope, key, file, run_id) for key, file in rows],
            )
        self.add_pending(run_id, held, reason)

    def held(self, records: pl.DataFrame) -> int:
        """How many of `records` are held in doubt and not yet settled."""
        if records.height == 0:
            return 0
        # Held records are few (the batches a killed run left unanswered): read
        # them once and match in Polars, rather than look each record key up.
        rows = self._db.execute(
            "SELECT DISTINCT record_key FROM pending WHERE job = ? "
            "AND resolved_by IS NULL AND reason LIKE 'in doubt%'",
            (self.job,),
        )
        keys = pl.Series(RECORD_KEY, [r[0] for r in rows], dtype=pl.String)
        if keys.is_empty():
            return 0
        held = records.filter(pl.col(RECORD_KEY).is_in(keys.implode()))
        return held[RECORD_KEY].n_unique()

    def held_runs(self) -> list[str]:
        """Runs whose in-doubt records are still unsettled, oldest first."""
        rows = self._db.execute(
            "SELECT DISTINCT run_id FROM pending WHERE job = ? AND resolved_by IS NULL "
            "AND reason LIKE 'in doubt%' ORDER BY run_id",
            (self.job,),
        )
        return [r[0] for r in rows]

    def add_rejections(self, run_id: str, stage: str, rejected: pl.DataFrame) -> None:
        """Store rejections found before sending (pre-flight)."""
        with self._db:
            self._insert_rejections(run_id, stage, rejected)

    def _insert_rejections(
        self, run_id: str, stage: str, rejected: pl.DataFrame
    ) -> None:
        if rejected.height == 0:
            return
        rows = rejected.select(
            RECORD_KEY, SOURCE_FILE, SOURCE_ROW, "type", "code", "reason", "record"
        ).rows()
        self._db.executemany(
            "INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [(run_id, self.job, stage, *row) for row in rows],
        )

    def add_pending(self, run_id: str, pending: pl.DataFrame, reason: str) -> None:
        """Store records left unsent after their retry budget, for resume and replay."""
        if pending.height == 0:
            return
        rows = pending.select(
            RECORD_KEY, SOURCE_FILE, SOURCE_ROW, "type", "_json"
        ).rows()
        with self._db:
            self._db.executemany(
                "INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [(run_id, self.job, *row, reason) for row in rows],
            )

    def rejections(self, run_id: str) -> pl.DataFrame:
        """The rejections stored for a run, pre-flight and CleverTap's alike."""
        rows = self._db.execute(
            "SELECT stage, record_key, source_file, source_row, kind, code, reason, "
            "record, resolved_by FROM rejections WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        schema = {
            "stage": pl.String,
            RECORD_KEY: pl.String,
            SOURCE_FILE: pl.String,
            SOURCE_ROW: pl.Int64,
            "type": pl.String,
            "code": pl.Int64,
            "reason": pl.String,
            "record": pl.String,
            "resolved_by": pl.String,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def pending(self, run_id: str) -> pl.DataFrame:
        """Records a run left pending."""
        rows = self._db.execute(
            "SELECT record_key, source_file, source_row, kind, record, reason, resolved_by "
            "FROM pending WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        # Typed, not inferred: a column null in the first rows (resolved_by) would
        # otherwise be guessed as Null and refuse a later value.
        schema = {
            RECORD_KEY: pl.String,
            SOURCE_FILE: pl.String,
            SOURCE_ROW: pl.Int64,
            "type": pl.String,
            "record": pl.String,
            "reason": pl.String,
            "resolved_by": pl.String,
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def resolve(
        self, table: str, run_id: str, keys: Iterable[str], by_run: str
    ) -> None:
        """Mark rejected or pending records of `run_id` as resolved by a later run."""
        if table not in {"rejections", "pending"}:
            raise LedgerError(f"no ledger table {table!r}")
        with self._db:
            self._db.executemany(
                f"UPDATE {table} SET resolved_by = ? WHERE run_id = ? AND record_key = ?",
                [(by_run, run_id, key) for key in keys],
            )

    # ------------------------------------------------------------ files

    def seen_files(self) -> dict[str, tuple[int, str]]:
        """Path → (size, version) of every source file this job has processed."""
        rows = self._db.execute(
            "SELECT path, size, version FROM files WHERE job = ?", (self.scope,)
        )
        return {path: (size, version) for path, size, version in rows}

    def mark_files(
        self, run_id: str, files: Iterable[tuple[str, int, str, int]]
    ) -> None:
        """Record source files as processed: (path, size, version, rows)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(self.scope, p, s, v, r, run_id, now()) for p, s, v, r in files],
            )

    # ------------------------------------------------------------ schemas, state

    def snapshot(self, scope: str) -> dict[str, Any] | None:
        """The last accepted snapshot for `scope` (``source``, ``outgoing``...)."""
        row = self._db.execute(
            "SELECT snapshot FROM schemas WHERE job = ? AND scope = ?",
            (self.job, scope),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_snapshot(self, scope: str, snapshot: dict[str, Any], run_id: str) -> None:
        """Accept `snapshot` as the current one for `scope`."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO schemas VALUES (?, ?, ?, ?, ?)",
                (self.job, scope, json.dumps(snapshot, sort_keys=True), run_id, now()),
            )

    def profile_digests(self, identities: Sequence[str]) -> dict[str, str]:
        """Identity → digest of the profile properties last acknowledged."""
        rows = self._per_person("identity", "digest", "profile_state", identities)
        return {person: digest for person, digest in rows}

    def save_profile_digests(
        self, run_id: str, digests: Iterable[tuple[str, str]]
    ) -> None:
        """Remember the digest of each profile now acknowledged."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO profile_state VALUES (?, ?, ?, ?)",
                [
                    (self.scope, identity, digest, run_id)
                    for identity, digest in digests
                ],
            )

    def profile_days(self, owners: Sequence[str]) -> dict[str, str]:
        """Person → the day of the data their last acknowledged profile came from."""
        return {
            person: day
            for person, day in self._per_person("owner", "day", "profile_days", owners)
        }

    def save_profile_days(self, owners: Iterable[str], day: str) -> None:
        """Remember that the profiles of `owners` now acknowledged are of `day`."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO profile_days VALUES (?, ?, ?)",
                [(self.scope, owner, day) for owner in owners],
            )

    def profile_values(self, owners: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Person → (mapping signature, properties as JSON) last acknowledged."""
        rows = self._per_person(
            "owner", "signature, properties", "profile_values", owners
        )
        return {
            person: (signature, properties) for person, signature, properties in rows
        }

    def _per_person(
        self, key: str, columns: str, table: str, people: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """Rows (`key`, `columns`) of this job's `table` for `people`, 500 a query."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(list(people), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {key}, {columns} FROM {table} WHERE job = ? "
                f"AND {key} IN ({marks})",
                (self.scope, *chunk),
            )
            found.extend(rows.fetchall())
        return found

    def save_profile_values(
        self, run_id: str, rows: Iterable[tuple[str, str, str]]
    ) -> None:
        """Remember (person, mapping signature, properties) as now acknowledged."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO profile_values VALUES (?, ?, ?, ?, ?)",
                [(self.scope, *row, run_id) for row in rows],
            )

    def position(self, name: str) -> str | None:
        """A stored incremental position (a watermark, say)."""
        row = self._db.execute(
            "SELECT value FROM positions WHERE job = ? AND name = ?", (self.scope, name)
        ).fetchone()
        return str(row[0]) if row else None

    def set_position(self, name: str, value: str) -> None:
        """Move an incremental position."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)",
                (self.scope, name, value),
            )


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rejection_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """Conform a frame to the rejection schema (missing columns as nulls)."""
    return rows.select(
        pl.col(c).cast(t) if c in rows.columns else pl.lit(None, t).alias(c)
        for c, t in REJECTION_SCHEMA.items()
    )
