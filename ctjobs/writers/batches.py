"""Cutting encoded records into request bodies CleverTap accepts.

A body is ``{"d":[...]}`` with at most `max_records` records (CleverTap's limit is
1000) and at most `max_bytes` bytes. Batches are cut in record order, so the same
input gives the same batches, and each batch's id is derived from its records' keys:
a re-run of the same input finds the same ids in the ledger.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from ctjobs.errors import UsageError
from ctjobs.records.encode import RECORD_JSON
from ctjobs.records.frame import RECORD_KEY, SOURCE_FILE, SOURCE_ROW

MAX_RECORDS = 1000
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
_ENVELOPE = len('{"d":[]}')


@dataclass(frozen=True)
class Batch:
    """One request body and the records in it, in order."""

    batch_id: str
    kind: str
    records: pl.DataFrame

    @property
    def size(self) -> int:
        """How many records the batch holds."""
        return self.records.height

    def body(self) -> bytes:
        """The exact request body: ``{"d":[record,...]}`` as UTF-8."""
        texts = self.records[RECORD_JSON].to_list()
        return ('{"d":[' + ",".join(texts) + "]}").encode()

    def sources(self) -> str:
        """Where the batch's records came from, for messages: file and row range."""
        first = self.records.row(0, named=True)
        last = self.records.row(-1, named=True)
        return (
            f"{first[SOURCE_FILE]} row {first[SOURCE_ROW]} to "
            f"{last[SOURCE_FILE]} row {last[SOURCE_ROW]}"
        )


def batch_id(keys: pl.Series) -> str:
    """A short id for a batch, stable for the same record keys in the same order."""
    # Each key followed by a NUL, joined by Polars, hashed in one call.
    joined = keys.cast(pl.String).fill_null("None").str.join("\0").item()
    return hashlib.blake2b(f"{joined}\0".encode(), digest_size=10).hexdigest()


def batch_bounds(sizes: np.ndarray, max_records: int, max_bytes: int) -> list[int]:
    """Start offsets of each batch, given each record's encoded size in bytes.

    Greedy: each batch takes as many records as both limits allow. The cumulative
    sums make each cut one binary search, so this is quick for millions of records.
    """
    if max_records < 1 or max_records > MAX_RECORDS:
        message = f"max_records must be between 1 and {MAX_RECORDS}, got {max_records}"
        raise UsageError(message)
    # Each record costs its bytes plus a separating comma.
    cost = np.cumsum(sizes.astype(np.int64) + 1)
    bounds = [0]
    total = len(sizes)
    while bounds[-1] < total:
        start = bounds[-1]
        spent = cost[start - 1] if start else 0
        budget = spent + max_bytes - _ENVELOPE + 1
        by_bytes = int(np.searchsorted(cost, budget, side="right"))
        end = min(start + max_records, by_bytes, total)
        if end == start:
            message = (
                f"record {start} is {int(sizes[start])} bytes, more than the "
                f"{max_bytes}-byte body limit; raise max_bytes or drop large values"
            )
            raise UsageError(message)
        bounds.append(end)
    return bounds


def cut_batches(
    encoded: pl.DataFrame,
    kind: str,
    *,
    max_records: int = MAX_RECORDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[Batch]:
    """Yield the batches of an encoded record frame (with ``_json``) in order."""
    if encoded.height == 0:
        return
    sizes = encoded[RECORD_JSON].str.len_bytes().to_numpy()
    bounds = batch_bounds(sizes, max_records, max_bytes)
    for start, end in itertools.pairwise(bounds):
        chunk = encoded.slice(start, end - start)
        yield Batch(batch_id(chunk[RECORD_KEY]), kind, chunk)
