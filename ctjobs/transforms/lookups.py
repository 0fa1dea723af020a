"""Reading lookup tables for enrichment: CSV or Parquet, keys kept as text."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from ctjobs.errors import SourceError, UsageError
from ctjobs.readers.storage import read_bytes


def resolve_lookup(path: str, base_dir: Path = Path(".")) -> str:
    """Where a lookup file is: relative paths are taken from the job file's folder.

    A local file that exists in neither the job's folder nor the working folder is a
    mistake in the job file, reported before any source is read.
    """
    if "://" in path or Path(path).is_absolute():
        return path
    beside_job = base_dir / path
    if beside_job.exists():
        return str(beside_job)
    if Path(path).exists():
        return path
    message = (
        f"lookup file {beside_job} not found (lookup paths are relative to the job "
        "file's folder); fix `path` in the lookup step"
    )
    raise UsageError(message)


def read_lookup(path: str, base_dir: Path = Path(".")) -> pl.DataFrame:
    """A lookup table; CSV columns stay text so keys like ``007421`` keep their zeros.

    Example:
        >>> tiers = read_lookup("data/samples/lookups/tiers.csv")
    """
    location = resolve_lookup(path, base_dir)
    try:
        data = read_bytes(location)
    except (OSError, SourceError) as error:
        raise SourceError(f"lookup {location}: cannot be read ({error})") from error
    name = location.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    if name.endswith(".parquet"):
        return pl.read_parquet(io.BytesIO(data))
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return pl.read_ndjson(io.BytesIO(data))
    raise UsageError(f"lookup {location}: use a .csv, .parquet or .jsonl file")
