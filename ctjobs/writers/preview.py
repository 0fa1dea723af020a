"""What a job would send, for a person to look at before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ctjobs.records.encode import RECORD_JSON, encode_records
from ctjobs.writers.batches import DEFAULT_MAX_BYTES, MAX_RECORDS, cut_batches


def preview(
    records: pl.LazyFrame | pl.DataFrame,
    *,
    bodies: int = 1,
    max_records: int = MAX_RECORDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limit: int | None = 5,
) -> list[dict[str, Any]]:
    """The first request bodies for `records`, as Python objects.

    `limit` shortens each body's ``d`` list for display (None shows it whole).

    Example:
        >>> ct.preview(ct.build_events(lf, identity="profile.identity"), limit=2)
    """
    frame = records.lazy()
    if RECORD_JSON not in frame.collect_schema():
        frame = encode_records(frame)
    head = frame.head(bodies * max_records).collect()
    shown = []
    kind = str(head["type"][0]) if head.height and "type" in head else "record"
    for number, batch in enumerate(
        cut_batches(head, kind, max_records=max_records, max_bytes=max_bytes)
    ):
        if number >= bodies:
            break
        body = json.loads(batch.body())
        if limit is not None:
            body["d"] = body["d"][:limit]
        shown.append(body)
    return shown
