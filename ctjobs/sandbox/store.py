"""The records the sandbox accepted, in arrival order, optionally kept in a file."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from ctjobs.sandbox import codec

logger = logging.getLogger(__name__)


class RecordStore:
    """Accepted records in memory, appended to a JSONL file when one is given.

    With `freeze` (for a process that runs nothing but the sandbox) every stored
    batch is moved out of the garbage collector's sight with `gc.freeze()`:
    records live until a reset anyway, and without it the collector's full
    passes grow with the store until they pause uploads for hundreds of ms.
    """

    def __init__(self, path: str | Path | None = None, *, freeze: bool = False) -> None:
        self._path = Path(path) if path is not None else None
        self._freeze = freeze
        self._records: list[Any] = []
        if self._path is not None and self._path.exists():
            self._records = _read_lines(self._path)
            logger.info("loaded %d records from %s", len(self._records), self._path)

    def __len__(self) -> int:
        return len(self._records)

    def extend(self, records: list[Any]) -> None:
        """Keep a batch of accepted records after those already stored."""
        self._records.extend(records)
        if self._path is not None and records:
            with self._path.open("a", encoding="utf-8") as file:
                file.write(_to_lines(records))
        if self._freeze:
            gc.freeze()

    def json_lines(self) -> str:
        """Every stored record as one line of JSON each, in arrival order."""
        return _to_lines(self._records)

    def clear(self) -> None:
        """Forget every record, in memory and in the file."""
        self._records = []
        if self._path is not None:
            self._path.write_text("", encoding="utf-8")
        if self._freeze:
            gc.unfreeze()


def _to_lines(records: list[Any]) -> str:
    return "".join(codec.dumps(record) + "\n" for record in records)


def _read_lines(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as file:
        return [codec.loads(line.encode()) for line in file if line.strip()]
