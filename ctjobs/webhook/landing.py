"""The landing folder: its layout, its row schema, and reading its JSON-lines files.

    <land>/date=YYYY-MM-DD/<stamp>-<pid>-<n>.jsonl      appended to, one profile a row
    <land>/date=YYYY-MM-DD/part-<stamp>-<pid>-<n>.parquet   the same rows, compacted
    <land>/_test/date=YYYY-MM-DD/...                     CleverTap's test payloads
    <land>/_rejected/YYYY-MM-DD/<sha256>.body|.reason.json   bodies answered with 400
    <land>/_state/                                       locks and the payload index

A JSON-lines file is open while a server holds an exclusive ``flock`` on it, and
closed otherwise. A file's rows form whole deliveries: every row says how many
profiles its payload had, so a tail cut short by a crash (a torn line, or a delivery
with only some of its rows) is recognised and left out. Such a tail was never
acknowledged, because the server answers only after the whole batch is fsync'ed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

TEST_DIR = "_test"
REJECTED_DIR = "_rejected"
STATE_DIR = "_state"
PARQUET_PREFIX = "part-"

LANDING_SCHEMA: dict[str, pl.DataType] = {
    "payload_id": pl.String(),
    "targetId": pl.Int64(),
    "key_values": pl.String(),
    "received_at": pl.Datetime("us", "UTC"),
    "profile_index": pl.Int64(),
    "profile_count": pl.Int64(),
    "identity": pl.String(),
    "objectId": pl.String(),
    "email": pl.String(),
    "push_token": pl.String(),
    "profileData": pl.String(),
    "event_properties": pl.String(),
    "profile": pl.String(),
    "payload_extra": pl.String(),
    "is_test": pl.Boolean(),
}
# received_at is ISO text in the JSON lines and a datetime everywhere else.
JSONL_SCHEMA = {**LANDING_SCHEMA, "received_at": pl.String()}


@dataclass(frozen=True)
class LandedRows:
    """The whole deliveries at the start of a JSON-lines file."""

    rows: list[dict[str, Any]]
    complete_bytes: int  # where the last whole delivery ends
    total_bytes: int

    @property
    def torn(self) -> bool:
        """Whether bytes follow the last whole delivery."""
        return self.complete_bytes < self.total_bytes


def read_landed(data: bytes) -> LandedRows:
    """Parse JSON lines, keeping whole deliveries and stopping at a torn tail."""
    rows: list[dict[str, Any]] = []
    complete_rows = complete_bytes = offset = 0
    for line in _lines(data):
        row = _parse_line(line)
        if row is None:
            break
        rows.append(row)
        offset += len(line)
        if _ends_delivery(row):
            complete_rows, complete_bytes = len(rows), offset
    return LandedRows(rows[:complete_rows], complete_bytes, len(data))


def _lines(data: bytes) -> Iterator[bytes]:
    # Split on "\n" only: JSON text never holds a raw newline, but other line
    # breaks that bytes.splitlines knows could appear inside a string.
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end == -1 else end + 1
        yield data[start:end]
        start = end


def _parse_line(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _ends_delivery(row: dict[str, Any]) -> bool:
    index, count = row.get("profile_index"), row.get("profile_count")
    if index is None:  # a delivery with no profiles is a single row
        return True
    return isinstance(index, int) and isinstance(count, int) and index == count - 1


def rows_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Landing rows as a frame with `LANDING_SCHEMA`."""
    frame = pl.DataFrame(rows, schema=JSONL_SCHEMA)
    return frame.with_columns(
        pl.col("received_at").str.to_datetime(time_zone="UTC", time_unit="us")
    )


def landing_jsonl(root: Path) -> list[Path]:
    """The JSON-lines landing files under ``root`` (one landing layout), sorted."""
    return sorted(
        path for path in root.glob("date=*/*.jsonl") if not path.name.startswith(".")
    )


def parquet_twin(jsonl: Path) -> Path:
    """The Parquet file a JSON-lines file is compacted into."""
    return jsonl.with_name(f"{PARQUET_PREFIX}{jsonl.stem}.parquet")


def landing_roots(land: Path) -> list[Path]:
    """The landing layouts inside ``land``: the real one and the test one."""
    return [land, land / TEST_DIR]


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[int | None]:
    """Hold an exclusive lock on ``path`` if nobody else does.

    Yields the open descriptor while the lock is held, or ``None`` when the file is
    missing or another descriptor holds the lock (a server still writing to it).
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def open_lock_file(path: Path, *, wait: bool) -> int | None:
    """Open and lock ``path`` for the caller's lifetime; ``None`` if held elsewhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def fsync_dir(path: Path) -> None:
    """Make a file's creation, rename or removal in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create ``path`` and its parents durably."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(created.parent)
