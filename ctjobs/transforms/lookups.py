"""Reading lookup tables for enrichment: CSV or Parquet, keys kept as text."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from ctjobs.errors import SourceError
from ctjobs.readers.storage import read_bytes


def read_lookup(path: str, base_dir: Path = Path(".")) -> pl.DataFrame:
    """A lookup table; CSV columns stay text so keys like ``007421`` keep their zeros.

    Example:
        >>> tiers = read_lookup("data/samples/lookups/tiers.csv")
    """
    location = path
    if "://" not in path and not Path(path).is_absolute():
        candidate = base_dir / path
        location = str(candidate) if candidate.exists() else path
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
    raise SourceError(f"lookup {location}: use a .csv, .parquet or .jsonl file")
