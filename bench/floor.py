"""The floor: Polars reading export files and writing JSON lines, no reshaping.

It reads the columns the benchmark job turns into records (``ts``, ``eventName``,
``profile.identity`` and every ``eventProps.*`` but ``eventProps.CT *``) and writes
them, one object per row, file by file as ctjobs reads them. Whatever ctjobs adds on
top (filtering, the join, records, checks, request bodies) is measured against it.

    python -m bench.floor OUT_DIR FILE...
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

RECORD_SOURCES = ("ts", "eventName", "profile.identity")


def record_columns(names: list[str]) -> list[str]:
    """The source columns the benchmark job reads into records, in file order."""
    return [
        name
        for name in names
        if name in RECORD_SOURCES
        or (name.startswith("eventProps.") and not name.startswith("eventProps.CT "))
    ]


def scan(path: Path) -> pl.LazyFrame:
    """A lazy scan of one export file; CSV cells stay text, as ctjobs reads them."""
    if path.name.endswith(".parquet"):
        return pl.scan_parquet(path)
    return pl.scan_csv(path, infer_schema=False)


def copy_as_json_lines(path: Path, out: Path) -> None:
    """Stream the record columns of `path` into the JSON-lines file `out`."""
    frame = scan(path)
    frame.select(record_columns(frame.collect_schema().names())).sink_ndjson(out)


def main(argv: list[str]) -> None:
    """Copy every file given into OUT_DIR and print the time taken as JSON."""
    out_dir, files = Path(argv[0]), [Path(a) for a in argv[1:]]
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, path in enumerate(files):
        copy_as_json_lines(path, out_dir / f"{number:05d}.jsonl")
    seconds = time.perf_counter() - started
    written = sum(p.stat().st_size for p in out_dir.iterdir())
    print(json.dumps({"files": len(files), "seconds": seconds, "bytes": written}))


if __name__ == "__main__":
    main(sys.argv[1:])
