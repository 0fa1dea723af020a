"""The dry-run writer: the exact request bodies a job would send, as files.

Nothing is sent. Each body lands as ``<out>/<kind>s/body-000001.json``, byte for
byte what the Upload API writer would POST, so a person or a test can read exactly
what would go out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from ctjobs.writers.base import WriteContext, WriteResult
from ctjobs.writers.batches import DEFAULT_MAX_BYTES, MAX_RECORDS, cut_batches

log = logging.getLogger(__name__)


class DryRunWriter:
    """Writes request bodies under a folder instead of sending them."""

    def __init__(
        self,
        out: str | Path,
        *,
        max_records: int = MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.out = Path(out)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._counters: dict[str, int] = {}

    def write(
        self, kind: str, encoded: pl.DataFrame, context: WriteContext
    ) -> WriteResult:
        """Write the bodies for `encoded`; every record counts as written, none as sent."""
        folder = self.out / f"{kind}s"
        if not self._counters:
            # Bodies from an earlier dry run into the same folder, of any kind,
            # would read as this run's: it holds exactly what this run would send.
            for kinds in ("events", "profiles"):
                for stale in (self.out / kinds).glob("body-*.json"):
                    stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        self._counters.setdefault(kind, 0)
        result = WriteResult()
        for batch in cut_batches(
            encoded, kind, max_records=self.max_records, max_bytes=self.max_bytes
        ):
            number = self._counters.get(kind, 0) + 1
            self._counters[kind] = number
            path = folder / f"body-{number:06d}.json"
            path.write_bytes(batch.body())
            result.batches += 1
            result.outputs.append(str(path))
            result.files.append({"path": str(path), "records": batch.size})
        log.info("wrote %d %s body file(s) under %s", result.batches, kind, folder)
        return result

    def close(self) -> None:
        """Nothing to release."""
