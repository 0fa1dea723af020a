"""Reading a landing folder as a source: `scan_landing`.

Parquet parts are scanned lazily; JSON-lines files (today's, and any not compacted
yet) are parsed here, tolerating a torn tail, and joined to them. Each row carries
its provenance: ``_source_file`` and ``_source_row``, the 0-based row in that file.
Compaction keeps row order, so row ``n`` of ``X.jsonl`` is row ``n`` of
``part-X.parquet``; the file name changes, the pair ``(payload_id, profile_index)``
does not and is the stable key of a landed profile.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from ctjobs.webhook.config import REMOTE_SCHEMES
from ctjobs.webhook.landing import (
    LANDING_SCHEMA,
    PARQUET_PREFIX,
    landing_jsonl,
    parquet_twin,
    read_landed,
    rows_frame,
)

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
SCAN_SCHEMA: dict[str, pl.DataType] = {
    **LANDING_SCHEMA,
    SOURCE_FILE: pl.String(),
    SOURCE_ROW: pl.Int64(),
}


def scan_landing(path: str | os.PathLike[str]) -> pl.LazyFrame:
    """Read a webhook landing folder (or ``s3://``/``gs://`` URL) as one LazyFrame.

    Columns: those of `LANDING_SCHEMA` plus ``_source_file`` and ``_source_row``.
    Only the real landing is read; CleverTap's test payloads are under ``_test/``,
    which can be scanned on its own. For a URL only the uploaded Parquet is read:
    rows still in the local spool show up once compacted and uploaded.
    """
    if str(path).startswith(REMOTE_SCHEMES):
        return _scan_remote(str(path).rstrip("/"))
    folder = Path(path)
    # JSON lines first: a file compacted after this listing then shows up as its
    # Parquet twin in the next one, and is read once, from the twin.
    jsonl = landing_jsonl(folder)
    parts = _parquet_parts(folder)
    listed = set(parts)
    frames = [_scan_parquet(part) for part in parts]
    frames += [_read_jsonl(p) for p in jsonl if parquet_twin(p) not in listed]
    if not frames:
        return pl.LazyFrame(schema=SCAN_SCHEMA)
    return pl.concat(frames, how="vertical")


def _parquet_parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"date=*/{PARQUET_PREFIX}*.parquet"))


def _with_provenance(frame: pl.LazyFrame, source: str) -> pl.LazyFrame:
    return (
        frame.with_row_index(SOURCE_ROW)
        .with_columns(
            pl.lit(source, dtype=pl.String).alias(SOURCE_FILE),
            pl.col(SOURCE_ROW).cast(pl.Int64),
        )
        .select(list(SCAN_SCHEMA))
    )


def _scan_parquet(part: Path) -> pl.LazyFrame:
    frame = pl.scan_parquet(part, schema=LANDING_SCHEMA)
    return _with_provenance(frame, str(part.absolute()))


def _read_jsonl(jsonl: Path) -> pl.LazyFrame:
    # A file can vanish between listing and reading when a compaction finishes;
    # its rows are then in the Parquet twin.
    twin = parquet_twin(jsonl)
    try:
        data = jsonl.read_bytes()
    except FileNotFoundError:
        return (
            _scan_parquet(twin) if twin.exists() else pl.LazyFrame(schema=SCAN_SCHEMA)
        )
    frame = rows_frame(read_landed(data).rows).lazy()
    return _with_provenance(frame, str(jsonl.absolute()))


def _scan_remote(url: str) -> pl.LazyFrame:
    import fsspec  # only needed for object-store landings

    fs, root = fsspec.core.url_to_fs(url)
    protocol = url.split("://", 1)[0]
    parts = sorted(fs.glob(f"{root}/date=*/{PARQUET_PREFIX}*.parquet"))
    urls = [f"{protocol}://{part}" for part in parts]
    frames = [
        _with_provenance(pl.scan_parquet(url, schema=LANDING_SCHEMA), url)
        for url in urls
    ]
    return pl.concat(frames) if frames else pl.LazyFrame(schema=SCAN_SCHEMA)


def scan_landed_profiles(path: str | os.PathLike[str]) -> pl.LazyFrame:
    """The landing folder as a job source: one row per landed profile.

    Unlike `scan_landing`, each row's address is ``webhook:<payload_id>`` and the
    profile's place in its payload, which compaction into Parquet never changes, so
    the ledger recognises a row it has already sent whichever file holds it now.
    """
    return scan_landing(path).with_columns(
        pl.concat_str(pl.lit("webhook:"), pl.col("payload_id")).alias("_source_file"),
        pl.col("profile_index").cast(pl.Int64).alias("_source_row"),
    )
