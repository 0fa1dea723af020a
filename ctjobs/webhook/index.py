"""The payload index: which payload ids have landed, kept across restarts.

CleverTap retries a POST it thinks failed, so the same body can arrive twice. The
index is a small SQLite file in ``<land>/_state/``; the landing files stay the truth,
and the server re-adds the ids found in them at start, which covers a crash between
fsync'ing a landing file and committing the index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

INDEX_FILE = "payload_index.sqlite"


class PayloadIndex:
    """A set of landed payload ids stored in SQLite."""

    def __init__(self, state_dir: Path, *, durable: bool = False) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        # One connection used from worker threads, always under the caller's lock.
        self._db = sqlite3.connect(
            state_dir / INDEX_FILE, timeout=30, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # The server can afford NORMAL (its landing files back the index up);
        # compaction asks for FULL because it then deletes those files.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS payloads (payload_id TEXT PRIMARY KEY)"
        )
        self._db.commit()

    def contains(self, payload_id: str) -> bool:
        """Whether ``payload_id`` has landed."""
        row = self._db.execute(
            "SELECT 1 FROM payloads WHERE payload_id = ?", (payload_id,)
        ).fetchone()
        return row is not None

    def add(self, payload_ids: Iterable[str]) -> None:
        """Record ``payload_ids`` as landed and commit."""
        self._db.executemany(
            "INSERT OR IGNORE INTO payloads (payload_id) VALUES (?)",
            ((payload_id,) for payload_id in payload_ids),
        )
        self._db.commit()

    def close(self) -> None:
        """Close the database."""
        self._db.close()
