"""The landing writer: append deliveries durably, in batches, exactly once.

Every request hands its delivery to `LandingWriter.land` and waits. One flusher task
takes everything queued, appends it to the day's JSON-lines file, fsyncs once for the
whole batch (group commit) in a worker thread, records the payload ids in the index,
and only then wakes the requests, which answer 200. Requests that queue while a batch
is being fsync'ed form the next batch, so fifty senders cost a few fsyncs, not fifty.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ctjobs.errors import UsageError
from ctjobs.webhook.index import PayloadIndex
from ctjobs.webhook.landing import (
    STATE_DIR,
    TEST_DIR,
    fsync_dir,
    landing_jsonl,
    landing_roots,
    make_dirs,
    open_lock_file,
    parquet_twin,
    read_landed,
    try_lock,
)
from ctjobs.webhook.payload import Delivery

logger = logging.getLogger(__name__)

WRITER_LOCK = "writer.lock"


@dataclass
class _LandingFile:
    """A JSON-lines file this writer holds open (and locked) for appending."""

    path: Path
    fd: int
    date: str
    size: int = 0


@dataclass
class WriterStats:
    """Counters shown by the health endpoint."""

    landed_payloads: int = 0
    landed_rows: int = 0
    duplicates: int = 0
    batches: int = 0
    repaired_files: int = 0
    files_opened: int = 0
    failures: int = 0


@dataclass
class _Pending:
    delivery: Delivery
    done: asyncio.Future[bool] = field(repr=False)


class LandingWriter:
    """Appends deliveries to ``folder`` and answers whether each one was new."""

    def __init__(self, folder: Path, *, rotate_bytes: int) -> None:
        self.folder = folder
        self.rotate_bytes = rotate_bytes
        self.stats = WriterStats()
        self._files: dict[tuple[bool, str], _LandingFile] = {}
        self._queue: list[_Pending] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._index: PayloadIndex | None = None
        self._writer_lock: int | None = None
        self._sequence = 0

    def check_free(self) -> None:
        """Refuse now, with a usage error, if another server lands into the folder."""
        lock = self.folder / STATE_DIR / WRITER_LOCK
        if not lock.exists():
            return
        held = open_lock_file(lock, wait=False)
        if held is None:
            raise UsageError(
                f"another webhook server is landing into {self.folder}; stop it or "
                "give this one another --land"
            )
        os.close(held)

    def open(self) -> None:
        """Take the landing folder, repair torn tails and re-index landed payloads."""
        make_dirs(self.folder / STATE_DIR)
        self._writer_lock = open_lock_file(
            self.folder / STATE_DIR / WRITER_LOCK, wait=False
        )
        if self._writer_lock is None:
            raise UsageError(
                f"another webhook server is landing into {self.folder}; stop it or "
                "give this one another --land"
            )
        self._index = PayloadIndex(self.folder / STATE_DIR)
        self._index.add(self._repair_landing_files())

    def _repair_landing_files(self) -> list[str]:
        """Cut torn tails left by a crash; return the payload ids found."""
        payload_ids: list[str] = []
        for root in landing_roots(self.folder):
            for path in landing_jsonl(root):
                if not parquet_twin(path).exists():
                    payload_ids.extend(self._repair_file(path))
        return payload_ids

    def _repair_file(self, path: Path) -> list[str]:
        with try_lock(path) as fd:
            if fd is None:  # a compaction has it and will remove it
                return []
            landed = read_landed(path.read_bytes())
            if landed.total_bytes == 0:
                path.unlink()
                return []
            if landed.torn:
                os.ftruncate(fd, landed.complete_bytes)
                os.fsync(fd)
                self.stats.repaired_files += 1
                logger.warning(
                    "cut %d bytes of an unacknowledged torn tail from %s",
                    landed.total_bytes - landed.complete_bytes,
                    path,
                )
            return [row["payload_id"] for row in landed.rows]

    async def land(self, delivery: Delivery) -> bool:
        """Land ``delivery`` durably; True if new, False if it had landed before.

        Returns only once the rows are fsync'ed and the payload id indexed.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(delivery, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a request that goes away must not cancel a batch others wait on.
        return await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            async with self._lock:
                try:
                    fresh = await asyncio.to_thread(
                        self._commit, [p.delivery for p in batch]
                    )
                except Exception as exc:
                    self.stats.failures += 1
                    logger.exception("could not land a batch of %d", len(batch))
                    for pending in batch:
                        pending.done.set_exception(exc)
                    continue
            for pending, is_new in zip(batch, fresh, strict=True):
                pending.done.set_result(is_new)

    def _commit(self, batch: list[Delivery]) -> list[bool]:
        fresh = self._split_duplicates(batch)
        new = [d for d, is_new in zip(batch, fresh, strict=True) if is_new]
        if new:
            self._append(new)
            assert self._index is not None
            self._index.add(d.payload_id for d in new)
        self._record(new, len(batch) - len(new))
        self._close_finished()
        return fresh

    def _split_duplicates(self, batch: list[Delivery]) -> list[bool]:
        assert self._index is not None
        seen: set[str] = set()
        fresh = []
        for delivery in batch:
            is_new = delivery.payload_id not in seen
            is_new = is_new and not self._index.contains(delivery.payload_id)
            seen.add(delivery.payload_id)
            fresh.append(is_new)
        return fresh

    def _append(self, deliveries: list[Delivery]) -> None:
        """Write and fsync; on failure cut every file back so no half batch stays."""
        by_file: dict[tuple[bool, str], list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_file[delivery.is_test, _day(delivery.received_at)].append(delivery)
        marks: list[tuple[_LandingFile, int]] = []
        try:
            for key, group in by_file.items():
                landing = self._file_for(*key)
                marks.append((landing, landing.size))
                landing.size += _write_all(
                    landing.fd, b"".join(d.jsonl() for d in group)
                )
            for landing, _ in marks:
                os.fsync(landing.fd)
        except OSError:
            for landing, size in marks:
                _cut_back(landing, size)
            self._close_all()  # later batches start clean files
            raise

    def _file_for(self, is_test: bool, date: str) -> _LandingFile:
        landing = self._files.get((is_test, date))
        if landing is None:
            landing = self._files[is_test, date] = self._create_file(is_test, date)
        return landing

    def _create_file(self, is_test: bool, date: str) -> _LandingFile:
        folder = (self.folder / TEST_DIR if is_test else self.folder) / f"date={date}"
        make_dirs(folder)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = folder / f"{stamp}-{os.getpid()}-{self._sequence:04d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        # The lock marks the file open; compaction leaves locked files alone.
        fcntl.flock(fd, fcntl.LOCK_EX)
        fsync_dir(folder)
        self.stats.files_opened += 1
        return _LandingFile(path, fd, date)

    def _close_finished(self) -> None:
        """Close files of past days and files past the rotation size."""
        today = _day(datetime.now(UTC))
        for key, landing in list(self._files.items()):
            if landing.date != today or landing.size >= self.rotate_bytes:
                os.close(landing.fd)
                del self._files[key]
                logger.info(
                    "closed landing file %s (%d bytes)", landing.path, landing.size
                )

    def _close_all(self) -> None:
        for landing in self._files.values():
            os.close(landing.fd)
        self._files.clear()

    def _record(self, new: list[Delivery], duplicates: int) -> None:
        self.stats.batches += 1
        self.stats.duplicates += duplicates
        self.stats.landed_payloads += len(new)
        self.stats.landed_rows += sum(len(d.rows) for d in new)

    async def close_finished(self) -> None:
        """Close files of past days, so compaction can take them."""
        async with self._lock:
            await asyncio.to_thread(self._close_finished)

    async def close(self) -> None:
        """Finish every queued delivery, then close the files and the index."""
        while self._flusher is not None and not self._flusher.done():
            await self._flusher
        async with self._lock:
            self._close_all()
            if self._index is not None:
                self._index.close()
            if self._writer_lock is not None:
                os.close(self._writer_lock)
            self._index = self._writer_lock = None


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


def _cut_back(landing: _LandingFile, size: int) -> None:
    try:
        os.ftruncate(landing.fd, size)
    except OSError:
        logger.exception("could not cut %s back to %d bytes", landing.path, size)
