"""Compaction: closed JSON-lines landing files become Parquet, atomically.

For each closed file ``X.jsonl`` (no server holds its lock):

1. its payload ids go into the index with a full sync, since the file is about to go;
2. its whole deliveries are written to ``.part-X.parquet.tmp`` and fsync'ed;
3. that file is renamed to ``part-X.parquet`` and the folder fsync'ed;
4. ``X.jsonl`` is removed.

A kill between 3 and 4 leaves both files; readers skip a JSON-lines file whose
Parquet twin exists, and the next compaction just removes it. So a row is never
lost and never read twice. A torn tail in the file (never acknowledged) is dropped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ctjobs.webhook.config import WebhookConfig
from ctjobs.webhook.index import PayloadIndex
from ctjobs.webhook.landing import (
    STATE_DIR,
    fsync_dir,
    landing_jsonl,
    landing_roots,
    open_lock_file,
    parquet_twin,
    read_landed,
    rows_frame,
    try_lock,
)

logger = logging.getLogger(__name__)

COMPACT_LOCK = "compact.lock"


def compact(land: str | os.PathLike[str], *, spool: str | None = None) -> int:
    """Turn the closed JSON-lines files under ``land`` into Parquet; return rows moved.

    Safe to run while a server is landing (open files are skipped) and safe to kill
    at any point. When ``land`` is an object-store URL, the spool folder (``spool``,
    or the default one for that URL) is compacted and its Parquet uploaded.
    """
    config = WebhookConfig(land=str(land), spool=spool, insecure_no_auth=True)
    if config.is_remote:
        from ctjobs.webhook.remote import compact_and_upload

        return compact_and_upload(config.land, config.landing_dir())
    return compact_local(Path(land))


def compact_local(folder: Path) -> int:
    """Compact a local landing folder; see `compact`."""
    if not folder.is_dir():
        return 0
    lock = open_lock_file(folder / STATE_DIR / COMPACT_LOCK, wait=True)
    index = PayloadIndex(folder / STATE_DIR, durable=True)
    try:
        return sum(
            _compact_file(path, index)
            for root in landing_roots(folder)
            for path in landing_jsonl(root)
        )
    finally:
        index.close()
        if lock is not None:
            os.close(lock)


def _compact_file(jsonl: Path, index: PayloadIndex) -> int:
    parquet = parquet_twin(jsonl)
    if parquet.exists():  # an earlier compaction stopped after its rename
        _remove(jsonl)
        return 0
    with try_lock(jsonl) as fd:
        if fd is None:
            return 0
        data = jsonl.read_bytes()
        # An empty unlocked file may be one a server has just created and not yet
        # locked; it has no rows to move anyway.
        if not data:
            return 0
        rows = read_landed(data).rows
        index.add(row["payload_id"] for row in rows)
        _write_parquet(rows, parquet)
        _remove(jsonl)
    logger.info("compacted %d rows of %s into %s", len(rows), jsonl, parquet.name)
    return len(rows)


def _write_parquet(rows: list[dict[str, object]], parquet: Path) -> None:
    temporary = parquet.with_name(f".{parquet.name}.tmp")
    rows_frame(rows).write_parquet(temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, parquet)
    fsync_dir(parquet.parent)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
